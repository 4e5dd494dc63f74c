"""BackendSpec, the unit of backend registration, and the per-producer/consumer configs.

A backend is a :class:`BackendSpec`: its schemes, its option schema, a function giving its
:class:`Capabilities` for a URL, and factories for its async driver (required) and sync
driver (optional). Factories may be given as lazy ``"module:attr"`` strings so that
``import brokerkit`` never imports a client library.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._options import EMPTY_SCHEMA, OptionSchema
from ._types import Capabilities, Commit, Guarantee

if TYPE_CHECKING:
    from ._url import BrokerURL

__all__ = ["BackendSpec", "ConsumerConfig", "ProducerConfig", "resolve_object"]

CapabilitiesFn = Callable[["BrokerURL", Mapping[str, Any]], Capabilities]


def resolve_object(ref: Any) -> Any:
    """Return ``ref``, importing it first when it is a ``"package.module:attr"`` string."""
    if isinstance(ref, str):
        module_name, _, attr = ref.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj
    return ref


@dataclass(frozen=True)
class BackendSpec:
    """Everything brokerkit needs to know about one backend.

    ``async_driver`` / ``sync_driver`` are callables ``(url, options, capabilities) -> driver``
    (or ``"module:attr"`` strings naming one). The driver is then opened with
    ``await driver.connect()`` / ``driver.connect()``. ``sync_driver=None`` means the sync API
    runs the async driver through the background-loop portal.
    """

    name: str
    schemes: tuple[str, ...]
    capabilities: CapabilitiesFn
    async_driver: Any
    sync_driver: Any = None
    options: OptionSchema = EMPTY_SCHEMA
    producer_options: OptionSchema = EMPTY_SCHEMA
    consumer_options: OptionSchema = EMPTY_SCHEMA
    extra: str | None = None
    """What installs the backend's client library, for the hint of a missing one: a bare
    name is a brokerkit extra (``"redis"`` -> ``pip install 'pybrokerkit[redis]'``); anything
    else is a requirement as is (``"brokerkit-sqs[boto]"``, for a third-party backend)."""
    requires: tuple[str, ...] = ()
    default_port: int | None = None
    description: str = ""
    test_variants: Mapping[str, str] = field(default_factory=dict)
    """Conformance-suite variants: name -> default URL (e.g. ``{"redis": "redis://127.0.0.1:6379/0",
    "redis-pubsub": "redis://127.0.0.1:6379/0?mode=pubsub"}``). Each URL can be overridden with
    ``BROKERKIT_TEST_<NAME>_URL``; the variant's pytest marker is the spec's ``name``.
    ``{unique}`` in a URL becomes a fresh name per test (``memory://bk-{unique}``: a fresh
    in-process broker each time)."""
    test_cleanup: Any = None
    """Optional ``(url: str, prefix: str) -> None`` (or ``"module:attr"``): delete what a test
    session created on the broker (every topic/stream/queue whose name contains ``prefix``)."""
    test_setup: Any = None
    """Optional pytest fixture-like context manager ``(variant: str) -> ContextManager[str | None]``
    (or ``"module:attr"``): start a broker the tests need (e.g. a Kafka-protocol broker) and
    yield its URL, or None to keep the variant's URL; entered once per session."""
    bench_baseline: Any = None
    """Optional ``"module:attr"`` of the raw-client benchmark baseline for this backend."""
    inspector: str | None = None
    """Optional dotted module path of the backend's inspector (``brokerkit inspect`` and the
    server version of ``brokerkit ping``): a module with ``inspect_topic(url, options,
    topic) -> TopicInfo`` and ``server_info(url, options) -> dict[str, str]``, read-only
    (see brokerkit/_inspect.py). None: the commands show the capabilities only."""


@dataclass(frozen=True)
class ProducerConfig:
    """What a producer driver is opened with."""

    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE
    options: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific producer options, already validated by ``spec.producer_options``."""
    delivery_timeout: float = 30.0
    """Seconds the core gives publish() and wait() for one batch (passed as ``timeout``)."""
    max_message_bytes: int | None = None
    """The largest value the application may send (None: the driver's own limit, which it
    may expose as a ``max_message_bytes`` attribute of the producer driver)."""


@dataclass(frozen=True)
class ConsumerConfig:
    """What a consumer driver is opened with."""

    guarantee: Guarantee = Guarantee.AT_LEAST_ONCE
    commit: Commit = Commit.ASYNC
    prefetch: int = 256
    options: Mapping[str, Any] = field(default_factory=dict)
    """Backend-specific consumer options, already validated by ``spec.consumer_options``."""
    max_deliveries: int | None = None
    """Deliveries after which a message goes to ``dead_letter_topic`` instead of coming
    again. A backend with ``Capabilities.native_dead_letter`` enforces it in the broker
    (and must record the brokerkit-* dead-letter headers); otherwise the core does."""
    dead_letter_topic: str | None = None
    ack_deadline: float | None = None
    """Seconds a delivered, unacked message stays with this consumer before the broker may
    deliver it again (visibility timeout, ack wait); None: the backend's default/option."""
    offsets: Any = None
    """On a ``cumulative_ack`` backend, the core's ``_policy.acks.OffsetTracker`` for this
    consumer (None with at-most-once). Drivers call ``revoked`` rather than use it."""
    revoked: Callable[[Collection[Hashable]], Mapping[Hashable, int]] | None = None
    """On a ``cumulative_ack`` backend: call ``revoked(partitions)`` when the broker takes
    partitions from this member (a rebalance callback, before giving them up; from any
    thread). The core forgets them in its commit watermark, ignores later acks of their
    messages, and drops their messages it fetched but did not hand out yet (they come
    again to the next owner); it returns, per partition where something was acked, the
    position to commit (the first offset not acked), which the driver commits
    synchronously before it gives the partitions up (or not at all, when they were
    lost). None when the core does not track offsets (a driver opened by a test)."""
