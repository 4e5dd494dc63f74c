"""AsyncProducer: buffers what the application sends and hands it to the driver in batches.

``send()`` validates the message, appends it to the producer's buffer and returns
(``send_many()`` appends its whole batch as one entry, a *run*, cut up only if it is larger
than a batch); a background flusher (a task here, a thread in the generated sync twin) takes up to
``batch_size`` buffered records at a time, hands them to the driver's ``publish()``, and
later asks the driver's ``wait()`` for their outcomes, keeping up to ``max_in_flight``
batches published but not yet answered. While one batch is on its way, the next one
fills: under load the batches grow by themselves, and a lone message goes out at once
(after ``linger`` seconds, if set). What became of each message is recorded in
``brokerkit._policy.inflight``, which decides what to raise and when.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from operator import call
from typing import TYPE_CHECKING, Any

from .._acompat import (
    AEvent,
    AOpenable,
    AOutcomes,
    ATally,
    aevent_wait,
    apause,
    aspawn,
    monotonic,
)
from .._instrument import Endpoint, Instrumentation
from .._policy.inflight import InFlight, ticket_error
from .._policy.records import check_headers, check_value_size, coerce_key, coerce_value, records_of
from .._spec import ProducerConfig
from .._types import H_MESSAGE_ID, Capabilities, Guarantee, OutgoingMessage, Record, Values
from ..errors import ClosedError, TimeoutError
from .driver import AsyncProducerDriver

if TYPE_CHECKING:
    from .broker import AsyncBroker

#: The outcome a waiting sender is handed when the flusher stopped before the broker
#: answered for its message (raised as a fresh ClosedError).
STOPPED = ClosedError("the producer stopped")

log = logging.getLogger("brokerkit")


class AsyncProducer(AOpenable):
    """Sends messages to one topic. Create it with ``AsyncBroker.producer()``."""

    __slots__ = (
        "_added",
        "_batch_size",
        "_broker",
        "_buf",
        "_buffer_size",
        "_busy",
        "_closed",
        "_delivery_timeout",
        "_drv",
        "_endpoint",
        "_flusher",
        "_hooks",
        "_idle",
        "_inflight",
        "_kick",
        "_kicked",
        "_linger",
        "_max_bytes",
        "_max_in_flight",
        "_open",
        "_options",
        "_outcomes",
        "_room",
        "_stopped",
        "_stopping",
        "_taken",
        "guarantee",
        "topic",
    )

    def __init__(
        self,
        broker: AsyncBroker,
        topic: str,
        guarantee: Guarantee,
        options: Mapping[str, Any],
        core_options: Mapping[str, Any],
    ) -> None:
        self._broker = broker
        self.topic: str = topic
        self.guarantee: Guarantee = guarantee
        self._options = options
        self._batch_size: int = core_options["batch_size"]
        self._linger: float = core_options["linger"]
        self._max_in_flight: int = core_options["max_in_flight"]
        self._buffer_size: int = core_options["buffer_size"]
        self._delivery_timeout: float = core_options["delivery_timeout"]
        self._max_bytes: int | None = core_options["max_message_bytes"]
        self._drv: AsyncProducerDriver | None = None
        self._open = False  # True between opening and close(): send()'s one check
        self._closed = False
        self._stopping = False
        self._stopped = False  # the flusher ended
        #: Records (send()) and runs (send_many(): a list of records, or Values) in send
        #: order. A run of n messages is one entry: the buffer holds
        #: ``len(_buf) + _added.n - _taken`` messages, ``_added`` counting the n - 1 of
        #: each run appended (by senders), ``_taken`` those the flusher took out.
        self._buf: deque[Any] = deque()
        self._added = ATally()
        self._taken = 0
        self._busy = 0  # records taken by the flusher whose outcome is not known yet
        self._inflight = InFlight(topic)
        self._kick: Any = None
        #: False once the flusher cleared _kick: the next sender sets it. Checked instead
        #: of _kick.is_set() (a method call, ~50 ns) on the per-message path.
        self._kicked = False
        self._room: Any = None
        self._idle: Any = None
        self._outcomes: Any = None  # where send(wait=True) callers wait for their message
        self._flusher: Any = None
        self._hooks: Instrumentation | None = broker._hooks
        self._endpoint: Endpoint = broker._endpoint(topic, None, "producer")

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} topic={self.topic!r} {self.guarantee.value} {state}>"

    async def _ensure_open(self) -> AsyncProducerDriver:
        if self._closed:
            raise ClosedError(f"producer for topic {self.topic!r} is closed")
        if self._drv is None:
            driver = self._broker._live_driver()
            config = ProducerConfig(
                guarantee=self.guarantee,
                options=self._options,
                delivery_timeout=self._delivery_timeout,
                max_message_bytes=self._max_bytes,
            )
            drv = await driver.open_producer(self.topic, config)
            if self._max_bytes is None:
                self._max_bytes = getattr(drv, "max_message_bytes", None)
            self._kick = AEvent()
            self._room = AEvent()
            self._idle = AEvent()
            self._idle.set()
            self._outcomes = AOutcomes()
            self._drv = drv
            self._flusher = aspawn(self._flush_loop, f"brokerkit-producer-{self.topic}")
            self._open = True
            self._broker._register(self)
        return self._drv

    def _not_open(self) -> None:
        """send()/send_many()/flush() on a producer that is closed, or was never opened."""
        if self._closed:
            raise ClosedError(
                f"producer for topic {self.topic!r} is closed", url=self._broker.url.render()
            )
        raise ClosedError(
            f"producer for topic {self.topic!r} is not open: write "
            "`producer = await broker.producer(...)` or "
            "`async with broker.producer(...) as producer:`",
            url=self._broker.url.render(),
        )

    # -- sending -----------------------------------------------------------------------

    async def send(
        self,
        value: bytes | str,
        key: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        wait: bool = False,
        message_id: str | None = None,
    ) -> None:
        """Send one message.

        Returns once the message is in the producer's buffer (``wait=True``: once the broker
        stored it, raising DeliveryError if it did not). With at-least-once, a refusal
        raises DeliveryError from this call (wait=True) or from a later send(), flush() or
        close(). ``message_id`` lets a broker with idempotent produce drop repeats of the
        same message (``capabilities.idempotent_produce``).
        """
        if not self._open:
            self._not_open()
        inflight = self._inflight
        if inflight.failures:
            raise inflight.take_error()  # type: ignore[misc]
        if type(value) is not bytes:
            value = coerce_value(value)
        if self._max_bytes is not None and len(value) > self._max_bytes:
            check_value_size(value, self._max_bytes, self.topic)
        if key is not None and type(key) is not bytes:
            key = coerce_key(key)
        hdrs = check_headers(headers) if headers else None
        if message_id is not None:
            hdrs = self._with_message_id(hdrs, message_id)
        if self._hooks is not None:
            hdrs = self._hooked_headers(hdrs)
        record = (value, key, hdrs)
        if wait:
            # Awaiting the ticket itself: no coroutine of our own per waiting sender.
            error = await self._outcomes.wait(self._claim(record))
            if error is not None:
                raise self._not_stored(record, error)
            return
        buf = self._buf
        buf.append(record)
        if not self._kicked:
            self._kicked = True
            self._kick.set()
        if len(buf) + self._added.n - self._taken >= self._buffer_size:
            await self._make_room()

    async def send_many(self, messages: Iterable[OutgoingMessage]) -> None:
        """Send a batch. Items are values, or (value, key) / (value, key, headers) tuples.

        Returns once the messages are buffered; refusals surface as with send()."""
        if not self._open:
            self._not_open()
        inflight = self._inflight
        if inflight.failures:
            raise inflight.take_error()  # type: ignore[misc]
        records = records_of(messages, self._max_bytes, self.topic)
        n = len(records)
        if not n:
            return
        if self._hooks is not None:
            hooked = self._hooked_headers
            records = [(v, k, hooked(h)) for v, k, h in records]
        buf = self._buf
        added = self._added
        if n == 1:
            buf.append(records[0])
        else:
            # One entry for the batch (no per-message append, nor pop in the flusher);
            # counted before it is appended: the flusher reads the buffer's length first.
            added.add(n - 1)
            buf.append(records)
        if not self._kicked:
            self._kicked = True
            self._kick.set()
        if len(buf) + added.n - self._taken >= self._buffer_size:
            await self._make_room()

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until the broker answered for every message sent so far.

        Raises DeliveryError naming the messages it refused or lost, and
        brokerkit.TimeoutError (with the count still unconfirmed) after ``timeout`` seconds.
        """
        if not self._open:
            self._not_open()
        await self._drain(timeout, "flush()")
        err = self._inflight.take_error()
        if err is not None:
            raise err

    async def close(self) -> None:
        """Flush (within the broker's close_timeout) and release the producer. Idempotent;
        send() afterwards raises ClosedError."""
        if self._closed:
            return
        self._closed = True
        self._open = False
        self._broker._unregister(self)
        drv = self._drv
        if drv is None:
            return
        timeout = self._broker._close_timeout
        try:
            await self._drain(timeout, "close()")
        finally:
            self._stopping = True
            self._kick.set()
            if not await self._flusher.join(1.0):
                self._flusher.cancel()
            self._drv = None
            await drv.close(timeout)
        err = self._inflight.take_error()
        if err is not None:
            raise err

    # -- internal paths ----------------------------------------------------------------

    async def _send_confirmed(
        self, value: bytes, key: bytes | None, headers: Mapping[str, str] | None
    ) -> None:
        """Send one record that may carry brokerkit-* headers (dead letters), and return
        once the broker stored it (DeliveryError otherwise)."""
        if not self._open:
            await self._ensure_open()
        hdrs = dict(headers) if headers else None
        if self._hooks is not None:
            hdrs = self._hooked_headers(hdrs)
        record = (value, key, hdrs)
        error = await self._outcomes.wait(self._claim(record))
        if error is not None:
            raise self._not_stored(record, error)

    def _hooked_headers(self, headers: dict[str, str] | None) -> dict[str, str] | None:
        """Instrumentation only: the hook's send event may add headers (trace context)."""
        assert self._hooks is not None
        out = headers if headers is not None else {}
        self._hooks.send(self._endpoint, out)
        return out or None

    def _with_message_id(self, headers: dict[str, str] | None, message_id: str) -> dict[str, str]:
        caps: Capabilities = self._broker.capabilities
        caps.require("idempotent_produce", "send(message_id=...)", self._broker.backend)
        if type(message_id) is not str or not message_id:
            raise TypeError(f"message_id must be a non-empty str, got {message_id!r}")
        out = headers if headers is not None else {}
        out[H_MESSAGE_ID] = message_id
        return out

    def _claim(self, record: Record) -> Any:
        """Buffer ``record`` for a sender that waits for it: the ticket it waits on.

        The flusher resolves the ticket when the broker answered for this message (it
        answers every batch within delivery_timeout of publishing it, or stops and
        resolves every ticket left): one wake-up per waiting sender, no timer each."""
        ticket = self._outcomes.ticket()
        self._inflight.claim(record, ticket)
        self._buf.append(record)
        if not self._kicked:
            self._kicked = True
            self._kick.set()
        if self._stopped:  # the flusher is gone: nobody would answer
            self._inflight.tickets.pop(id(record), None)
            raise self._gone()
        return ticket

    def _not_stored(self, record: Record, error: BaseException) -> BaseException:
        """What a waiting sender raises for ``record``'s ``error``."""
        if error is STOPPED:
            return self._gone()
        return ticket_error(self.topic, record, error)

    def _gone(self) -> ClosedError:
        return ClosedError(
            f"producer for topic {self.topic!r} closed before the broker answered; "
            "the message may or may not be stored"
        )

    def _queued(self) -> int:
        """Messages in the buffer (not yet taken by the flusher)."""
        return len(self._buf) + self._added.n - self._taken

    async def _make_room(self) -> None:
        """Back-pressure: wait until the flusher took records from a full buffer."""
        room = self._room
        limit = self._delivery_timeout * 3
        deadline = monotonic() + limit
        while self._queued() >= self._buffer_size:
            room.clear()
            if self._queued() < self._buffer_size:
                return
            if not self._kick.is_set():
                self._kick.set()
            remaining = deadline - monotonic()
            if remaining <= 0 or not await aevent_wait(room, remaining):
                raise TimeoutError(
                    f"producer for topic {self.topic!r}: the buffer stayed full "
                    f"({self._queued()} messages) for {limit} s: the broker does not keep up",
                    url=self._broker.url.render(),
                )

    async def _drain(self, timeout: float | None, what: str) -> None:
        """Wait until nothing is buffered or in flight (raising TimeoutError after timeout)."""
        deadline = None if timeout is None else monotonic() + timeout
        idle = self._idle
        while self._buf or self._busy:
            idle.clear()
            if not (self._buf or self._busy):
                break
            if self._stopped:
                raise ClosedError(
                    f"{what}: the producer for topic {self.topic!r} stopped sending with "
                    f"{self._queued() + self._busy} message(s) unconfirmed"
                )
            if not self._kick.is_set():
                self._kick.set()
            remaining = None if deadline is None else deadline - monotonic()
            if (remaining is not None and remaining <= 0) or not await aevent_wait(idle, remaining):
                n = self._queued() + self._busy
                raise TimeoutError(
                    f"{what}: {n} message(s) sent to topic {self.topic!r} still unconfirmed "
                    f"after {timeout} s",
                    url=self._broker.url.render(),
                )

    async def _flush_loop(self) -> None:
        """The flusher: publish buffered records in batches, collect their outcomes."""
        drv = self._drv
        assert drv is not None
        buf = self._buf
        kick = self._kick
        size = self._batch_size
        timeout = self._delivery_timeout
        published: deque[tuple[Sequence[Record], Any, float]] = deque()
        try:
            await self._flush(drv, buf, kick, size, timeout, published)
        finally:
            self._stopped = True
            tickets = self._inflight.tickets
            left = list(tickets.values())
            tickets.clear()
            self._outcomes.resolve(left, [STOPPED] * len(left))
            self._idle.set()

    async def _flush(
        self,
        drv: AsyncProducerDriver,
        buf: deque[Any],
        kick: Any,
        size: int,
        timeout: float,
        published: deque[tuple[Sequence[Record], Any, float]],
    ) -> None:
        linger = self._linger
        while True:
            if not buf and not published:
                if self._stopping:
                    return
                self._idle.set()
                await kick.wait()
            kick.clear()
            # After the clear: a sender that still sees True appended before this point,
            # and the loop looks at the buffer again before it waits.
            self._kicked = False
            # Let the callers that are ready to send append first (a loop turn, not a
            # timer): concurrent senders then share the batch.
            await apause(linger if linger and self._queued() < size and not self._stopping else 0)
            while buf and len(published) < self._max_in_flight:
                n = min(len(buf), size)
                # The length first, then the count: a run among the first n entries was
                # counted before it was appended.
                batch: Sequence[Record]
                if self._added.n == self._taken:  # records only (send())
                    self._busy += n
                    # n popleft() calls from C (the sync twin's senders may append
                    # meanwhile, so no list(buf) + clear()): ~15 ns a record less than a
                    # comprehension.
                    batch = list(map(call, repeat(buf.popleft, n)))
                else:
                    batch = self._take(buf, size)
                self._room.set()
                started = monotonic()
                try:
                    handle = await drv.publish(batch, timeout)
                except Exception as exc:
                    self._settled(batch, None, exc, started)
                    continue
                published.append((batch, handle, started))
            if published:
                batch, handle, started = published.popleft()
                try:
                    outcomes = await drv.wait(handle, timeout)
                except Exception as exc:
                    self._settled(batch, None, exc, started)
                else:
                    self._settled(batch, outcomes, None, started)

    def _take(self, buf: deque[Any], size: int) -> Sequence[Record]:
        """The next batch, of at most ``size`` messages, from a buffer that holds runs.

        Runs of bare values next to each other make one :class:`Values`; records and
        runs of records one list (the two kinds are not mixed in a batch). A run longer
        than what the batch has room for is cut first. Each entry is counted busy before
        it leaves the buffer (``_drain`` never sees a message in neither place).
        """
        bare = False  # the kind of the batch: that of its first part
        parts: list[Any] = []
        room = size
        while room and buf:
            item = buf[0]
            kind = type(item) is Values
            if parts and kind is not bare:
                break
            n = 1 if type(item) is tuple else len(item)
            if n > room:  # cut, then look at the head again (a piece of one is a record)
                self._cut(buf, item, room, size)
                continue
            self._busy += n
            buf.popleft()
            self._taken += n - 1
            parts.append(item)
            bare = kind
            room -= n
        if len(parts) == 1 and type(parts[0]) is not tuple:
            run: Sequence[Record] = parts[0]
            return run
        if bare:
            return Values(list(chain.from_iterable(part.values for part in parts)))
        out: list[Record] = []
        for part in parts:
            if type(part) is tuple:
                out.append(part)
            else:
                out.extend(part)
        return out

    def _cut(self, buf: deque[Any], run: Sequence[Record], first: int, size: int) -> None:
        """Replace the run at the head of ``buf`` by pieces: ``first`` messages, then
        ``size`` at a time (a piece of one message as its record). One pass over the run,
        however large: no slice of what is left per batch."""
        n = len(run)
        pieces: list[Any] = [run[:first]]
        pieces.extend(run[i : i + size] for i in range(first, n, size))
        pieces = [piece[0] if len(piece) == 1 else piece for piece in pieces]
        self._busy += n  # while the run is out of the buffer
        buf.popleft()
        buf.extendleft(reversed(pieces))
        self._busy -= n
        self._taken += len(pieces) - 1

    def _settled(
        self,
        batch: Sequence[Record],
        outcomes: Sequence[BaseException | None] | None,
        exc: BaseException | None,
        started: float,
    ) -> None:
        if self._hooks is not None:
            self._report_publish(batch, outcomes, exc, started)
        tickets, errors = self._inflight.settled(batch, outcomes, exc)
        self._busy -= len(batch)
        if tickets:
            self._outcomes.resolve(tickets, errors)

    def _report_publish(
        self,
        batch: Sequence[Record],
        outcomes: Sequence[BaseException | None] | None,
        exc: BaseException | None,
        started: float,
    ) -> None:
        """Instrumentation only: the publish event of one answered batch. A hook that
        raises here is logged: it must not stop the flusher."""
        assert self._hooks is not None
        errors = outcomes if outcomes is not None else [exc] * len(batch)
        try:
            self._hooks.publish(self._endpoint, batch, errors, monotonic() - started)
        except Exception:
            log.exception("instrumentation hook failed on a publish event of %r", self.topic)
