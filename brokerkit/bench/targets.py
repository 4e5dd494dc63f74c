"""The seam between the harness and what it measures.

The harness (``loops.py``) drives a :class:`Session` of either kind the same way:
brokerkit itself (``driver.py``) or a broker's raw client library (``baselines/``). A
session is one connection; it makes senders and receivers of topics. Receivers return
payloads and settle them with :meth:`AsyncReceiver.ack` after the harness has counted
them (a no-op where nothing needs acking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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


class AsyncSender(Protocol):
    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        """Send a batch; it counts as acknowledged when this returns (at-least-once)."""

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


class AsyncReceiver(Protocol):
    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        """Up to ``max_messages`` payloads, waiting at most ``timeout`` s for the first."""

    async def ack(self) -> None:
        """Acknowledge what the last receive() returned (at-least-once)."""

    async def close(self) -> None: ...


class AsyncSession(Protocol):
    async def sender(self, topic: str) -> AsyncSender: ...

    async def receiver(self, topic: str) -> AsyncReceiver:
        """A subscribed consumer: every message sent after this returns reaches it."""

    async def close(self) -> None: ...


class Sender(Protocol):
    def send(self, values: list[bytes], keys: list[bytes] | None) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class Receiver(Protocol):
    def receive(self, max_messages: int, timeout: float) -> list[bytes]: ...

    def ack(self) -> None: ...

    def close(self) -> None: ...


class Session(Protocol):
    def sender(self, topic: str) -> Sender: ...

    def receiver(self, topic: str) -> Receiver: ...

    def close(self) -> None: ...


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
