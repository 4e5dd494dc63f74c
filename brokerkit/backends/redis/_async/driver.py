"""The redis:// driver, async source (the sync twin is generated from this file).

Streams mode: a stream per topic (XADD), a consumer group per brokerkit group
(XGROUP CREATE ... MKSTREAM), XREADGROUP COUNT/BLOCK to fetch, one XACK per ack batch,
XAUTOCLAIM to take over messages left idle past the visibility timeout, XCLAIM ... IDLE
to make nacked and handed-back messages claimable. Pub/Sub mode: PUBLISH / SUBSCRIBE.
Every client error is mapped in one place, ``ErrorMapper`` (see ``_common.error_table``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...._acompat import asleep, monotonic
from ...._async.driver import Outcomes
from ...._spec import ConsumerConfig, ProducerConfig
from ...._types import Capabilities, Guarantee, Record
from ...._url import BrokerURL
from ....errors import ConfigurationError, DeliveryError
from .._codec import (
    F_VALUE,
    Delivery,
    decode_entries,
    decode_frame,
    encode_frame,
    encode_text,
    entry_fields,
)
from .._common import (
    DROP_EMPTY_HANDBACK,
    HANDBACK,
    LONG_IDLE_MS,
    RAW_COMMANDS,
    ErrorMapper,
    backoff,
    client_kwargs,
    consumer_name,
    id_key,
    is_error,
    private_group,
    pubsub_gap,
    pubsub_hard_limit,
    raw_reply,
    reply_text,
    retries_for,
)
from .._compat import (
    PRODUCER_OVERRIDES,
    ARedis,
    ARetry,
    AsyncPubSubReader,
    abound,
    aclose_redis,
)

log = logging.getLogger("brokerkit.redis")

#: What a Redis server accepts as one argument by default (proto-max-bulk-len).
DEFAULT_MAX_BULK = 512 * 1024 * 1024
#: Largest number of commands sent in one pipeline round trip.
PIPELINE_CHUNK = 10_000
#: A fetch that found nothing new looks for claimable messages at most this often.
EMPTY_CLAIM_GAP = 0.05
#: A blocking pub/sub wait without deadline wakes up this often.
PUBSUB_SLICE = 1.0


def _name(raw: bytes) -> str:
    """A stream or group name for a log line."""
    return raw.decode("utf-8", "backslashreplace")


class AsyncRedisProducer:
    """XADD to one stream: each batch is one pipeline round trip (in chunks), bounded by
    one deadline; the replies are the outcomes."""

    __slots__ = ("_client", "_errors", "_head", "_max_age_ms", "max_message_bytes")

    def __init__(
        self,
        client: Any,
        errors: ErrorMapper,
        head: tuple[Any, ...],
        max_bytes: int,
        max_age: float | None = None,
    ) -> None:
        self._client = client
        self._errors = errors
        self._head = head
        self.max_message_bytes = max_bytes
        #: max_age: each batch's XADDs trim entries older than this (MINID ~ now - age).
        self._max_age_ms = None if max_age is None else int(max_age * 1000)

    def _queue(self, pipe: Any, chunk: Sequence[Record]) -> None:
        head = self._head
        for value, key, headers in chunk:
            if key is None and not headers:
                pipe.execute_command(*head, F_VALUE, value)
            else:
                pipe.execute_command(*head, *entry_fields(value, key, headers))

    async def publish(self, records: Sequence[Record], timeout: float | None) -> Outcomes:
        results: list[Any] = []
        if self._max_age_ms is not None:  # once per batch: the oldest id to keep
            oldest = int(time.time() * 1000) - self._max_age_ms
            self._head = (*self._head[:2], "MINID", "~", max(0, oldest), "*")
        with self._errors():
            async with abound(timeout):
                for start in range(0, len(records), PIPELINE_CHUNK):
                    async with self._client.pipeline(transaction=False) as pipe:
                        self._queue(pipe, records[start : start + PIPELINE_CHUNK])
                        results.extend(await pipe.execute(raise_on_error=False))
        return self._outcomes(results)

    def _outcomes(self, results: list[Any]) -> Outcomes:
        if not any(isinstance(r, Exception) for r in results):
            return None
        where = self._errors.where
        return [
            DeliveryError(
                f"redis at {where} refused the message: {reply_text(r)}",
                backend="redis",
                url=self._errors.url,
            )
            if isinstance(r, Exception)
            else None
            for r in results
        ]

    async def wait(self, handle: Outcomes, timeout: float | None) -> Outcomes:
        return handle  # publish() already has Redis's replies

    async def close(self, timeout: float | None) -> None:
        return None


class AsyncRedisPublisher(AsyncRedisProducer):
    """PUBLISH to one channel (Pub/Sub mode, at-most-once)."""

    __slots__ = ()

    def _queue(self, pipe: Any, chunk: Sequence[Record]) -> None:
        head = self._head
        for value, key, headers in chunk:
            pipe.execute_command(*head, encode_frame(value, key, headers))


class AsyncRedisConsumer:
    """One member of a consumer group on one stream.

    Neither client retries by itself: every call retries a lost connection under its own
    bound, so that it returns or raises in time even against a broker that stopped
    answering: fetch() within its timeout plus ``connect_timeout``, settling within
    ``connect_timeout`` (the core retries a SYNC commit further, up to
    ``reconnect_timeout``), close() within its timeout; never beyond ``reconnect_timeout``.
    A read waits at most ``socket_timeout`` for its reply. ``reader`` carries XREADGROUP
    and XAUTOCLAIM, which hand entries over, so that fetch() sees a lost connection and
    recovers what a lost reply handed over (see :meth:`fetch`).
    """

    def __init__(
        self,
        client: Any,
        reader: Any,
        errors: ErrorMapper,
        stream: bytes,
        group: bytes,
        name: bytes,
        *,
        private: bool,
        at_most_once: bool,
        visibility_timeout: float,
        claim_interval: float,
        max_block: float,
        reconnect_timeout: float,
        value_field: bytes = F_VALUE,
        connect_timeout: float = 10.0,
        socket_timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._reader = reader
        self._value_field = value_field
        self._errors = errors
        self._stream = stream
        self._group = group
        self._name = name
        self._private = private
        self._noack = at_most_once
        self._vt_ms = max(1, int(visibility_timeout * 1000))
        #: Entries handed to the core and not settled yet (in its prefetch buffer, with
        #: the application, or acked there but not sent yet): id -> when their idle time
        #: was last reset. Older than this, the next call into the driver resets it
        #: (XCLAIM ... IDLE 0 JUSTID, which does not count a delivery), so no member claims
        #: what this one still holds while it is alive and busy.
        self._held: dict[bytes, float] = {}
        self._refresh_after = visibility_timeout / 4
        self._interval = claim_interval
        self._max_block = max_block
        self._reconnect_timeout = reconnect_timeout
        self._connect_timeout = connect_timeout
        self._read_bound = min(socket_timeout, connect_timeout)
        self._next_claim = 0.0  # a new member looks for orphaned messages at once
        self._last_claim = 0.0
        self._cursor = b"0-0"
        #: The highest entry id this member has handed out. Every entry a ``>`` read
        #: hands over is above it, so after a lost connection the entries of ours above it
        #: in the pending-entries list are exactly those of a reply that was lost.
        self._high = b"0-0"
        #: True after a lost connection: the next fetch first reads back our own pending
        #: entries above ``_high`` (``XREADGROUP ... STREAMS key <_high>``).
        self._recover = False
        #: Nacks with a delay: [due (monotonic), ids, armed]. "armed": the idle time set on
        #: the entries makes them claimable at ``due``; else (delay > visibility timeout)
        #: this member keeps them until ``due - visibility_timeout``.
        self._delayed: list[list[Any]] = []
        self._read_head = ("XREADGROUP", "GROUP", group, name, "COUNT")
        self._read_tail: tuple[Any, ...] = (
            ("NOACK", "STREAMS", stream, ">") if at_most_once else ("STREAMS", stream, ">")
        )

    async def create_group(self, start: bytes) -> None:
        try:
            await self._client.execute_command(
                "XGROUP", "CREATE", self._stream, self._group, start, "MKSTREAM"
            )
        except ResponseError as exc:
            if not is_error(exc, "BUSYGROUP"):
                raise

    async def _recreate_group(self) -> None:
        """The stream (and its groups) vanished, e.g. a server restarted without
        persistence or the key was deleted: start again with what is there now."""
        await self.create_group(b"0")
        self._high = self._cursor = b"0-0"
        self._recover = False

    async def _read_command(self, *args: Any) -> Any:
        """A command that hands entries over (XREADGROUP, XAUTOCLAIM), on the reader.
        None when the group had vanished and was made again: NOGROUP (the stream and its
        groups are gone), UNBLOCKED (the stream was deleted while a read blocked on it)."""
        try:
            return await self._reader.execute_command(*args)
        except ResponseError as exc:
            if not (is_error(exc, "NOGROUP") or is_error(exc, "UNBLOCKED")):
                raise
            await self._recreate_group()
            return None

    # -- fetching ------------------------------------------------------------------------

    async def fetch(self, max_messages: int, timeout: float | None) -> list[Delivery]:
        """Fetch, retrying a lost connection (backoff 50 ms to 1 s) for reconnect_timeout.

        A read whose reply was lost with its connection has already moved its entries to
        this member's pending list; after the reconnect they are read back from there at
        once (delivery count 2: Redis counts the lost delivery), not after the visibility
        timeout. (A lost XAUTOCLAIM reply is the exception: those entries come back when
        the visibility timeout has passed again.)
        """
        budget = min(self._reconnect_timeout, (timeout or 0.0) + self._connect_timeout)
        with self._errors():
            failures = 0
            lost_at = 0.0
            while True:
                try:
                    out = await self._fetch(max_messages, timeout)
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    if isinstance(exc, AuthenticationError):
                        raise
                    self._recover = not self._noack
                    now = monotonic()
                    if not failures:
                        lost_at = now
                    failures += 1
                    stream, group = _name(self._stream), _name(self._group)
                    if self._give_up(exc, now - lost_at, budget):
                        log.warning(
                            "redis at %s: gave up reconnecting after %.1f s "
                            "(stream %r, group %r): %s",
                            self._errors.where,
                            now - lost_at,
                            stream,
                            group,
                            exc,
                        )
                        raise
                    log.warning(
                        "redis at %s: connection lost while reading stream %r (group %r): "
                        "%s; reconnect attempt %d",
                        self._errors.where,
                        stream,
                        group,
                        exc,
                        failures,
                    )
                    await asleep(min(backoff().compute(failures), budget - (now - lost_at)))
                    continue
                if out and not self._noack:
                    self._held.update(dict.fromkeys([d[0] for d in out], monotonic()))
                return out

    async def _refresh(self, now: float) -> None:
        """Reset the idle time of the entries held longer than ``_refresh_after`` (one
        XCLAIM JUSTID per 1000; the delivery counts stay as they are)."""
        held = self._held
        if not held or now - next(iter(held.values())) < self._refresh_after:
            return
        old = []
        for mid, since in held.items():
            if now - since < self._refresh_after:
                break
            old.append(mid)
        for start in range(0, len(old), 1000):
            await self._xclaim(self._name, old[start : start + 1000], 0)
        for mid in old:
            del held[mid]
            held[mid] = now

    async def _fetch(self, max_messages: int, timeout: float | None) -> list[Delivery]:
        now = monotonic()
        if self._recover:
            out = await self._read_back(max_messages)
            if out:
                return out
        if not self._noack and now >= self._next_claim:
            out = await self._claim(max_messages, now)
            if out:
                return out
        deadline = None if timeout is None else now + timeout
        while True:
            block = self._max_block
            if not self._noack:
                block = min(block, self._next_claim - now)
            if deadline is not None:
                block = min(block, deadline - now)
            out = await self._read(max_messages, block)
            if out:
                return out
            now = monotonic()
            if not self._noack and now - self._last_claim >= EMPTY_CLAIM_GAP:
                out = await self._claim(max_messages, now)
                if out:
                    return out
            if deadline is not None and now >= deadline:
                return []

    async def _read(self, count: int, block: float) -> list[Delivery]:
        args: tuple[Any, ...] = (*self._read_head, count)
        if block > 0:
            args += ("BLOCK", max(1, int(block * 1000)))
        args += self._read_tail
        reply = await self._read_command(*args)
        if not reply:
            return []
        entries = reply[0][1]
        if entries:
            self._high = entries[-1][0]
        return decode_entries(entries, None, self._value_field)

    async def _read_back(self, count: int) -> list[Delivery]:
        """After a lost connection: our pending entries above ``_high``, the ones a lost
        reply handed over. Reading them back counts as a delivery (and resets their idle
        time), as it should: they are delivered now."""
        reply = await self._read_command(
            *self._read_head, count, "STREAMS", self._stream, self._high
        )
        entries = reply[0][1] if reply else []
        if not entries:
            self._recover = False
            return []
        out = await self._with_counts([e for e in entries if e[1] is not None])
        self._high = entries[-1][0]
        return out

    async def _claim(self, count: int, now: float) -> list[Delivery]:
        """Take over entries idle for longer than the visibility timeout (XAUTOCLAIM),
        with their delivery counts from the pending-entries list."""
        self._last_claim = now
        self._next_claim = now + self._interval
        if self._delayed:
            await self._tend_delayed(now)
        await self._refresh(now)  # what this member holds is not idle: never claim it back
        reply = await self._read_command(
            "XAUTOCLAIM",
            self._stream,
            self._group,
            self._name,
            self._vt_ms,
            self._cursor,
            "COUNT",
            count,
        )
        if reply is None:
            return []
        self._cursor = reply[0]
        held = self._held
        entries = [entry for entry in reply[1] if entry[1] is not None and entry[0] not in held]
        if not entries:
            return []
        self._next_claim = now  # recovering: there may be more to claim
        # What close() handed back may all be taken now: then the hand-back member goes.
        await self._client.execute_command(
            "EVAL", DROP_EMPTY_HANDBACK, 1, self._stream, self._group, HANDBACK
        )
        out = await self._with_counts(entries)
        top = max(entries, key=lambda entry: id_key(entry[0]))[0]
        if id_key(top) > id_key(self._high):
            self._high = top
        return out

    async def _with_counts(self, entries: list[Any]) -> list[Delivery]:
        """Decode entries that may have been delivered before, with their delivery counts
        from the pending-entries list (one pipelined XPENDING per entry)."""
        if not entries:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for mid, _ in entries:
                pipe.execute_command("XPENDING", self._stream, self._group, mid, mid, 1)
            pending = await pipe.execute()
        counts = [int(p[0][3]) if p else 1 for p in pending]
        return decode_entries(entries, counts, self._value_field)

    async def _xclaim(self, owner: bytes, ids: Sequence[Any], idle_ms: int) -> None:
        """Give ``ids`` to ``owner`` with this idle time; the delivery count is unchanged."""
        await self._client.execute_command(
            "XCLAIM", self._stream, self._group, owner, 0, *ids, "IDLE", idle_ms, "JUSTID"
        )

    async def _tend_delayed(self, now: float) -> None:
        keep = []
        for item in self._delayed:
            due, ids, armed = item
            remaining_ms = int((due - now) * 1000)
            if remaining_ms <= 0:
                if not armed:
                    await self._xclaim(self._name, ids, LONG_IDLE_MS)
                continue
            if not armed:
                if remaining_ms <= self._vt_ms:
                    await self._xclaim(self._name, ids, self._vt_ms - remaining_ms)
                    item[2] = True
                    self._next_claim = min(self._next_claim, due)
                else:
                    await self._xclaim(self._name, ids, 0)  # not yet: keep it ours
            keep.append(item)
        self._delayed = keep

    # -- settling ------------------------------------------------------------------------

    def _give_up(self, exc: BaseException, spent: float, budget: float) -> bool:
        """After a failed attempt: stop when the budget is spent, or when the broker did
        not answer (a timeout) and too little of the budget is left for another wait
        of that length (one attempt against a silent broker costs socket_timeout)."""
        left = budget - spent
        return left <= 0 or (isinstance(exc, RedisTimeoutError) and left < self._read_bound)

    async def _bounded(self, budget: float, call: Any, *args: Any) -> Any:
        """``await call(*args)``, retrying a lost connection (backoff 50 ms to 1 s) until
        ``budget`` seconds have passed; then the last error goes up (mapped)."""
        failures = 0
        start = monotonic()
        with self._errors():
            while True:
                try:
                    return await call(*args)
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    if isinstance(exc, AuthenticationError):
                        raise
                    failures += 1
                    spent = monotonic() - start
                    if self._give_up(exc, spent, budget):
                        raise
                    await asleep(min(backoff().compute(failures), budget - spent))

    async def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        """Acks (one XACK) and nacks (XCLAIM ... IDLE, by delay) of a batch, retrying a
        lost connection for at most connect_timeout and never beyond reconnect_timeout
        (the core decides whether to go on)."""
        held = self._held
        if held:
            for token in acks:
                held.pop(token, None)
            for token, _ in nacks:
                held.pop(token, None)
        await self._bounded(
            min(self._connect_timeout, self._reconnect_timeout), self._settle, acks, nacks
        )

    async def _settle(self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]]) -> None:
        await self._refresh(monotonic())
        if acks:
            try:
                await self._client.execute_command("XACK", self._stream, self._group, *acks)
            except ResponseError as exc:
                if not is_error(exc, "NOGROUP"):
                    raise
                # The group is gone with its pending-entries list: nothing to ack.
        if nacks:
            by_delay: dict[float | None, list[Any]] = {}
            for token, delay in nacks:
                by_delay.setdefault(delay, []).append(token)
            for delay, tokens in by_delay.items():
                await self._nack(tokens, delay)

    async def _nack(self, tokens: list[Any], delay: float | None) -> None:
        delay_ms = int((delay or 0) * 1000)
        now = monotonic()
        if delay_ms <= 0:
            await self._xclaim(self._name, tokens, LONG_IDLE_MS)
            self._next_claim = now
        elif delay_ms <= self._vt_ms:
            await self._xclaim(self._name, tokens, self._vt_ms - delay_ms)
            due = now + delay_ms / 1000
            self._delayed.append([due, tokens, True])
            self._next_claim = min(self._next_claim, due)
        else:
            await self._xclaim(self._name, tokens, 0)
            self._delayed.append([now + delay_ms / 1000, tokens, False])

    async def close(self, timeout: float | None) -> None:
        """Hand back what this member holds and leave the group, within ``timeout``
        (what could not be handed back by then comes back after the visibility timeout)."""
        self._held.clear()
        budget = self._reconnect_timeout if timeout is None else timeout
        await self._bounded(min(budget, self._reconnect_timeout), self._close)

    async def _close(self) -> None:
        client = self._client
        stream, group = self._stream, self._group
        try:
            if self._private:
                await client.execute_command("XGROUP", "DESTROY", stream, group)
                return
            if not self._noack:
                await self._hand_back()
            pending = await client.execute_command(
                "XPENDING", stream, group, "-", "+", 1, self._name
            )
            if not pending:  # never delete a member that holds messages: they would be lost
                await client.execute_command("XGROUP", "DELCONSUMER", stream, group, self._name)
        except ResponseError as exc:
            if not is_error(exc, "NOGROUP"):
                raise

    async def _hand_back(self) -> None:
        """Give every message this member holds to HANDBACK, idle enough that the next
        XAUTOCLAIM of any member takes it (delayed nacks keep what is left of the delay,
        up to the visibility timeout)."""
        now = monotonic()
        for due, ids, _ in self._delayed:
            remaining_ms = int((due - now) * 1000)
            if remaining_ms > 0:
                await self._xclaim(HANDBACK, ids, max(0, self._vt_ms - remaining_ms))
        self._delayed = []
        last = None
        while True:
            pending = await self._client.execute_command(
                "XPENDING", self._stream, self._group, "-", "+", 1000, self._name
            )
            if not pending or pending[0][0] == last:
                return
            last = pending[0][0]
            await self._xclaim(HANDBACK, [p[0] for p in pending], LONG_IDLE_MS)


class AsyncRedisSubscriber:
    """A Pub/Sub subscription to one channel (at-most-once: nothing to ack).

    Messages are read through :class:`AsyncPubSubReader`, which never gives up on a
    message that has begun to arrive (see its sync twin for why that matters).

    A lost connection is reopened and the channel subscribed again by redis-py; what was
    published meanwhile is lost (Redis also cuts a subscriber that falls behind, at its
    client-output-buffer-limit). At-most-once allows that loss, not silence: the
    confirmation of such a second SUBSCRIBE is logged at WARNING and the next fetch
    raises BrokerConnectionError saying so (``gaps`` counts them); the one after goes on.
    """

    def __init__(self, pubsub: Any, errors: ErrorMapper, read_timeout: float) -> None:
        self._pubsub = pubsub
        self._reader = AsyncPubSubReader(pubsub, read_timeout)
        self._errors = errors
        self._seq = 0
        self._channel = b""
        self._bytes = 0
        self._limit: int | None = None
        self._gap: BaseException | None = None
        self.gaps = 0

    async def subscribe(self, channel: bytes, timeout: float, limit: int | None = None) -> None:
        """Subscribe and wait for Redis to confirm it."""
        self._channel = channel
        self._limit = limit
        with self._errors():
            await self._pubsub.subscribe(channel)
            deadline = monotonic() + timeout
            while True:
                msg = await self._reader.get_message(max(0.0, deadline - monotonic()))
                if msg is not None and msg["type"] == "subscribe":
                    return
                if monotonic() >= deadline:
                    raise TimeoutError(f"redis did not confirm SUBSCRIBE within {timeout} s")

    async def fetch(self, max_messages: int, timeout: float | None) -> list[Delivery]:
        if self._gap is not None:
            gap, self._gap = self._gap, None
            raise gap
        reader = self._reader
        out: list[Delivery] = []
        deadline = None if timeout is None else monotonic() + timeout
        with self._errors():
            while len(out) < max_messages:
                if out:
                    wait = 0.0  # take what has arrived, wait for nothing more
                elif deadline is None:
                    wait = PUBSUB_SLICE
                else:
                    wait = max(0.0, deadline - monotonic())
                msg = await reader.get_message(wait)
                if msg is None:
                    if out or (deadline is not None and monotonic() >= deadline):
                        break
                    continue
                if msg["type"] != "message":
                    if msg["type"] == "subscribe":  # subscribed again: a gap
                        self.gaps += 1
                        gap = pubsub_gap(
                            self._errors.where,
                            self._channel,
                            self._seq,
                            self._bytes,
                            self._limit,
                            self.gaps,
                        )
                        gap.url = self._errors.url
                        if out:
                            self._gap = gap  # hand out what came before the gap first
                            break
                        raise gap
                    continue
                data = msg["data"]
                self._bytes += len(data)
                value, key, headers = decode_frame(data)
                self._seq += 1
                out.append(Delivery(None, str(self._seq), value, key, headers, None, 1))
        return out

    async def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        return None  # at-most-once: nothing to settle

    async def close(self, timeout: float | None) -> None:
        try:
            await aclose_redis(self._pubsub)
        except Exception as exc:
            log.warning("closing a Pub/Sub subscription at redis %s: %s", self._errors.where, exc)


class AsyncRedisDriver:
    """Two redis-py clients (connection pools) per broker: one that retries a lost
    connection by itself (for commands that may safely run twice), and one that does not
    (at-most-once producers, and the consumers' fetches, which retry by themselves)."""

    def __init__(
        self, url: BrokerURL, options: Mapping[str, Any], capabilities: Capabilities
    ) -> None:
        self._options = options
        self._kwargs = client_kwargs(url, options)
        self._errors = ErrorMapper(
            self._kwargs["host"], self._kwargs["port"], url.password, url=url
        )
        self._pubsub = options["mode"] == "pubsub"
        self._prefix = options["key_prefix"]
        self._maxlen: int | None = options["maxlen"]
        self._max_age: float | None = options["max_age"]
        if self._maxlen is not None and self._max_age is not None:
            raise ConfigurationError(
                "give maxlen or max_age, not both: Redis trims a stream by count (MAXLEN) "
                "or by age (MINID) on each XADD",
                backend="redis",
                url=url.render(),
            )
        self._client: Any = None
        self._once: Any = None
        self._limit: int | bool | None = False  # not asked yet
        self._producers: list[Any] = [None, None]
        self._max_bytes: int | None = None

    def _new_client(self, retries: int, **overrides: Any) -> Any:
        retry = ARetry(backoff() if retries else NoBackoff(), retries, self._errors.where)
        client = ARedis(**{**self._kwargs, **overrides}, retry=retry, protocol=2)
        for command in RAW_COMMANDS:
            client.set_response_callback(command, raw_reply)
        return client

    async def connect(self, timeout: float) -> None:
        probe = self._new_client(0, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            with self._errors(connecting=True):
                await probe.ping()
        finally:
            with contextlib.suppress(Exception):
                await aclose_redis(probe)
        self._client = self._new_client(retries_for(self._options["reconnect_timeout"]))
        log.info(
            "connected to redis at %s, database %s (%s)",
            self._errors.where,
            self._kwargs["db"],
            "pubsub" if self._pubsub else "streams",
        )

    def _live(self) -> Any:
        assert self._client is not None, "connect() first"
        return self._client

    def _no_retry(self) -> Any:
        """The client without retries (made on first use)."""
        if self._once is None:
            self._once = self._new_client(0)
        return self._once

    def _key(self, topic: str) -> bytes:
        return encode_text(self._prefix + topic)

    def _producer_client(self, retrying: bool) -> Any:
        """The clients producers share: with retries (at-least-once) or without (a retried
        command could store an at-most-once message twice). Each batch is bounded by one
        deadline (see ``_compat.PRODUCER_OVERRIDES``), not by a timeout per reply."""
        index = 0 if retrying else 1
        client = self._producers[index]
        if client is None:
            retries = retries_for(self._options["reconnect_timeout"]) if retrying else 0
            client = self._producers[index] = self._new_client(retries, **PRODUCER_OVERRIDES)
        return client

    async def _max_bulk(self) -> int:
        """The largest value Redis accepts (proto-max-bulk-len; 512 MiB if it won't say)."""
        if self._max_bytes is None:
            self._max_bytes = DEFAULT_MAX_BULK
            with contextlib.suppress(Exception):
                reply = await self._live().execute_command("CONFIG", "GET", "proto-max-bulk-len")
                if reply and len(reply) >= 2:
                    self._max_bytes = int(reply[1])
        return self._max_bytes

    async def open_producer(self, topic: str, config: ProducerConfig) -> AsyncRedisProducer:
        client = self._producer_client(config.guarantee is Guarantee.AT_LEAST_ONCE)
        key = self._key(topic)
        max_bytes = await self._max_bulk()
        if self._pubsub:
            return AsyncRedisPublisher(client, self._errors, ("PUBLISH", key), max_bytes)
        trim = ("MAXLEN", "~", self._maxlen) if self._maxlen else ()
        return AsyncRedisProducer(
            client, self._errors, ("XADD", key, *trim, "*"), max_bytes, self._max_age
        )

    async def open_consumer(
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> AsyncRedisConsumer | AsyncRedisSubscriber:
        client = self._live()
        opts = self._options
        if self._pubsub:
            subscriber = AsyncRedisSubscriber(client.pubsub(), self._errors, opts["socket_timeout"])
            await subscriber.subscribe(
                self._key(topic), opts["connect_timeout"], await self._pubsub_limit(client)
            )
            return subscriber
        visibility = (
            config.ack_deadline
            or config.options.get("visibility_timeout")
            or opts["visibility_timeout"]
        )
        consumer = AsyncRedisConsumer(
            self._no_retry(),
            self._no_retry(),
            self._errors,
            self._key(topic),
            encode_text(group) if group is not None else private_group(),
            consumer_name(opts),
            private=group is None,
            at_most_once=config.guarantee is Guarantee.AT_MOST_ONCE,
            visibility_timeout=visibility,
            claim_interval=opts["claim_interval"],
            max_block=min(opts["claim_interval"], opts["socket_timeout"] / 2),
            reconnect_timeout=opts["reconnect_timeout"],
            value_field=encode_text(opts["value_field"]),
            connect_timeout=opts["connect_timeout"],
            socket_timeout=opts["socket_timeout"],
        )
        with self._errors():
            await consumer.create_group(b"0" if opts["group_start"] == "earliest" else b"$")
        return consumer

    async def _pubsub_limit(self, client: Any) -> int | None:
        """The server's hard output-buffer limit for subscribers (for the warning a cut
        subscriber logs), asked once; None where CONFIG is not allowed."""
        if self._limit is False:
            try:
                reply = await client.execute_command("CONFIG", "GET", "client-output-buffer-limit")
            except Exception:
                reply = None
            self._limit = pubsub_hard_limit(reply)
        return self._limit

    async def close(self) -> None:
        if self._client is not None:
            log.info("closing the connection to redis at %s", self._errors.where)
        for client in (self._client, self._once, *self._producers):
            if client is not None:
                try:
                    await aclose_redis(client)
                except Exception as exc:
                    log.warning(
                        "closing the connection to redis at %s: %s", self._errors.where, exc
                    )
        self._client = self._once = None
        self._producers = [None, None]
