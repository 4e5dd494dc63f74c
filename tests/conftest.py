"""Test setup: the brokerkit conformance plugin, and ``broker_url`` over every variant.

The variants come from the backend specs (``BackendSpec.test_variants``), nothing is listed
here: ``memory``, ``redis`` and ``redis-pubsub`` from the built-in specs, plus, registered
below, ``memoryportal`` (the memory backend with its sync API run through the portal: how
the portal is tested) and ``memoryoffsets`` (the memory backend behind cumulative acks,
``tests/offsets_memory.py``: how the core's commit watermark is tested). Each URL can be
overridden with ``BROKERKIT_TEST_<NAME>_URL`` (e.g. ``BROKERKIT_TEST_REDIS_PUBSUB_URL``); each
variant carries its backend's marker (the spec's ``name``), so ``pytest -m redis`` runs the Redis
ones. A spec's ``test_setup`` (start a broker, give its URL) is entered once per session
when a variant of it is first used, its ``test_cleanup(url, SESSION_PREFIX)`` runs at
session end. Unusable backends skip with the reason, and fail the run under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import brokerkit
from brokerkit import _registry
from brokerkit._spec import BackendSpec, resolve_object
from brokerkit.backends.memory import spec as memory_spec
from brokerkit.testing import SESSION_PREFIX
from brokerkit.testing._support import unreachable

pytest_plugins = ["brokerkit.testing.plugin"]

brokerkit.register_backend(
    "memoryportal",
    dataclasses.replace(
        memory_spec,
        schemes=("memoryportal",),
        sync_driver=None,
        test_variants={"memoryportal": "memoryportal://bk-{unique}"},
    ),
    replace=True,
)
# The memory broker behind Kafka-like cumulative acks: the core's commit watermark path.
brokerkit.register_backend("memoryoffsets", "offsets_memory:spec", replace=True)


def variants() -> dict[str, tuple[str, BackendSpec]]:
    """variant -> (default URL, spec), from every spec brokerkit can load."""
    out: dict[str, tuple[str, BackendSpec]] = {}
    for spec in _registry.all_specs():
        for name, url in spec.test_variants.items():
            out.setdefault(name, (url, spec))
    return out


VARIANTS = variants()


def variant_env(name: str) -> str:
    return "BROKERKIT_TEST_" + name.upper().replace("-", "_").replace(".", "_") + "_URL"


def variant_url(name: str) -> str:
    default, _ = VARIANTS[name]
    return os.environ.get(variant_env(name)) or default


def pytest_configure(config: pytest.Config) -> None:
    for name in sorted({spec.name for _, spec in VARIANTS.values()}):
        config.addinivalue_line("markers", f"{name}: tests against the {name} backend")


class _Session:
    """What the session set up per spec (test_setup) and which URLs it used."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.started: dict[str, str | None] = {}
        self.used: dict[str, tuple[BackendSpec, set[str]]] = {}

    def url(self, name: str) -> str:
        _, spec = VARIANTS[name]
        url = variant_url(name)
        if spec.test_setup is not None and not os.environ.get(variant_env(name)):
            if name not in self.started:
                setup = resolve_object(spec.test_setup)
                self.started[name] = self.stack.enter_context(setup(name))
            url = self.started[name] or url
        self.used.setdefault(spec.name, (spec, set()))[1].add(url)
        return url

    def close(self) -> None:
        try:
            for spec, urls in self.used.values():
                if spec.test_cleanup is None:
                    continue
                cleanup: Any = resolve_object(spec.test_cleanup)
                for url in sorted(urls):
                    try:
                        cleanup(url, SESSION_PREFIX)
                    except Exception as exc:
                        warnings.warn(
                            f"cleanup of the {spec.name} test session at {url}: {exc}",
                            stacklevel=1,
                        )
        finally:
            self.stack.close()


@pytest.fixture(scope="session")
def _variant_session() -> Iterator[_Session]:
    session = _Session()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(
    params=[
        pytest.param(name, marks=getattr(pytest.mark, spec.name))
        for name, (_, spec) in VARIANTS.items()
    ],
    ids=list(VARIANTS),
)
def broker_url(request: pytest.FixtureRequest, _variant_session: _Session) -> str:
    return _usable_url(request.param, _variant_session)


def _usable_url(name: str, session: _Session) -> str:
    """The URL of variant ``name`` (``{unique}`` filled in per test), or skip/fail."""
    _, spec = VARIANTS[name]
    scheme = spec.schemes[0]
    try:
        _registry.get_backend(scheme)
    except brokerkit.ConfigurationError as exc:
        unreachable(variant_url(name), f"the {spec.name!r} backend is not usable: {exc}")
    url = session.url(name)
    # {unique}: a name of its own per test (memory://bk-{unique}: a fresh broker)
    return url.replace("{unique}", uuid.uuid4().hex[:12])


# -- processor tests: the variants a Processor runs on (consumer groups, at-least-once) --------

#: Variants that only differ from another one in how the *sync* API is driven: a Processor
#: runs on the async API, so they would repeat the same runs.
SYNC_ONLY_VARIANTS = {"memoryportal"}


def _processor_variants() -> list[str]:
    out = []
    for name, (_, spec) in VARIANTS.items():
        if name in SYNC_ONLY_VARIANTS:
            continue
        url = brokerkit.make_url(variant_url(name).replace("{unique}", "probe"))
        try:
            caps = spec.capabilities(url, url.query_dict)
        except Exception:
            out.append(name)  # kept: the fixture reports it as unusable
            continue
        if caps.at_least_once and caps.consumer_groups:
            out.append(name)
    return out


PROCESSOR_VARIANTS = _processor_variants()


@pytest.fixture(
    params=[
        pytest.param(n, marks=getattr(pytest.mark, VARIANTS[n][1].name)) for n in PROCESSOR_VARIANTS
    ],
    ids=PROCESSOR_VARIANTS,
)
def processor_url(request: pytest.FixtureRequest, _variant_session: _Session) -> str:
    """A broker URL a Processor can run on: every variant with consumer groups and
    at-least-once (new backends join through their spec's test_variants)."""
    url = _usable_url(request.param, _variant_session)
    try:
        brokerkit.connect(url, connect_timeout=5).close()
    except brokerkit.BrokerConnectionError as exc:
        unreachable(url, exc)
    return url
