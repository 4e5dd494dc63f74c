"""AsyncConsumer and AsyncMessage: prefetch buffer, ack batching, nack, dead-lettering.

Policy decisions come from ``brokerkit._policy``; I/O goes through the driver in batches:
``fetch()`` to receive, one ``settle(acks, nacks, wait)`` to acknowledge and hand back.
On a backend with ``Capabilities.cumulative_ack`` the acks are per-partition positions
computed by :class:`~brokerkit._policy.acks.OffsetTracker` (never past an unacked message).
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from .._acompat import ALock, AOpenable, asleep, monotonic
from .._instrument import Endpoint, Instrumentation
from .._policy.acks import OffsetTracker
from .._policy.commits import AckBatcher
from .._policy.deadletter import dead_letter_headers, max_deliveries_reason
from .._policy.guarantees import check_nack_delay
from .._policy.receiving import check_max_messages, check_timeout
from .._spec import ConsumerConfig
from .._types import Commit, Guarantee
from ..errors import (
    BrokerConnectionError,
    BrokerError,
    ClosedError,
    ConfigurationError,
    SettleLostError,
    UnsupportedError,
)
from ..errors import TimeoutError as NoAnswer
from .driver import AsyncConsumerDriver, Delivery
from .producer import AsyncProducer

#: The consumer a message came from (ack_many() checks them all at once).
_CONSUMER_OF: Callable[[Any], Any] = attrgetter("_consumer")

if TYPE_CHECKING:
    from .broker import AsyncBroker


#: A blocking receive waits in slices this long, so close() from another thread or task
#: ends it promptly.
POLL_SLICE = 0.2

#: A lost connection is retried with backoff from 50 ms doubling to 1 s.
RETRY_BASE = 0.05
RETRY_CAP = 1.0

#: What a driver raises when the broker cannot be reached or does not answer in time:
#: the core decides whether to try again (see _settle_again and _fetch).
LOST = (BrokerConnectionError, NoAnswer)


def _backoff(failures: int, left: float) -> float:
    delay: float = min(RETRY_CAP, RETRY_BASE * 2.0**failures, left)
    return max(0.0, delay)


class AsyncMessage:
    """A received message. Settle it with ack(), nack() or dead_letter()."""

    __slots__ = (
        "__weakref__",  # instrumentation hooks keep per-message state in weak maps
        "_consumer",
        "_handed",  # when it was handed out (set only where instrumentation is installed)
        "_settled",
        "_token",
        "delivery_count",
        "headers",
        "id",
        "key",
        "timestamp",
        "topic",
        "value",
    )

    value: bytes
    key: bytes | None
    headers: dict[str, str]
    topic: str
    id: str
    timestamp: float | None
    delivery_count: int
    _handed: float

    def __init__(self, consumer: AsyncConsumer, topic: str, delivery: Delivery) -> None:
        # By position: a driver may hand plain tuples in Delivery's field order.
        token, self.id, self.value, self.key, headers, self.timestamp, self.delivery_count = (
            delivery
        )
        self._consumer = consumer
        self._settled = False
        self._token = token
        self.headers = headers if headers is not None else {}
        self.topic = topic

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} topic={self.topic!r} id={self.id!r} key={self.key!r} "
            f"value={self.value[:40]!r}{'...' if len(self.value) > 40 else ''} "
            f"delivery_count={self.delivery_count}>"
        )

    async def ack(self) -> None:
        """Acknowledge the message (a no-op on an at-most-once consumer, and when repeated)."""
        consumer = self._consumer
        if consumer._ack(self, True):
            await consumer._commit()

    async def nack(self, requeue: bool = True, delay: float | None = None) -> None:
        """Deliver the message again (after ``delay`` seconds). ``requeue=False`` sends it to
        the consumer's dead_letter_topic if it has one, else drops it."""
        await self._consumer._nack(self, requeue, delay)

    async def dead_letter(self, reason: str) -> None:
        """Move the message to the consumer's dead_letter_topic (recording the original
        topic, id, reason and delivery count in brokerkit-* headers) and ack it."""
        await self._consumer._dead_letter(self, reason, self.delivery_count)


class AsyncConsumer(AOpenable):
    """Receives messages of one topic for one group. Create it with ``AsyncBroker.consumer()``."""

    def __init__(
        self,
        broker: AsyncBroker,
        topic: str,
        group: str | None,
        options: Mapping[str, Any],
        backend_options: Mapping[str, Any],
    ) -> None:
        self._broker = broker
        self.topic: str = topic
        self.group: str | None = group
        self.guarantee: Guarantee = options["guarantee"]
        self.commit_mode: Commit = options["commit"]
        self._sync_commit = self.commit_mode is Commit.SYNC
        self._batcher: AckBatcher | None = None
        if self.guarantee is Guarantee.AT_LEAST_ONCE:
            self._batcher = AckBatcher(
                self.commit_mode, options["commit_every"], options["commit_interval"]
            )
        caps = broker.capabilities
        #: Cumulative-ack backends: the commit watermark per partition (tokens are
        #: ``(partition, offset)``); None where every message is acked on its own.
        self._offsets: OffsetTracker | None = None
        if caps.cumulative_ack and self._batcher is not None:
            self._offsets = OffsetTracker()
        self._prefetch: int = options["prefetch"]
        self._prefetch_bytes: int = options["prefetch_bytes"]
        #: Messages fetched ahead: prefetch, lowered while messages are large. Until a
        #: batch showed how large they are, one: prefetch_bytes bounds every fetch, the
        #: first one too.
        self._ahead = 1
        #: How many messages prefetch_bytes allows, from the sizes of the last batch.
        self._cap = 1
        opts = broker.options
        self._reconnect: float = opts.get("reconnect_timeout", 30.0)
        self._max_deliveries: int | None = options["max_deliveries"]
        #: The core enforces max_deliveries unless the broker does it natively.
        self._limit: int | None = None if caps.native_dead_letter else self._max_deliveries
        self._dead_letter_topic: str | None = options["dead_letter_topic"]
        self._on_commit_error: Callable[[BaseException], Any] | None = options["on_commit_error"]
        self._backend_options = backend_options
        self._buf: deque[AsyncMessage] = deque()
        #: Partitions taken from this member by rebalances, in order (appended by the
        #: driver's rebalance callback, on any thread); the first ``_applied`` entries
        #: have been dropped from the buffer, ``_revocations`` is the list's length.
        self._revoked_log: list[frozenset[Any]] = []
        self._revocations = 0
        self._applied = 0
        self._drv: AsyncConsumerDriver | None = None
        self._closing = False
        self._closed = False
        self._fetch_lock = ALock()
        self._dlq: AsyncProducer | None = None
        #: Dead letters, drops and the core's reconnects are logged under the backend's
        #: logger (brokerkit.redis, ...).
        self._log = logging.getLogger(f"brokerkit.{broker.backend}")
        self._hooks: Instrumentation | None = broker._hooks
        self._endpoint: Endpoint = broker._endpoint(topic, group, "consumer")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"<{type(self).__name__} topic={self.topic!r} group={self.group!r} "
            f"{self.guarantee.value} commit={self.commit_mode.value} {state}>"
        )

    async def _ensure_open(self) -> AsyncConsumerDriver:
        if self._closing:
            raise ClosedError(f"consumer of topic {self.topic!r} is closed")
        if self._drv is None:
            driver = self._broker._live_driver()
            config = ConsumerConfig(
                guarantee=self.guarantee,
                commit=self.commit_mode,
                prefetch=self._prefetch,
                options=self._backend_options,
                max_deliveries=self._max_deliveries,
                dead_letter_topic=self._dead_letter_topic,
                offsets=self._offsets,
                revoked=self._revoked if self._offsets is not None else None,
            )
            self._drv = await driver.open_consumer(self.topic, self.group, config)
            self._broker._register(self)
        return self._drv

    # -- receiving ---------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> AsyncMessage | None:
        """The next message, or None after ``timeout`` seconds (None: wait until one comes
        or the consumer is closed)."""
        if timeout is not None and type(timeout) is not float:
            timeout = check_timeout(timeout)
        if self._revocations != self._applied:
            self._drop_revoked()
        buf = self._buf
        if buf:
            msg = buf.popleft()
        else:
            if self._batcher is None:  # at-most-once: take no more than is handed out
                msgs = await self._fetch(1, timeout)
            else:
                msgs = await self._fetch(self._ahead, timeout)
                buf.extend(msgs)
            if not msgs:
                return None
            msg = buf.popleft() if buf else msgs[0]
        if self._hooks is not None:
            self._deliver((msg,))
        return msg

    async def receive_many(
        self, max_messages: int = 100, timeout: float | None = None
    ) -> list[AsyncMessage]:
        """Up to ``max_messages`` messages: what is buffered at once, else waits at most
        ``timeout`` seconds for the first; possibly an empty list."""
        if type(max_messages) is not int or max_messages < 1:
            max_messages = check_max_messages(max_messages)
        if timeout is not None and type(timeout) is not float:
            timeout = check_timeout(timeout, "receive_many()")
        if self._revocations != self._applied:
            self._drop_revoked()
        buf = self._buf
        if not buf:
            if self._batcher is None:
                out = await self._fetch_up_to(max_messages, timeout)
            else:
                out = await self._fetch_up_to(max(max_messages, self._ahead), timeout)
                if len(out) > max_messages:
                    buf.extend(out[max_messages:])
                    del out[max_messages:]
        elif len(buf) <= max_messages:
            out = list(buf)
            buf.clear()
        else:
            out = [buf.popleft() for _ in range(max_messages)]
        if self._hooks is not None and out:
            self._deliver(out)
        return out

    def _deliver(self, msgs: Sequence[AsyncMessage]) -> None:
        """Instrumentation only: the deliver event, and the time each was handed out."""
        assert self._hooks is not None
        now = monotonic()
        for msg in msgs:
            msg._handed = now
        self._hooks.deliver(self._endpoint, msgs)

    @staticmethod
    def _held(msg: AsyncMessage) -> float:
        """Seconds since ``msg`` was handed out (0.0 if it never was: max_deliveries)."""
        handed: float | None = getattr(msg, "_handed", None)
        return 0.0 if handed is None else monotonic() - handed

    async def _fetch_up_to(self, want: int, timeout: float | None) -> list[AsyncMessage]:
        """Up to ``want`` messages, no fetch larger than prefetch_bytes allows: the first
        fetch (sizes unknown) takes one, and what is there at once tops it up."""
        n = min(want, self._cap)
        msgs = await self._fetch(n, timeout)
        while len(msgs) >= n and len(msgs) < want:
            n = min(want - len(msgs), self._cap)
            seen = self._revocations
            more = await self._fetch(n, 0.0)
            if self._revocations != seen:  # what this call fetched before is stale now
                gone = self._revoked_since(seen)
                kept = self._not_revoked(msgs, gone)
                self._log_dropped(gone, len(msgs) - len(kept))
                msgs = kept
            if not more:
                break
            msgs.extend(more)
            if len(more) < n:
                break
        return msgs

    def __aiter__(self) -> AsyncConsumer:
        return self

    async def __anext__(self) -> AsyncMessage:
        try:
            msg = await self.receive(None)
        except ClosedError:
            if self._closing:  # closed in the loop body or elsewhere: the iteration ends
                raise StopAsyncIteration from None
            raise
        if msg is None:
            raise StopAsyncIteration
        return msg

    def _not_open(self) -> AsyncConsumerDriver:
        """receive() on a consumer that is closed, or (async API) was never opened: an
        unopened consumer is not subscribed, so it must not start now, silently late."""
        if self._closing:
            raise ClosedError(
                f"consumer of topic {self.topic!r} is closed", url=self._broker.url.render()
            )
        raise ClosedError(
            f"consumer of topic {self.topic!r} is not open (so not subscribed): write "
            "`consumer = await broker.consumer(...)` or "
            "`async with broker.consumer(...) as consumer:` before sending what it "
            "should receive",
            url=self._broker.url.render(),
        )

    async def _fetch(self, n: int, timeout: float | None) -> list[AsyncMessage]:
        drv = self._drv
        if drv is None:
            drv = self._not_open()
        if timeout is not None and timeout < 0:
            check_timeout(timeout)
        batcher = self._batcher
        deadline = None if timeout is None else monotonic() + timeout
        if batcher is not None and batcher.tokens and batcher.due():
            await self._commit()
            if deadline is not None and monotonic() >= deadline:
                return []  # the commit took the time (a broker not answering): no fetch
        topic = self.topic
        lost_at: float | None = None
        failures = 0
        while True:
            if self._closing:
                return []
            if batcher is not None and batcher.tokens:
                wait = 0.0  # look without blocking; send pending acks before we block
            elif deadline is None:
                wait = POLL_SLICE
            else:
                wait = min(POLL_SLICE, max(0.0, deadline - monotonic()))
            try:
                async with self._fetch_lock:
                    if self._closed:
                        return []
                    raw = await drv.fetch(n, wait)
                    if self._revocations != self._applied:
                        self._drop_revoked()
            except LOST as exc:
                # The driver gave up within about wait + connect_timeout. A receive with a
                # timeout raises now; a blocking one waits out an outage up to
                # reconnect_timeout.
                now = monotonic()
                if lost_at is None:
                    lost_at = now
                failures += 1
                if deadline is not None or now - lost_at >= self._reconnect:
                    raise
                delay = _backoff(failures, self._reconnect - (now - lost_at))
                self._reconnecting("receiving", failures, exc, delay)
                await asleep(delay)
                continue
            if lost_at is not None:
                lost_at = None
                failures = 0
            if raw:
                if self._offsets is not None:
                    self._track(raw, self._offsets)
                msgs = list(map(partial(AsyncMessage, self, topic), raw))  # no bytecode loop
                # Per batch, not per message: size the next fetch from two samples.
                size = len(raw[0][2]) + len(raw[-1][2])  # the values
                cap = self._cap = max(1, 2 * self._prefetch_bytes // (size or 1))
                self._ahead = min(self._prefetch, cap)
                if self._limit is not None:
                    msgs = await self._drop_exceeded(msgs, self._limit)
                    if not msgs:
                        continue
                return msgs
            if batcher is not None and batcher.tokens:
                await self._commit()
                if deadline is not None and monotonic() >= deadline:
                    return []
                continue
            if deadline is not None and monotonic() >= deadline:
                return []

    # -- rebalances (cumulative_ack backends) ------------------------------------------

    def _revoked(self, partitions: Collection[Hashable]) -> Mapping[Hashable, int]:
        """``ConsumerConfig.revoked``: the broker took ``partitions`` from this member.

        Called by the driver's rebalance callback, on whatever thread runs it, before the
        partitions go to another member: forget them in the commit watermark (later acks
        of their messages are ignored), have the messages of theirs that were fetched but
        not handed out dropped before anything more is handed out, and return the safe
        positions (first offset not acked) for the driver to commit.
        """
        parts = frozenset(partitions)
        offsets = self._offsets
        if not parts or offsets is None:
            return {}
        positions = offsets.release(parts)
        log = self._revoked_log
        log.append(parts)
        self._revocations = len(log)
        return positions

    def _revoked_since(self, seen: int) -> frozenset[Any]:
        return frozenset().union(*self._revoked_log[seen : self._revocations])

    @staticmethod
    def _not_revoked(msgs: Iterable[AsyncMessage], gone: frozenset[Any]) -> list[AsyncMessage]:
        return [m for m in msgs if m._token[0] not in gone]

    def _drop_revoked(self) -> None:
        """Drop the buffered messages of partitions revoked since the last call: fetched
        before the revocation, they come again to the partition's next owner (which may
        be this member again, from the committed position)."""
        seen = self._applied
        upto = self._revocations
        gone = self._revoked_since(seen)
        self._applied = upto
        buf = self._buf
        if not buf:
            return
        # Take everything, then put back what is kept: another thread of the sync API
        # may pop meanwhile, and must not get a message that is also put back.
        taken: list[AsyncMessage] = []
        popleft = buf.popleft
        with contextlib.suppress(IndexError):
            while True:
                taken.append(popleft())
        kept = self._not_revoked(taken, gone)
        buf.extendleft(reversed(kept))
        self._log_dropped(gone, len(taken) - len(kept))

    def _log_dropped(self, gone: frozenset[Any], n: int) -> None:
        if n:
            self._log.debug(
                "consumer of %r (group %r): partitions %s revoked: %d prefetched message(s) "
                "dropped, they go to the partitions' next owner",
                self.topic,
                self.group,
                sorted(gone, key=repr),
                n,
            )

    @staticmethod
    def _track(raw: Sequence[Delivery], offsets: OffsetTracker) -> None:
        """Record a fetched batch in the commit watermark, one call per partition run."""
        run_part: Any = None
        run: list[int] = []
        for delivery in raw:
            part, offset = delivery[0]  # the token
            if part != run_part:
                if run:
                    offsets.delivered_many(run_part, run)
                run_part, run = part, []
            run.append(offset)
        if run:
            offsets.delivered_many(run_part, run)

    async def _drop_exceeded(self, msgs: list[AsyncMessage], limit: int) -> list[AsyncMessage]:
        """Dead-letter the messages delivered more than ``limit`` times (they came back
        without a nack, e.g. after a crash): the application saw ``limit`` deliveries."""
        if not any(msg.delivery_count > limit for msg in msgs):
            return msgs
        keep = []
        for msg in msgs:
            if msg.delivery_count > limit:
                await self._dead_letter(msg, max_deliveries_reason(limit), msg.delivery_count - 1)
            else:
                keep.append(msg)
        return keep

    # -- settling ----------------------------------------------------------------------

    def _ack(self, msg: AsyncMessage, event: bool) -> bool:
        """Record the ack of ``msg``; True when the pending acks are due to be sent.
        ``event``: an ack by the application (told to the instrumentation), not the ack
        that ends a dead-lettering or a drop."""
        if msg._settled:
            return False
        batcher = self._batcher
        if batcher is None:
            if self._hooks is not None and event:  # at-most-once: the handling ends
                msg._settled = True
                self._hooks.ack(self._endpoint, msg, self._held(msg))
            return False
        if self._closed:
            raise ClosedError(
                f"consumer of {self.topic!r} is closed: message {msg.id} was handed back "
                "to the group and will be delivered again"
            )
        msg._settled = True
        token = msg._token
        offsets = self._offsets
        if offsets is not None:
            offsets.ack(*token)
        if self._hooks is not None and event:
            self._hooks.ack(self._endpoint, msg, self._held(msg))
        return batcher.add(token)

    async def ack_many(self, messages: Iterable[AsyncMessage]) -> None:
        """Acknowledge ``messages`` (received from this consumer) in one call: what
        ``ack()`` on each does, with one commit check for all of them (with
        ``commit="sync"`` and the default ``commit_every=1``: one commit the broker
        confirms, for the whole batch). Messages already settled are skipped; a no-op on an
        at-most-once consumer. A message of another consumer raises ``ValueError``."""
        msgs = messages if isinstance(messages, list) else list(messages)
        if not msgs:
            return
        try:
            owners = set(map(_CONSUMER_OF, msgs))
        except AttributeError:
            other = next(m for m in msgs if not hasattr(m, "_consumer"))
            raise TypeError(
                f"ack_many() takes messages received from this consumer, got {type(other).__name__}"
            ) from None
        if owners != {self}:
            other = next(m for m in msgs if m._consumer is not self)
            raise ValueError(
                f"ack_many() takes messages received from this consumer (topic {self.topic!r}, "
                f"group {self.group!r}); got {other!r}"
            )
        await self._ack_many(msgs)

    async def _ack_many(self, msgs: Sequence[AsyncMessage]) -> None:
        """Acknowledge ``msgs`` (all of this consumer) in one call: what a loop of
        ``ack()`` does, with one commit check for all of them (the processor settles a
        handled chunk this way). Messages already settled are skipped."""
        batcher = self._batcher
        if batcher is None:
            if self._hooks is not None:  # at-most-once: the handlings end
                for msg in msgs:
                    self._ack(msg, True)
            return
        if self._closed:
            raise ClosedError(
                f"consumer of {self.topic!r} is closed: {len(msgs)} messages were handed "
                "back to the group and will be delivered again"
            )
        tokens: list[Any] = []
        append = tokens.append
        hooks = self._hooks
        for msg in msgs:
            if not msg._settled:
                msg._settled = True
                append(msg._token)
                if hooks is not None:
                    hooks.ack(self._endpoint, msg, self._held(msg))
        offsets = self._offsets
        if offsets is not None:
            for token in tokens:
                offsets.ack(*token)
        if batcher.add_many(tokens):
            await self._commit()

    def _take_acks(self) -> list[Any]:
        """The pending acks as the driver settles them: tokens, or the partitions'
        positions where acks are cumulative."""
        batcher = self._batcher
        if batcher is None:
            return []
        tokens = batcher.take()
        offsets = self._offsets
        if offsets is None:
            return tokens
        return list(offsets.positions().items())

    async def _commit(self) -> None:
        drv = self._drv
        if drv is None:
            return
        acks = self._take_acks()
        if not acks:
            return
        if self._sync_commit:
            await self._settle_confirmed(drv, acks, ())
            return
        started = monotonic()
        try:
            await drv.settle(acks, (), False)
        except BrokerError as exc:
            self._committed(acks, started, exc)
            self._report_commit_error(exc)
            return
        self._committed(acks, started, None)

    def _committed(self, acks: Sequence[Any], started: float, error: BaseException | None) -> None:
        """The commit event (per settle request that carried acks), where instrumented."""
        if self._hooks is not None and acks:
            self._hooks.commit(
                self._endpoint,
                len(acks),
                monotonic() - started,
                error,
            )

    async def _settle_confirmed(
        self,
        drv: AsyncConsumerDriver,
        acks: Sequence[Any],
        nacks: Sequence[tuple[Any, float | None]],
        until: float | None = None,
    ) -> None:
        """A confirmed settle: retried on a lost connection up to reconnect_timeout from
        now (or ``until``), then the commit event (with the error when it failed)."""
        started = monotonic()
        try:
            try:
                await drv.settle(acks, nacks, True)
            except LOST as exc:
                deadline = started + self._reconnect if until is None else until
                await self._settle_again(drv, acks, nacks, exc, deadline)
        except BrokerError as exc:
            self._committed(acks, started, exc)
            raise
        self._committed(acks, started, None)

    async def _settle_again(
        self,
        drv: AsyncConsumerDriver,
        acks: Sequence[Any],
        nacks: Sequence[tuple[Any, float | None]],
        exc: BaseException,
        deadline: float,
    ) -> None:
        """A confirmed settle failed with a lost connection or no answer: try again
        (backoff 50 ms to 1 s) until ``deadline``, then raise the last error."""
        failures = 0
        while True:
            left = deadline - monotonic()
            if left <= 0 or isinstance(exc, SettleLostError):
                raise exc
            failures += 1
            delay = _backoff(failures, left)
            self._reconnecting("settling acknowledgements", failures, exc, delay)
            await asleep(delay)
            try:
                await drv.settle(acks, nacks, True)
                return
            except LOST as again:
                exc = again

    def _reconnecting(self, what: str, attempt: int, exc: BaseException, delay: float) -> None:
        """A lost connection retried by the core: a WARNING per attempt, and the reconnect
        event (the message of a brokerkit error never holds a password)."""
        self._log.warning(
            "consumer of topic %r (group %r): %s failed (%s); reconnect attempt %d in %.2f s",
            self.topic,
            self.group,
            what,
            exc,
            attempt,
            delay,
        )
        if self._hooks is not None:
            self._hooks.reconnect(self._endpoint, attempt, exc, delay)

    def _report_commit_error(self, exc: BrokerError) -> None:
        if self._on_commit_error is not None:
            self._on_commit_error(exc)
        else:
            self._log.warning(
                "async commit on topic %r group %r failed (messages will be redelivered): %s",
                self.topic,
                self.group,
                exc,
            )

    async def commit(self) -> None:
        """Send every pending ack now and wait for the broker to confirm them."""
        batcher = self._batcher
        drv = self._drv
        if batcher is None or drv is None or not batcher.tokens:
            return
        acks = self._take_acks()
        if acks:
            await self._settle_confirmed(drv, acks, ())

    async def _nack(self, msg: AsyncMessage, requeue: bool, delay: float | None) -> None:
        if self._batcher is None:
            raise UnsupportedError(
                "nack() needs an at-least-once consumer: an at-most-once message is "
                "acknowledged before it is handed over",
                capability="at_least_once",
            )
        if msg._settled:
            return
        if self._closed:
            raise ClosedError(f"consumer of {self.topic!r} is closed")
        if not requeue:
            if self._dead_letter_topic is not None:
                await self._dead_letter(msg, "nacked with requeue=False", msg.delivery_count)
            else:
                self._log.warning(
                    "message %s of topic %r (group %r) nacked with requeue=False and no "
                    "dead_letter_topic: dropped",
                    msg.id,
                    self.topic,
                    self.group,
                )
                if self._hooks is not None:
                    self._hooks.nack(self._endpoint, msg, self._held(msg), False, None)
                if self._ack(msg, False):  # dropped on purpose, as asked
                    await self._commit()
            return
        check_nack_delay(self._broker.capabilities, self._broker.backend, delay)
        limit = self._limit
        if limit is not None and msg.delivery_count >= limit:
            # The last delivery allowed: dead-letter now rather than deliver it again.
            await self._dead_letter(msg, max_deliveries_reason(limit), msg.delivery_count)
            return
        drv = self._drv
        if drv is None:
            raise ClosedError(f"consumer of {self.topic!r} is closed")
        msg._settled = True
        offsets = self._offsets
        if offsets is not None:
            self._rewind(offsets, msg._token)
        # Pending acks go in the same call: one settle() for the batch. A nack returns
        # once the message is handed back.
        acks = self._take_acks() if self._batcher.tokens else []
        await self._settle_confirmed(drv, acks, ((msg._token, delay),))
        if self._hooks is not None:
            self._hooks.nack(self._endpoint, msg, self._held(msg), True, delay)

    def _rewind(self, offsets: OffsetTracker, token: Any) -> None:
        """A nack on a cumulative-ack backend: the partition is read again from the nacked
        offset, so the buffered messages after it are dropped (they come again)."""
        part, offset = token
        offsets.rewind(part, offset)
        buf = self._buf
        if buf:
            kept = [m for m in buf if m._token[0] != part or m._token[1] < offset]
            if len(kept) != len(buf):
                buf.clear()
                buf.extend(kept)

    async def _dead_letter(self, msg: AsyncMessage, reason: str, deliveries: int) -> None:
        if self._closed:
            raise ClosedError(
                f"consumer of {self.topic!r} is closed: message {msg.id} cannot be "
                "dead-lettered (it was handed back to the group and will be delivered again)",
                url=self._broker.url.render(),
            )
        topic = self._dead_letter_topic
        if topic is None:
            raise ConfigurationError(
                "dead_letter() needs the consumer option dead_letter_topic='<topic>'"
            )
        if msg._settled and self._batcher is not None:
            return
        dlq = self._dlq
        if dlq is None:
            # Same guarantee as the consumer: an at-most-once consumer (perhaps on a backend
            # with no at-least-once at all) dead-letters at most once.
            dlq = self._dlq = self._broker.producer(topic, guarantee=self.guarantee)
        headers = dead_letter_headers(
            msg.headers,
            topic=msg.topic,
            id=msg.id,
            reason=reason,
            delivery_count=deliveries,
        )
        await dlq._send_confirmed(msg.value, msg.key, headers)
        self._log.warning(
            "message %s of topic %r (group %r) dead-lettered to %r after %d deliver%s: %s",
            msg.id,
            self.topic,
            self.group,
            topic,
            deliveries,
            "y" if deliveries == 1 else "ies",
            reason,
        )
        if self._hooks is not None:
            self._hooks.dead_letter(self._endpoint, msg, self._held(msg), reason, topic)
        if self._ack(msg, False):
            await self._commit()

    # -- closing -----------------------------------------------------------------------

    async def close(self) -> None:
        """Send outstanding acks (waiting for them), hand unacked messages back to the
        group, and release the consumer. Idempotent; ends a blocked receive or iteration."""
        if self._closing:
            return
        self._closing = True
        async with self._fetch_lock:
            self._closed = True
        self._broker._unregister(self)
        drv = self._drv
        limit = self._broker._close_timeout
        deadline = None if limit is None else monotonic() + limit
        try:
            if drv is not None and self._batcher is not None:
                # One last settle: the pending acks, and the prefetched messages the
                # application never saw go back to the group at once.
                acks = self._take_acks()
                nacks = [(m._token, None) for m in self._buf]
                if acks or nacks:
                    await self._settle_confirmed(drv, acks, nacks, deadline)
        finally:
            self._drv = None
            self._buf.clear()
            try:
                if drv is not None:
                    left = None if deadline is None else max(0.0, deadline - monotonic())
                    await drv.close(left)
            finally:
                if self._dlq is not None:
                    await self._dlq.close()
