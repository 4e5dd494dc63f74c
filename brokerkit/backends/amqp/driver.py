"""The amqp:// driver: a thin translation of the seam to aio-pika (robust connection and
channels) and, on the per-message paths, to its aiormq channel.

- One robust connection per broker; one channel per producer and per consumer. aio-pika
  restores a lost connection and its channels; declarations made on a channel are made
  again (``declare=true``); each consumer consumes again itself on every reopened
  channel, so it also sees a consumer cancelled by the broker (queue deleted).
- Producing: persistent messages with publisher confirms, many in flight: publish() writes
  a batch and returns; wait() gathers the confirms. At-most-once: no confirms, transient.
- Consuming: basic.consume with basic.qos prefetch; deliveries are buffered and fetched in
  batches; acks are one ``multiple=True`` ack for the longest settled run of delivery
  tags, single acks for the rest. Delivery tags belong to a channel: a token is
  ``(generation, tag, message)`` and tokens of a channel that was lost are not settled
  (the broker delivers those messages again).
- nack(delay): the message is republished to a per-queue, per-delay queue with a message
  TTL that dead-letters it back to the group's queue through the default exchange, and the
  original is acked once the broker confirmed the copy.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, cast

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from aiormq.abc import ChannelFrame, DeliveredMessage
from pamqp.body import ContentBody
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from ..._types import Guarantee
from ..._url import BrokerURL
from ..toolkit import (
    BrokerConnectionError,
    Capabilities,
    ConfigurationError,
    ConsumerConfig,
    Delivery,
    Outcomes,
    ProducerConfig,
    Record,
    SettleLostError,
    TimeoutError,
)
from . import _common as c

log: logging.Logger = logging.getLogger("brokerkit.amqp")

_Ack = Basic.Ack
_Properties = Basic.Properties
PERSISTENT = 2
#: RabbitMQ's default ``max_message_size`` (128 MiB since 3.8).
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
TRANSIENT = 1
#: A private queue (group=None) left behind by a crashed process is deleted this long after
#: its last consumer went away.
PRIVATE_QUEUE_EXPIRY_MS = 300_000


class _Handle:
    """A published batch: a confirm future per message (in order) and what the error
    messages and the clean-up need."""

    __slots__ = ("confirms", "exchange", "ids", "keys", "underlay")

    def __init__(
        self,
        confirms: list[asyncio.Future[Any]],
        exchange: str,
        keys: list[str],
        underlay: Any,
        ids: list[str] | None,
    ) -> None:
        self.confirms = confirms
        self.exchange = exchange
        self.keys = keys
        self.underlay = underlay
        self.ids = ids


class AsyncAmqpProducer:
    """A producer driver: one channel (with publisher confirms for at-least-once)."""

    def __init__(
        self,
        driver: AsyncAmqpDriver,
        channel: AbstractRobustChannel,
        exchange: str,
        config: ProducerConfig,
    ) -> None:
        opts = config.options
        self._driver = driver
        self._errors = driver.errors
        self._channel = channel
        self._exchange = exchange
        self._confirm = config.guarantee is Guarantee.AT_LEAST_ONCE
        declare = opts.get("declare")
        if declare is None:
            declare = driver.options["declare"]
        mandatory = opts.get("mandatory")
        # A returned message is reported through its confirm: none without confirms.
        self._mandatory: bool = self._confirm and (
            (not declare) if mandatory is None else bool(mandatory)
        )
        self._routing_key: str | None = opts.get("routing_key")
        mode = PERSISTENT if self._confirm else TRANSIENT
        ttl = opts.get("ttl")
        self._props: dict[str, Any] = {
            "delivery_mode": mode,
            "priority": opts.get("priority"),
            "expiration": None if ttl is None else str(int(ttl * 1000)),
        }
        #: RabbitMQ's default max_message_size (the broker does not advertise its own);
        #: the producer option max_message_bytes overrides it.
        self.max_message_bytes: int = config.max_message_bytes or MAX_MESSAGE_BYTES
        self._id_prefix = f"{uuid.uuid4().hex[:16]}-"
        self._serial = 0

    async def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        underlay = await self._driver.underlay(self._channel, timeout)
        fixed = self._routing_key
        if fixed is not None:
            keys = [fixed] * len(records)
        else:
            key_of = c.routing_key_of
            keys = [key_of(key) for _, key, _ in records]
        with self._errors():
            return await self._pipeline(underlay, records, keys, timeout)

    async def _pipeline(
        self, underlay: Any, records: Sequence[Record], keys: list[str], timeout: float | None
    ) -> _Handle | None:
        """Publish a batch as one write; in confirm mode with a confirm future per message.

        What ``basic_publish`` of aiormq does per message (under the channel lock: the next
        delivery tags, a future each in ``confirmations``, the message id mapped to its tag
        for returned messages), done once per batch: one lock, one ``ChannelFrame`` for the
        whole batch, no task and no round trip per message.
        """
        exchange = self._exchange
        mandatory = self._mandatory
        confirm_mode = self._confirm
        base = self._props
        max_body = underlay.max_content_size
        confirmations = underlay.confirmations
        by_id = underlay.message_id_delivery_tag
        create = underlay.create_future
        prefix = self._id_prefix
        serial = self._serial
        frames: list[Any] = []
        add = frames.append
        confirms: list[asyncio.Future[Any]] = []
        ids: list[str] = []
        publishes: dict[str, Any] = {}
        async with asyncio.timeout(timeout), underlay.lock:
            first = tag = underlay.delivery_tag
            try:
                for (value, key, headers), rk in zip(records, keys, strict=True):
                    tag += 1
                    serial += 1
                    mid = f"{prefix}{serial}"
                    if key is None and not headers:
                        props = _Properties(message_id=mid, **base)
                    else:
                        table: dict[str, Any] = dict(headers) if headers else {}
                        if key is not None:
                            table[c.H_KEY] = bytearray(key)
                        props = _Properties(message_id=mid, headers=table, **base)
                    publish = publishes.get(rk)
                    if publish is None:
                        publish = publishes[rk] = Basic.Publish(
                            exchange=exchange, routing_key=rk, mandatory=mandatory
                        )
                    add(publish)
                    add(ContentHeader(properties=props, body_size=len(value)))
                    if value:
                        if len(value) < max_body:
                            add(ContentBody(value))
                        else:
                            for i in range(0, len(value), max_body):
                                add(ContentBody(value[i : i + max_body]))
                    if confirm_mode:
                        confirm = create()
                        confirmations[tag] = confirm
                        confirms.append(confirm)
                        if mandatory:
                            by_id[mid] = tag
                            ids.append(mid)
                if confirm_mode:
                    underlay.delivery_tag = tag
                await underlay.write_queue.put(
                    ChannelFrame.marshall(channel_number=underlay.number, frames=frames)
                )
            except BaseException:
                # Nothing of the batch reached the writer: give its tags back.
                underlay.delivery_tag = first
                for t in range(first + 1, tag + 1):
                    confirmations.pop(t, None)
                for mid in ids:
                    by_id.pop(mid, None)
                for confirm in confirms:
                    confirm.cancel()
                raise
        self._serial = serial
        if not confirm_mode:
            return None
        return _Handle(confirms, exchange, keys, underlay, ids or None)

    async def wait(self, handle: Any, timeout: float | None) -> Outcomes:
        if handle is None:
            return None
        confirms: list[asyncio.Future[Any]] = handle.confirms
        last = confirms[-1]
        if not last.done() or not confirms[0].done():
            # The broker confirms in order (often many at once): wait for the last, then
            # for whatever is still open.
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.wait((last,))
                    pending = [f for f in confirms if not f.done()]
                    if pending:
                        await asyncio.wait(pending)
            except builtins.TimeoutError:
                raise TimeoutError(
                    f"RabbitMQ at {self._errors.where} did not confirm a batch of "
                    f"{len(confirms)} message(s) within {timeout} s",
                    backend="amqp",
                ) from None
        if handle.ids is not None:
            by_id = handle.underlay.message_id_delivery_tag
            for mid in handle.ids:
                by_id.pop(mid, None)
            handle.ids = None
        bad = [i for i, f in enumerate(confirms) if f.cancelled() or f.exception() is not None]
        if not bad:
            results = [f.result() for f in confirms]
            if all(type(r) is _Ack for r in results):
                return None
        outcome = self._errors.outcome
        out: list[BaseException | None] = []
        for f, rk in zip(confirms, handle.keys, strict=True):
            if f.cancelled():
                out.append(outcome(asyncio.CancelledError(), handle.exchange, rk))
            elif f.exception() is not None:
                out.append(outcome(f.exception(), handle.exchange, rk))
            else:
                r = f.result()
                out.append(None if type(r) is _Ack else outcome(r, handle.exchange, rk))
        return out

    async def close(self, timeout: float | None) -> None:
        await self._driver.close_channel(self._channel, timeout)


class AsyncAmqpConsumer:
    """A consumer driver: one channel, basic.qos + basic.consume, batched settles."""

    def __init__(
        self,
        driver: AsyncAmqpDriver,
        channel: AbstractRobustChannel,
        queue: str,
        config: ConsumerConfig,
        *,
        qos: int,
        counts: bool,
        delete_on_close: bool,
    ) -> None:
        self._driver = driver
        self._errors = driver.errors
        self._channel = channel
        self._queue = queue
        # At-most-once acks each message as fetch() hands it to the core (before the
        # application sees it); what RabbitMQ pushed ahead stays unacked, so closing the
        # channel gives it back to the group instead of losing it.
        self._at_most_once = config.guarantee is Guarantee.AT_MOST_ONCE
        self._no_ack = False
        self._qos = qos
        self._counts = counts
        self._delete_on_close = delete_on_close
        self._buf: deque[Delivery] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._gen = 0
        self._underlay: Any = None
        self._tag: str | None = None
        self._pending: deque[int] = deque()
        """Delivery tags of the current channel not settled yet, in delivery order."""
        self._settled: set[int] = set()
        """Tags settled one by one while an earlier tag was still pending."""
        self._failure: BaseException | None = None
        self._closed = False
        self._delay_channel: AbstractRobustChannel | None = None

    # -- subscribing -------------------------------------------------------------------

    async def start(self) -> None:
        """Consume on the channel's current underlying channel (also after each reopen)."""
        timeout = self._driver.request_timeout
        with self._errors():
            underlay = await self._driver.underlay(self._channel, timeout)
            self._gen += 1
            self._underlay = underlay
            self._pending.clear()
            self._settled.clear()
            gen = self._gen
            if self._buf:  # from a lost channel: the broker delivers them again
                keep = [d for d in self._buf if d.token[0] == gen]
                self._buf.clear()
                self._buf.extend(keep)
            underlay.on_consumer_cancel_callbacks.add(self._on_cancel)
            if not self._no_ack:
                await underlay.basic_qos(prefetch_count=self._qos, timeout=timeout)
            ok = await underlay.basic_consume(
                self._queue, self._on_message, no_ack=self._no_ack, timeout=timeout
            )
            self._tag = ok.consumer_tag

    async def _on_reopen(self, *_: Any) -> None:
        if self._closed or self._failure is not None or self._tag is None:
            return  # (not consuming yet: the first fetch() starts)
        try:
            await self.start()
        except Exception as exc:  # reported by the next fetch()
            self._fail(exc)

    def _on_cancel(self, frame: Any) -> None:
        if frame.consumer_tag == self._tag and not self._closed:
            self._fail(c.cancelled_error(self._queue))

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_message(self, message: DeliveredMessage) -> None:
        props = message.header.properties
        headers = props.headers
        tag: int = cast(Any, message.delivery).delivery_tag
        key = None
        count = 1
        table = None
        if headers:
            table = {}
            for name, value in headers.items():
                if name not in c.STRIP or not c.is_broker_header(name, value, headers):
                    table[name] = value if type(value) is str else c.text(value)
            raw_key = headers.get(c.H_KEY)
            if raw_key is not None:
                key = (
                    bytes(raw_key)
                    if isinstance(raw_key, bytes | bytearray)
                    else c.text(raw_key).encode()
                )
            if self._counts:
                broker_count = headers.get("x-delivery-count")
                if type(broker_count) is int:  # (a str one is the application's header)
                    count += broker_count
                count += c.number(headers.get(c.H_DELIVERIES))
        stamp = props.timestamp
        self._buf.append(
            Delivery(
                (self._gen, tag, message),
                props.message_id or str(tag),
                message.body,
                key,
                table,
                stamp.timestamp() if stamp is not None else None,
                count,
            )
        )
        if not self._no_ack:
            self._pending.append(tag)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the seam ----------------------------------------------------------------------

    async def fetch(self, max_messages: int, timeout: float | None) -> Sequence[Delivery]:
        if self._tag is None and not self._closed and self._failure is None:
            # Consume from the first fetch on: a member that does not fetch yet holds no
            # messages back from the others (RabbitMQ pushes up to basic.qos at once).
            await self.start()
        buf = self._buf
        if not buf:
            if self._failure is not None:
                raise self._failure
            if timeout is not None and timeout <= 0:
                return []
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(waiter, timeout)
            except builtins.TimeoutError:
                return []
            finally:
                self._waiter = None
            if not buf:
                if self._failure is not None:
                    raise self._failure
                return []
        if len(buf) <= max_messages:
            out = list(buf)
            buf.clear()
        else:
            out = [buf.popleft() for _ in range(max_messages)]
        if self._at_most_once:
            gen = self._gen
            tags = {d.token[1] for d in out if d.token[0] == gen}
            if tags:
                with self._errors():
                    await self._ack(self._underlay, tags)
        return out

    async def settle(
        self,
        acks: Sequence[Any],
        nacks: Sequence[tuple[Any, float | None]],
        wait: bool,
    ) -> None:
        if self._at_most_once:
            return  # acked as fetched
        gen = self._gen
        underlay = self._underlay
        stale = 0
        with self._errors():
            tags: set[int] = set()
            for token in acks:
                if token[0] == gen:
                    tags.add(token[1])
                else:
                    stale += 1
            for token, delay in nacks:
                if token[0] != gen:
                    continue
                if delay:
                    await self._delay(token[2], delay)
                    tags.add(token[1])
                else:
                    await underlay.basic_nack(token[1], requeue=True, wait=False)
                    self._settled.add(token[1])
            sent = bool(tags) or bool(nacks)
            if tags:
                await self._ack(underlay, tags)
            if wait and sent:
                # AMQP acks have no reply: a synchronous method after them returns once
                # the channel has processed everything sent before it.
                await underlay.basic_qos(
                    prefetch_count=self._qos, timeout=self._driver.request_timeout
                )
        if stale:
            raise SettleLostError(
                f"the channel to RabbitMQ at {self._errors.where} was lost before {stale} "
                "ack(s) reached it; those messages will be delivered again",
                backend="amqp",
            )

    async def _ack(self, underlay: Any, tags: set[int]) -> None:
        pending = self._pending
        settled = self._settled
        last = 0
        while pending:
            first = pending[0]
            if first in tags:
                last = first
                tags.discard(first)
            elif first in settled:
                settled.discard(first)
            else:
                break
            pending.popleft()
        if last:
            await underlay.basic_ack(last, multiple=True, wait=False)
        for tag in tags:  # after a tag still pending: one by one
            await underlay.basic_ack(tag, wait=False)
            settled.add(tag)

    async def _delay(self, message: DeliveredMessage, delay: float) -> None:
        """Republish ``message`` to the delay queue for ``delay`` seconds; once the broker
        confirmed the copy the caller acks the original."""
        ms = max(1, round(delay * 1000))
        name = c.delay_queue(self._queue, ms)
        timeout = self._driver.request_timeout
        channel = self._delay_channel
        if channel is None:
            channel = self._delay_channel = await self._driver.open_channel(True)
        underlay = await self._driver.underlay(channel, timeout)
        await underlay.queue_declare(
            name,
            durable=True,
            arguments={
                "x-message-ttl": ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self._queue,
                "x-expires": ms + c.DELAY_QUEUE_EXPIRY_MS,
            },
            timeout=timeout,
        )
        props = message.header.properties
        original = props.headers or {}
        headers = {
            k: v
            for k, v in original.items()
            if k not in c.BROKER_HEADERS or not c.is_broker_header(k, v, original)
        }
        if self._counts:
            before = c.number(headers.get(c.H_DELIVERIES))
            broker_count = original.get("x-delivery-count")
            if type(broker_count) is int:
                before += broker_count
            headers[c.H_DELIVERIES] = before + 1
        copy = _Properties(
            content_type=props.content_type,
            content_encoding=props.content_encoding,
            headers=headers or None,
            delivery_mode=props.delivery_mode or PERSISTENT,
            priority=props.priority,
            correlation_id=props.correlation_id,
            reply_to=props.reply_to,
            message_id=props.message_id,
            timestamp=props.timestamp,
            message_type=props.message_type,
            user_id=props.user_id,
            app_id=props.app_id,
        )
        result = await underlay.basic_publish(
            message.body,
            exchange="",
            routing_key=name,
            properties=copy,
            mandatory=True,
            timeout=timeout,
        )
        error = self._errors.outcome(result, "", name)
        if error is not None:
            raise error

    async def close(self, timeout: float | None) -> None:
        self._closed = True
        self._wake()
        driver = self._driver
        tag, underlay = self._tag, self._underlay
        loop = asyncio.get_running_loop()
        limit = driver.request_timeout if timeout is None else timeout
        deadline = loop.time() + limit

        def left() -> float:  # every step within the one close timeout (at least 50 ms)
            return max(0.05, deadline - loop.time())

        try:
            if tag is not None and underlay is not None and not underlay.is_closed:
                # Stop deliveries, then closing the channel hands every unacked one back.
                await asyncio.wait_for(underlay.basic_cancel(tag), left())
        except Exception as exc:
            log.debug("basic.cancel on close failed: %s", exc)
        finally:
            self._buf.clear()
            if self._delay_channel is not None:
                await driver.close_channel(self._delay_channel, left())
            if self._delete_on_close:
                await driver.delete_queue(self._channel, self._queue, left())
            await driver.close_channel(self._channel, left())


class AsyncAmqpDriver:
    """The amqp:// driver (see the module docstring)."""

    def __init__(self, url: BrokerURL, options: Mapping[str, Any], caps: Capabilities) -> None:
        self.url = url
        self.options = options
        self.caps = caps
        host, port = c.endpoint(url)
        self.host: str = host
        self.port: int = port
        self.errors: c.ErrorMapper = c.ErrorMapper(self.host, self.port, url.password)
        self.request_timeout: float = options["request_timeout"]
        self.reconnect_timeout: float = options["reconnect_timeout"]
        self._ssl = c.ssl_context(url, options)
        self._connection: AbstractRobustConnection | None = None

    # -- connection ----------------------------------------------------------------------

    async def connect(self, timeout: float) -> None:
        opts = self.options
        url = aio_pika.connection.make_url(
            host=self.host,
            port=self.port,
            login=self.url.username if self.url.username is not None else "guest",
            password=self.url.password if self.url.password is not None else "guest",
            virtualhost=c.vhost(self.url),
            ssl=self._ssl is not None,
            reconnect_interval=opts["reconnect_interval"],
            fail_fast=True,
            heartbeat=opts["heartbeat"],
            name=c.connection_name(opts),
        )
        connection = aio_pika.RobustConnection(url, ssl_context=self._ssl)
        try:
            with self.errors(connecting=True):
                async with asyncio.timeout(timeout):
                    await connection.connect(timeout=timeout)
        except BaseException:
            await asyncio.shield(self._close_quietly(connection))  # stop its reconnect task
            raise
        self._connection = connection
        connection.close_callbacks.add(self._on_lost)
        connection.reconnect_callbacks.add(self._on_reconnected)
        log.info(
            "connected to RabbitMQ at %s:%s, vhost %r", self.host, self.port, c.vhost(self.url)
        )

    def _on_lost(self, _: Any, exc: BaseException | None = None) -> None:
        if self._connection is None or isinstance(exc, asyncio.CancelledError):
            return  # closed on purpose
        reason = self.errors.convert(exc) if exc is not None else "closed"
        log.warning(
            "RabbitMQ at %s:%s: connection lost (%s); reconnecting every %s s",
            self.host,
            self.port,
            reason,
            self.options["reconnect_interval"],
        )

    def _on_reconnected(self, *_: Any) -> None:
        log.info("reconnected to RabbitMQ at %s:%s", self.host, self.port)

    @staticmethod
    async def _close_quietly(connection: AbstractRobustConnection) -> None:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(connection.close(), 5)

    def _live(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise BrokerConnectionError(
                f"not connected to RabbitMQ at {self.host}:{self.port}", backend="amqp"
            )
        return self._connection

    async def open_channel(self, confirms: bool) -> AbstractRobustChannel:
        """A new robust channel (aio-pika reopens it after a lost connection or an error)."""
        channel = self._live().channel(publisher_confirms=confirms, on_return_raises=False)
        with self.errors():
            await self._bounded(channel.initialize(timeout=self.request_timeout))
        return channel

    async def _bounded(self, aw: Any, timeout: float | None = None) -> Any:
        """``aw`` within the request timeout (or ``timeout``), as a brokerkit TimeoutError."""
        limit = self.request_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await aw
        except builtins.TimeoutError as exc:
            if isinstance(exc, TimeoutError):
                raise
            raise TimeoutError(
                f"RabbitMQ at {self.host}:{self.port} did not answer within {limit} s",
                backend="amqp",
            ) from None

    async def underlay(self, channel: AbstractRobustChannel, timeout: float | None) -> Any:
        """The channel's open aiormq channel, waiting (at most ``timeout`` and
        reconnect_timeout) for aio-pika to restore a lost one."""
        if not channel.is_closed:
            return await channel.get_underlay_channel()
        budget = self.reconnect_timeout if timeout is None else min(timeout, self.reconnect_timeout)
        try:
            async with asyncio.timeout(budget):
                await channel.ready()
                return await channel.get_underlay_channel()
        except builtins.TimeoutError:
            raise BrokerConnectionError(
                f"the connection to RabbitMQ at {self.host}:{self.port} is lost and was not "
                f"restored within {budget} s",
                backend="amqp",
            ) from None
        except Exception as exc:
            raise self.errors.convert(exc) from exc

    async def close_channel(self, channel: AbstractRobustChannel, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(channel.close(), timeout or self.request_timeout)
        except Exception as exc:
            log.debug("closing a channel failed: %s", exc)

    async def delete_queue(
        self, channel: AbstractRobustChannel, queue: str, timeout: float | None
    ) -> None:
        try:
            underlay = await channel.get_underlay_channel()
            await asyncio.wait_for(underlay.queue_delete(queue), timeout or self.request_timeout)
        except Exception as exc:
            log.debug("deleting queue %r failed: %s", queue, exc)

    # -- producers and consumers -------------------------------------------------------

    def _declares(self, options: Mapping[str, Any]) -> bool:
        declare = options.get("declare")
        return bool(self.options["declare"] if declare is None else declare)

    async def _declare_exchange(self, channel: AbstractRobustChannel, name: str) -> None:
        with self.errors():
            await self._bounded(
                channel.declare_exchange(name, type=self.options["exchange_type"], durable=True)
            )

    async def open_producer(self, topic: str, config: ProducerConfig) -> AsyncAmqpProducer:
        opts = config.options
        exchange = opts.get("exchange")
        if exchange is None:
            exchange = c.exchange_name(topic)
        channel = await self.open_channel(config.guarantee is Guarantee.AT_LEAST_ONCE)
        try:
            if self._declares(opts) and exchange:
                await self._declare_exchange(channel, exchange)
        except BaseException:
            await self.close_channel(channel, None)
            raise
        return AsyncAmqpProducer(self, channel, exchange, config)

    async def open_consumer(
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> AsyncAmqpConsumer:
        opts = config.options
        declare = self._declares(opts)
        queue_type = opts.get("queue_type") or self.options["queue_type"]
        name = opts.get("queue")
        private = group is None and name is None
        if name is None:
            name = c.private_queue(topic) if group is None else c.queue_name(topic, group)
        exchange_type = self.options["exchange_type"]
        binding_key = opts.get("binding_key")
        if binding_key is not None and exchange_type == "fanout" and declare:
            raise ConfigurationError(
                f"binding_key={binding_key!r} needs exchange_type='topic' or 'direct' (a "
                "fanout exchange gives every queue every message)"
            )
        if binding_key is None:
            binding_key = "#" if exchange_type == "topic" else ""
        arguments: dict[str, Any] = {}
        if queue_type == "quorum":
            arguments["x-queue-type"] = "quorum"
            if opts.get("exclusive") or opts.get("auto_delete"):
                raise ConfigurationError(
                    "quorum queues cannot be exclusive or auto-delete; use queue_type='classic'"
                )
            if opts.get("max_priority") is not None:
                raise ConfigurationError(
                    "max_priority needs a classic queue (RabbitMQ's quorum queues have no "
                    "priorities); use queue_type='classic'"
                )
        if opts.get("max_priority") is not None:
            arguments["x-max-priority"] = min(255, int(opts["max_priority"]))
        if opts.get("message_ttl") is not None:
            arguments["x-message-ttl"] = int(opts["message_ttl"] * 1000)
        if private:
            arguments["x-expires"] = PRIVATE_QUEUE_EXPIRY_MS
        qos = opts.get("prefetch_count") or max(1, config.prefetch)
        channel = await self.open_channel(False)
        consumer = AsyncAmqpConsumer(
            self,
            channel,
            name,
            config,
            qos=min(qos, 65535),
            counts=queue_type == "quorum",
            delete_on_close=private,
        )
        try:
            if declare:
                exchange = c.exchange_name(topic)
                await self._declare_exchange(channel, exchange)
                with self.errors():
                    queue = await self._bounded(
                        channel.declare_queue(
                            name,
                            durable=True,
                            exclusive=bool(opts.get("exclusive")),
                            auto_delete=bool(opts.get("auto_delete")),
                            arguments=arguments or None,
                        )
                    )
                    await self._bounded(queue.bind(exchange, routing_key=binding_key))
            else:  # the queue must exist: say so now, not at the first fetch
                with self.errors():
                    underlay = await self.underlay(channel, self.request_timeout)
                    await underlay.queue_declare(name, passive=True, timeout=self.request_timeout)
            channel.reopen_callbacks.add(consumer._on_reopen)
        except BaseException:
            await self.close_channel(channel, None)
            raise
        return consumer

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            log.info("closing the connection to RabbitMQ at %s:%s", self.host, self.port)
            await self._close_quietly(connection)


__all__ = ["AsyncAmqpConsumer", "AsyncAmqpDriver", "AsyncAmqpProducer"]
