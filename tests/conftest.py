"""Test setup: the brokerkit conformance plugin, and ``broker_url`` over every variant.

Variants: ``memory`` (native sync driver), ``memoryportal`` (the memory backend with its
sync API run through the portal: how the portal is tested), ``redis`` (Streams) and
``redis-pubsub``. Each URL can be overridden with ``BROKERKIT_TEST_<NAME>_URL`` (e.g.
``BROKERKIT_TEST_REDIS_PUBSUB_URL``); each variant carries its backend's marker, so
``pytest -m redis`` runs the Redis ones. Unusable backends skip with the reason, and fail
the run under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator

import pytest

import brokerkit
from brokerkit._registry import get_backend
from brokerkit._spec import resolve_object
from brokerkit.backends.memory import spec as memory_spec
from brokerkit.testing import SESSION_PREFIX
from brokerkit.testing._support import unreachable

pytest_plugins = ["brokerkit.testing.plugin"]

brokerkit.register_backend(
    "memoryportal",
    dataclasses.replace(
        memory_spec, name="memoryportal", schemes=("memoryportal",), sync_driver=None
    ),
    replace=True,
)

#: variant -> (default URL, backend scheme that must be available, marker)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "memory": ("memory://", "memory", "memory"),
    "memoryportal": ("memoryportal://", "memoryportal", "memory"),
    "redis": ("redis://127.0.0.1:6379/0", "redis", "redis"),
    "redis-pubsub": ("redis://127.0.0.1:6379/0?mode=pubsub", "redis", "redis"),
    "nats": ("nats://127.0.0.1:4222?ack_wait=5", "nats", "nats"),
    "nats-core": ("nats://127.0.0.1:4222?jetstream=false", "nats", "nats"),
    "memphis": ("memphis://127.0.0.1:4222", "memphis", "nats"),
}


def variant_url(name: str) -> str:
    default, _, _ = VARIANTS[name]
    env = "BROKERKIT_TEST_" + name.upper().replace("-", "_") + "_URL"
    return os.environ.get(env) or default


#: variant -> the URL its spec's ``test_setup`` yielded (None: keep the variant's URL).
_SETUP_URLS: dict[str, str | None] = {}
_SETUPS = contextlib.ExitStack()


def _set_up(name: str, scheme: str) -> str | None:
    """Enter the variant's ``spec.test_setup`` once per session (a broker it starts)."""
    if name not in _SETUP_URLS:
        _SETUP_URLS[name] = None
        spec = get_backend(scheme)
        if spec.test_setup is not None:
            _SETUP_URLS[name] = _SETUPS.enter_context(resolve_object(spec.test_setup)(name))
    return _SETUP_URLS[name]


@pytest.fixture(scope="session", autouse=True)
def _stop_setups() -> Iterator[None]:
    yield
    _SETUPS.close()


@pytest.fixture(
    params=[
        pytest.param(name, marks=getattr(pytest.mark, mark))
        for name, (_, _, mark) in VARIANTS.items()
    ],
    ids=list(VARIANTS),
)
def broker_url(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    _, scheme, _ = VARIANTS[name]
    if scheme not in brokerkit.available():
        unreachable(variant_url(name), f"the {scheme!r} backend is not available in this build")
    url = _set_up(name, scheme) or variant_url(name)
    if scheme in ("memory", "memoryportal") and url.rstrip("/").endswith(":/"):
        # no broker name given: a fresh one per test
        url = f"{scheme}://bk-{uuid.uuid4().hex[:12]}"
    return url


@pytest.fixture(scope="session", autouse=True)
def _cleanup_redis_keys() -> Iterator[None]:
    """At session end, delete the Redis keys this session created (SESSION_PREFIX)."""
    yield
    if "redis" not in brokerkit.available():
        return
    try:
        import redis
    except ImportError:
        return
    urls = {variant_url(n) for n, (_, scheme, _) in VARIANTS.items() if scheme == "redis"}
    for url in urls:
        parsed = brokerkit.make_url(url)
        try:
            client = redis.Redis(
                host=parsed.host or "127.0.0.1",
                port=parsed.port or 6379,
                db=int((parsed.path or "0").strip("/") or 0),
                password=parsed.password,
                socket_connect_timeout=2,
            )
            with client:
                keys = list(client.scan_iter(match=f"*{SESSION_PREFIX}*", count=1000))
                for i in range(0, len(keys), 500):
                    client.delete(*keys[i : i + 500])
        except redis.RedisError:
            continue


@pytest.fixture(scope="session", autouse=True)
def _cleanup_by_spec() -> Iterator[None]:
    """At session end, run each variant's ``spec.test_cleanup`` with SESSION_PREFIX."""
    yield
    for name, (_, scheme, _) in VARIANTS.items():
        if scheme not in brokerkit.available():
            continue
        spec = get_backend(scheme)
        if spec.test_cleanup is None:
            continue
        cleanup = resolve_object(spec.test_cleanup)
        try:
            cleanup(variant_url(name), SESSION_PREFIX)
        except Exception:  # never fail a run over cleanup
            continue
