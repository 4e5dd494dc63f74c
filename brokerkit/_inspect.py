"""What ``brokerkit inspect`` and ``brokerkit ping`` learn beyond the public API: a topic's
retained messages and its groups (pending, lag), and the server's version.

brokerkit's Broker does not expose these (they are administration, not messaging), so a
backend may ship an *inspector*: a module named by its spec (``BackendSpec.inspector``, a
dotted module path), with two functions, read-only, that talk to the broker through its
own client library::

    def inspect_topic(
        url: BrokerURL, options: Mapping[str, Any], topic: str, groups: Sequence[str] = ()
    ) -> TopicInfo
    def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]

``options`` are the connection's resolved options (``connect_timeout`` bounds every call).
``groups`` are the groups the user named (``brokerkit inspect --group G``): a broker that
cannot list a topic's groups (AMQP without the management plugin) looks these up; one that
can may ignore it (the command keeps only the named groups). Errors are brokerkit errors
naming host:port, never a password. A backend without an inspector still works with every
command; ``inspect`` then shows what the public API tells (the capabilities) and says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any, TypeVar

from ._portal import Portal
from ._url import BrokerURL

__all__ = ["GroupInfo", "PartitionInfo", "TopicInfo", "get_inspector", "run_coroutine"]

T = TypeVar("T")


@dataclass(frozen=True)
class GroupInfo:
    """One group of a topic, as far as the broker tells (None: not told)."""

    name: str
    consumers: int | None = None
    """Members the broker knows of (it may count members that left but were not removed)."""
    pending: int | None = None
    """Delivered to a member and not acknowledged yet."""
    lag: int | None = None
    """Retained messages not delivered to the group yet."""
    last_delivered: str | None = None
    """The id of the last message delivered to the group."""
    redelivered: int | None = None
    """Messages delivered more than once and not acknowledged yet (JetStream tells)."""
    committed: dict[int, int] | None = None
    """Partition -> committed offset (the next message the group reads), on Kafka."""


@dataclass(frozen=True)
class PartitionInfo:
    """One partition of a topic (Kafka): its low and high watermarks."""

    partition: int
    low: int
    """The oldest offset still retained."""
    high: int
    """The offset the next message gets (high - low: retained messages)."""


@dataclass(frozen=True)
class TopicInfo:
    """A topic (stream, channel, ...) and its groups."""

    topic: str
    exists: bool
    messages: int | None = None
    """Messages the broker retains for the topic (None: it keeps none or does not tell)."""
    first_id: str | None = None
    last_id: str | None = None
    bytes: int | None = None
    """Bytes the broker retains for the topic (None: not told)."""
    partitions: tuple[PartitionInfo, ...] = ()
    groups: tuple[GroupInfo, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """What the reader should know about these figures (e.g. "Pub/Sub keeps no messages")."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def get_inspector(url: BrokerURL) -> ModuleType | None:
    """The inspector module of ``url``'s backend (its spec's ``inspector``), or None when
    the backend has none."""
    from ._registry import get_backend

    module = get_backend(url.scheme).inspector
    return importlib.import_module(module) if module is not None else None


def run_coroutine(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """Run ``fn(*args)`` for an inspector over an asyncio client, on the background loop
    the sync API already uses (the commands are sync): the same portal, not a loop of its
    own."""
    portal = Portal()
    try:
        return portal.call(fn, *args)
    finally:
        portal.release()
