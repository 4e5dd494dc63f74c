"""The seam between the harness and what it measures.

The harness (``_async/loops.py`` and its generated ``_sync`` twin) drives a session of
either kind the same way: brokerkit itself (``driver.py``) or a broker's raw client
library (``baselines/``). A session is one connection; it makes senders and receivers of
topics (the protocols: ``_async/protocols.py``, ``AsyncSession`` / ``Session``).
Receivers return payloads and settle them with ``ack()`` after the harness has counted
them (a no-op where nothing needs acking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ._async.protocols import AsyncReceiver, AsyncSender, AsyncSession
from ._sync.protocols import Receiver, Sender, Session
from .workload import Workload

__all__ = [
    "AsyncReceiver",
    "AsyncSender",
    "AsyncSession",
    "Baseline",
    "Receiver",
    "Sender",
    "Session",
    "Setup",
    "Target",
    "Unsupported",
]

#: The consumer group every benchmark consumer joins (where the broker has groups).
GROUP = "bk-bench"


class Unsupported(Exception):
    """The target cannot run this workload (e.g. at-least-once on Redis Pub/Sub)."""


@dataclass(frozen=True)
class Setup:
    """What a session needs to know beyond the URL."""

    url: str
    workload: Workload
    fanout: bool
    """True where the broker has no consumer groups: every consumer gets every message."""


class Target(Protocol):
    """What is measured: brokerkit (``driver.py``) or a raw client (``baselines/``)."""

    name: str

    async def open_async(self, setup: Setup) -> AsyncSession:
        """Connect; raise :class:`Unsupported` if the workload cannot run here."""

    def open_sync(self, setup: Setup) -> Session: ...


class Baseline(Target, Protocol):
    """A raw-client target, one module per URL scheme (see ``baselines/__init__.py``)."""

    def cleanup(self, url: str, topics: list[str]) -> None:
        """Delete what a run left on the broker (every topic starts with ``bk-bench-``),
        whichever target made it."""

    def versions(self, url: str) -> dict[str, str]:
        """Client library and server versions, for the report."""
