"""The driver seam: what a backend implements. Batch-oriented, no policy.

A driver translates to one client library and nothing more. The core (the facade in
``brokerkit/_async`` and the sans-I/O ``brokerkit._policy``) does everything else:

- **producing**: ``send()`` only buffers; the core hands buffered records to
  :meth:`AsyncProducerDriver.publish` in batches, later asks :meth:`AsyncProducerDriver.wait`
  for their outcomes, and decides what to raise and when (``DeliveryError`` naming the
  refused messages from the next ``send()``, ``flush()`` or ``close()``; ``TimeoutError``
  with the count still unconfirmed). A driver never buffers or retries on its own;
- **consuming**: prefetch buffering, ack batching (``commit_every`` / ``commit_interval``),
  the commit watermark of cumulative-ack brokers (``Capabilities.cumulative_ack``), delivery
  limits and dead-lettering (unless the broker does them natively, see
  ``Capabilities.native_dead_letter``). The driver fetches in batches and settles in batches.

Every call may raise only brokerkit errors (map client errors in one place per driver).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .._spec import ConsumerConfig, ProducerConfig
from .._types import Delivery as Delivery  # defined once, shared by both APIs
from .._types import Record

#: What :meth:`AsyncProducerDriver.wait` reports: ``None`` when every record of the batch
#: is stored; else one entry per record, in order: ``None`` (stored) or the exception
#: saying why that record was refused or lost (a brokerkit error).
Outcomes = Sequence[BaseException | None] | None


class AsyncProducerDriver(Protocol):
    async def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        """Hand a batch to the broker and return a handle for :meth:`wait`.

        ``records`` is a list, or a :class:`~brokerkit._types.Values` (a batch of plain
        values: ``(value, None, None)`` records made as it is iterated, its list in
        ``.values``): iterate, index or slice it; do not keep or change it.

        The core calls publish() for one producer one batch at a time, in send order, and
        may call it again before waiting for the previous handle (batches in flight). A
        driver whose client pipelines (Kafka produce(), JetStream publish_async, AMQP
        publisher confirms) returns as soon as the batch is written and waits in wait();
        one whose client answers a batch in one round trip (a Redis pipeline) may do the
        round trip here and return the outcomes as the handle.

        With at-most-once (``config.guarantee``) no acknowledgement is asked for and the
        handle may be ``None``. Raise (BrokerConnectionError, TimeoutError after
        ``timeout``) only when the batch as a whole could not be handed over; a refusal of
        single records is reported by wait().
        """

    async def wait(self, handle: Any, timeout: float | None) -> Outcomes:
        """The outcomes of a published batch (see :data:`Outcomes`).

        Raise ``brokerkit.TimeoutError`` when they are not known within ``timeout``
        seconds; the batch then stays in flight and wait() may be called again.
        """

    async def close(self, timeout: float | None) -> None:
        """Release the producer's resources. Called once, after the core waited for the
        outcome of every batch it published (or gave up after its close timeout)."""


class AsyncConsumerDriver(Protocol):
    async def fetch(self, max_messages: int, timeout: float | None) -> Sequence[Delivery]:
        """Return up to ``max_messages`` deliveries, waiting at most ``timeout`` seconds
        (``None``: no bound) for the first one; an empty sequence when none came. (A
        delivery may be a plain tuple in :class:`Delivery`'s field order: see there.)

        Against a broker that is gone or stopped answering, return or raise
        (BrokerConnectionError / brokerkit.TimeoutError) within about ``timeout`` plus the
        connection's ``connect_timeout``: the core decides whether to try again (a blocking
        receive does, up to ``reconnect_timeout``).

        With at-most-once (``config.guarantee``), every returned message is already
        acknowledged: it is never delivered again.
        """

    async def settle(
        self,
        acks: Sequence[Any],
        nacks: Sequence[tuple[Any, float | None]],
        wait: bool,
    ) -> None:
        """Settle a batch in one call (one request per kind where the broker allows it).

        ``acks``: tokens of messages processed (or dead-lettered by the core, which
        published them to the dead-letter topic first). On a ``cumulative_ack`` backend
        these are ``(partition, next_offset)`` positions to commit, computed by the core's
        watermark, never beyond an unacked message.
        ``nacks``: ``(token, delay)`` pairs of messages to deliver again (``delay`` None:
        at once). On close the core nacks the messages it fetched but never handed out.
        ``wait=True`` (commit=SYNC): return once the broker confirmed the acks.
        ``wait=False`` (commit=ASYNC): the driver may return before and report a failure
        from a later call.

        Against a broker that is gone or stopped answering, raise BrokerConnectionError /
        brokerkit.TimeoutError within about ``connect_timeout``; the core tries a
        confirmed settle again (up to ``reconnect_timeout``, or the close deadline).
        """

    async def close(self, timeout: float | None) -> None:
        """Hand every delivery not yet acked back to the group promptly, then release
        resources, within ``timeout`` (what is left of the consumer's close_timeout).
        Called once, after the core's last settle()."""


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
