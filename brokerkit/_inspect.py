"""What ``brokerkit inspect`` and ``brokerkit ping`` learn beyond the public API: a topic's
retained messages and its groups (pending, lag), and the server's version.

brokerkit's Broker does not expose these (they are administration, not messaging), so a
backend may ship an *inspector*: a module with two functions, read-only, that talk to the
broker through its own client library::

    def inspect_topic(url: BrokerURL, options: Mapping[str, Any], topic: str) -> TopicInfo
    def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]

``options`` are the connection's resolved options (``connect_timeout`` bounds every call).
A scheme without an inspector still works with every command; ``inspect`` then shows what
the public API tells (the capabilities) and says so.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from ._url import BrokerURL

__all__ = [
    "INSPECTORS",
    "GroupInfo",
    "TopicInfo",
    "get_inspector",
    "register_inspector",
]


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


@dataclass(frozen=True)
class TopicInfo:
    """A topic (stream, channel, ...) and its groups."""

    topic: str
    exists: bool
    messages: int | None = None
    """Messages the broker retains for the topic (None: it keeps none or does not tell)."""
    first_id: str | None = None
    last_id: str | None = None
    groups: tuple[GroupInfo, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """What the reader should know about these figures (e.g. "Pub/Sub keeps no messages")."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: URL scheme -> module of its inspector (``inspect_topic`` and ``server_info``).
INSPECTORS: dict[str, str] = {
    "memory": "brokerkit.backends.memory._inspect",
    "redis": "brokerkit.backends.redis._inspect",
    "rediss": "brokerkit.backends.redis._inspect",
}


def register_inspector(scheme: str, module: str) -> None:
    """Use the inspector in ``module`` (a dotted import path) for URLs of ``scheme``."""
    INSPECTORS[scheme.lower()] = module


def get_inspector(url: BrokerURL) -> ModuleType | None:
    """The inspector module of ``url``'s scheme, or None when the backend has none."""
    module = INSPECTORS.get(url.scheme.lower())
    return importlib.import_module(module) if module is not None else None
