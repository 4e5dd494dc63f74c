"""What the harness loops drive: a session (one connection) and the senders and receivers
it makes, of brokerkit (``brokerkit_session.py``) or of a raw client (``*_session.py``).

Receivers return payloads and settle them with ``ack()`` after the harness has counted
them (a no-op where nothing needs acking).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["AsyncReceiver", "AsyncSender", "AsyncSession"]


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
