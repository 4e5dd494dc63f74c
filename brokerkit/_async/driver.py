"""The driver seam: what a backend implements. Batch-oriented, no policy.

A driver translates to one client library and nothing more: guarantees, commit batching,
redelivery limits and dead-lettering live in ``brokerkit._policy`` and the facade.
Every call may raise only brokerkit errors (map client errors with ``errors.map_errors``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .._spec import ConsumerConfig, ProducerConfig
from .._types import Record

#: One fetched message, as a driver hands it to the facade:
#: (token, id, value, key, headers or None, timestamp or None, delivery_count).
#: ``token`` is whatever the driver needs to settle the message later (an offset,
#: a stream id, a delivery tag); the facade hands it back unchanged to ack()/nack().
Delivery = tuple[Any, str, bytes, bytes | None, "dict[str, str] | None", float | None, int]


class AsyncProducerDriver(Protocol):
    async def send(self, value: bytes, key: bytes | None, headers: Any) -> None:
        """Hand one message to the broker.

        With at-least-once the driver may pipeline: it need not wait for the broker's
        acknowledgement here, but must then report a refusal from a later send(), flush()
        or close() as DeliveryError. With at-most-once it must not wait or retry.
        """

    async def send_many(self, records: Sequence[Record]) -> None:
        """Like send() for a batch, in one round trip where the broker allows it."""

    async def flush(self, timeout: float | None) -> None:
        """Return once every message handed over so far is acknowledged by the broker.

        Raises DeliveryError naming the refused messages, TimeoutError after ``timeout``.
        """

    async def close(self, timeout: float | None) -> None:
        """Flush, then release the producer's resources. Called once."""


class AsyncConsumerDriver(Protocol):
    async def fetch(self, max_messages: int, timeout: float | None) -> list[Delivery]:
        """Return up to ``max_messages`` deliveries, waiting at most ``timeout`` seconds
        (``None``: no bound) for the first one; an empty list when none came.

        With at-most-once (``config.guarantee``), every returned message is already
        acknowledged: it is never delivered again.
        """

    async def ack(self, tokens: list[Any], wait: bool) -> None:
        """Acknowledge/commit these deliveries, in one request where the broker allows it.

        ``wait=True`` (commit=SYNC): return once the broker confirmed. ``wait=False``
        (commit=ASYNC): the driver may return before the confirmation and report a failure
        from a later call. Tokens may come in any order; on log brokers the committed
        position must never pass an unacked message (see ``_policy.acks.OffsetTracker``).
        """

    async def nack(self, tokens: list[Any], delay: float | None) -> None:
        """Make these deliveries available to the group again (after ``delay`` seconds)."""

    async def close(self, timeout: float | None) -> None:
        """Hand every delivery not yet acked back to the group promptly, then release
        resources. Called once, after the facade sent its last acks."""


class AsyncDriver(Protocol):
    async def connect(self, timeout: float) -> None:
        """Open the connection; BrokerConnectionError (naming host:port) within ``timeout``."""

    async def open_producer(self, topic: str, config: ProducerConfig) -> AsyncProducerDriver: ...

    async def open_consumer(
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> AsyncConsumerDriver:
        """Create the group if needed and subscribe. When this returns, every message
        published afterwards reaches the group. ``group=None``: a private group, removed
        when the consumer closes."""

    async def close(self) -> None:
        """Release the connection. Called once, after every producer/consumer closed."""
