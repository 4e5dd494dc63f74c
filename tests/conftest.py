"""Test setup: the brokerkit conformance plugin, and ``broker_url`` over every variant.

Variants: ``memory`` (native sync driver), ``memoryportal`` (the memory backend with its
sync API run through the portal: how the portal is tested), ``redis`` (Streams) and
``redis-pubsub``. Each URL can be overridden with ``BROKERKIT_TEST_<NAME>_URL`` (e.g.
``BROKERKIT_TEST_REDIS_PUBSUB_URL``); each variant carries its backend's marker, so
``pytest -m redis`` runs the Redis ones. Unusable backends skip with the reason, and fail
the run under ``CI=true``.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator

import pytest

import brokerkit
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
}


def variant_url(name: str) -> str:
    default, _, _ = VARIANTS[name]
    env = "BROKERKIT_TEST_" + name.upper().replace("-", "_") + "_URL"
    return os.environ.get(env) or default


@pytest.fixture(
    params=[
        pytest.param(name, marks=getattr(pytest.mark, mark))
        for name, (_, _, mark) in VARIANTS.items()
    ],
    ids=list(VARIANTS),
)
def broker_url(request: pytest.FixtureRequest) -> str:
    return _usable_url(request.param)


def _usable_url(name: str) -> str:
    """The URL of variant ``name`` (a fresh memory broker per test), or skip/fail."""
    _, scheme, _ = VARIANTS[name]
    if scheme not in brokerkit.available():
        unreachable(variant_url(name), f"the {scheme!r} backend is not available in this build")
    url = variant_url(name)
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


# -- processor tests: the variants a Processor runs on (consumer groups, at-least-once) --------

#: Variants that only differ from another one in how the *sync* API is driven: a Processor
#: runs on the async API, so they would repeat the same runs.
SYNC_ONLY_VARIANTS = {"memoryportal"}


def _processor_variants() -> list[str]:
    from brokerkit._registry import get_backend

    out = []
    for name, (_, scheme, _) in VARIANTS.items():
        if name in SYNC_ONLY_VARIANTS:
            continue
        if scheme not in brokerkit.available():
            out.append(name)  # kept: the fixture reports it as unusable
            continue
        url = brokerkit.make_url(variant_url(name))
        caps = get_backend(scheme).capabilities(url, url.query_dict)
        if caps.at_least_once and caps.consumer_groups:
            out.append(name)
    return out


PROCESSOR_VARIANTS = _processor_variants()


@pytest.fixture(
    params=[
        pytest.param(n, marks=getattr(pytest.mark, VARIANTS[n][2])) for n in PROCESSOR_VARIANTS
    ],
    ids=PROCESSOR_VARIANTS,
)
def processor_url(request: pytest.FixtureRequest) -> str:
    """A broker URL a Processor can run on: every variant with consumer groups and
    at-least-once (new backends join by adding their variant to VARIANTS)."""
    url = _usable_url(request.param)
    try:
        brokerkit.connect(url, connect_timeout=5).close()
    except brokerkit.BrokerConnectionError as exc:
        unreachable(url, exc)
    return url
