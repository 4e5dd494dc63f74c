"""The nats:// driver (async; the sync API runs it through the portal).

JetStream: every record published with its own reply subject on one PubAck inbox and the
futures gathered per batch (many PubAcks in flight, never one round trip per message);
pull requests on a private inbox (``$JS.API.CONSUMER.MSG.NEXT``: first ``no_wait`` for
what is there, then one lingering request) with the deliveries collected by one
subscription callback; ``+ACK`` published per message for ASYNC commits, or with a reply
subject for SYNC ones (the server confirms each; one counter per batch); ``-NAK`` with a
delay for nacks; ``+TERM`` after a native dead-letter move. Core NATS: ``publish`` and a
queue subscription. Client errors are mapped in ``_errors.ErrorMapper`` only.

The memphis:// driver (``brokerkit.backends.memphis``) subclasses this one and overrides
the naming, stream settings, producer headers and dead-letter hooks.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import ssl
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from nats.js import errors as jerr
from nats.js.client import JetStreamContext

from ..._async.driver import Delivery
from ..._policy.deadletter import dead_letter_headers, exceeded, max_deliveries_reason
from ..._spec import ConsumerConfig, ProducerConfig
from ..._types import Capabilities, Guarantee, Record, Values
from ..._url import BrokerURL
from ...errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    DeliveryError,
    TimeoutError,
    scrub,
)
from .._tls import ssl_context, tls_files_given
from ._codec import (
    NATS_MSG_ID,
    ack_fields,
    decode_headers,
    encode_headers,
    name_for,
    subject_for,
)
from ._errors import ErrorMapper, describe
from ._wire import Publisher, append_pending, commands_to, fast_path_of, header_block, ready

log = logging.getLogger("brokerkit.nats")

DEFAULT_PORT = 4222
ACK = b"+ACK"
NAK = b"-NAK"
TERM = b"+TERM"
#: How long a lingering pull request outlives the wait for it on our side is avoided by
#: letting the server expire it this much earlier.
EXPIRE_EARLY = 0.01
#: Core NATS: the header of a message handed back to one queue group at close.
H_GROUP = "brokerkit-group"
#: Core NATS: messages buffered for a consumer that does not fetch, before new ones are
#: dropped (at-most-once: a slow consumer loses messages, as core NATS does).
CORE_BUFFER = 65536


#: nats-py hands each message of a subscription made with ``future=`` to
#: ``future.set_result(msg)``, called from its read loop as the message is parsed (its
#: "old style request" path). A subscription made with ``cb=`` puts each message on an
#: asyncio.Queue that a task of its own drains, awaiting the callback per message: ~2 us a
#: message on the receiving hot path (at 150k msg/s, a fifth of the CPU). Where the installed
#: nats-py has that path, :func:`subscribe` uses it; else the callback.
DIRECT_DELIVERY = "_future" in Client._process_msg.__code__.co_names


class _Sink:
    """What nats-py takes for a subscription's future: ``set_result`` hands each message to
    a plain function at once. The function must not block; an exception it raises is logged
    (it must not end nats-py's read loop)."""

    __slots__ = ("_on_msg",)

    def __init__(self, on_msg: Callable[[Msg], None]) -> None:
        self._on_msg = on_msg

    def cancelled(self) -> bool:
        return False

    def set_result(self, msg: Msg) -> None:
        try:
            self._on_msg(msg)
        except Exception:
            log.exception("nats: handling a message on %r failed", msg.subject)


async def subscribe(
    nc: Client, subject: str, on_msg: Callable[[Msg], None], queue: str = ""
) -> Any:
    """Subscribe ``on_msg`` (a plain function) to ``subject``: called for every message as
    nats-py reads it (see :data:`DIRECT_DELIVERY`), with no task or queue per message."""
    if DIRECT_DELIVERY:
        sink: Any = _Sink(on_msg)
        return await nc.subscribe(subject, queue=queue, future=sink)

    async def cb(msg: Msg) -> None:
        on_msg(msg)

    return await nc.subscribe(subject, queue=queue, cb=cb)


@dataclass(frozen=True)
class ConsumerSettings:
    """What a pull consumer is created and run with (resolved from options and config)."""

    ack_wait: float
    max_deliver: int
    max_ack_pending: int
    deliver_policy: str
    max_wait: float
    batch_cap: int | None = None
    dead_letter: tuple[int, str] | None = None
    """(max deliveries, dead-letter topic): dead-letter natively (memphis://)."""


class AsyncNatsDriver:
    """One NATS connection; makes JetStream or core NATS producers and consumers."""

    backend = "nats"
    #: Broker headers removed from received messages (not the application's).
    drop_headers: tuple[str, ...] = (NATS_MSG_ID,)

    def __init__(self, url: BrokerURL, options: Mapping[str, Any], caps: Capabilities) -> None:
        self.url = url
        self.options = dict(options)
        self.caps = caps
        self.jetstream = bool(self.options.get("jetstream", True))
        hosts = url.with_defaults(port=self.default_port(), host="127.0.0.1").hosts
        self._hosts = hosts
        self.where = ",".join(f"{h}:{p}" for h, p in hosts)
        # The password, or a token given as the URL's user name, never goes into a message.
        self._secrets = [s for s in (url.password or url.username,) if s]
        self.errors = ErrorMapper(self.backend, self.where, self._secrets)
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self._streams: dict[str, tuple[str, str]] = {}
        self._stream_locks: dict[str, asyncio.Lock] = {}
        self.pubacks: PubAckMux | None = None
        self._consumers: set[PullConsumer] = set()
        self._last_error: BaseException | None = None

    # -- naming and settings (memphis:// overrides these) ---------------------------------

    def default_port(self) -> int:
        return DEFAULT_PORT

    def names(self, topic: str) -> tuple[str, str]:
        """(stream name, subject) for ``topic``."""
        return name_for(topic), subject_for(topic)

    def durable_name(self, group: str) -> str:
        return name_for(group)

    def stream_config(self, stream: str, subject: str) -> api.StreamConfig:
        o = self.options
        return api.StreamConfig(
            name=stream,
            subjects=[subject],
            storage=api.StorageType(o.get("storage", "file")),
            num_replicas=o.get("replicas", 1),
            max_age=o.get("max_age"),
            max_msgs=o.get("max_msgs"),
            max_bytes=o.get("max_bytes"),
            duplicate_window=o.get("duplicate_window", 120.0),
        )

    def producer_headers(self, config: ProducerConfig) -> dict[str, str] | None:
        """Headers every message of this producer carries (None: none)."""
        return None

    def consumer_settings(self, topic: str, config: ConsumerConfig) -> ConsumerSettings:
        o, c = self.options, config.options
        max_deliver = c.get("max_deliver") or o.get("max_deliver")
        limit = config.max_deliveries
        if limit is not None and max_deliver is not None and max_deliver <= limit:
            raise ConfigurationError(
                f"max_deliver={max_deliver} stops JetStream delivering a message before "
                f"max_deliveries={config.max_deliveries} can dead-letter it; use "
                f"max_deliver > max_deliveries or leave max_deliver unset"
            )
        return ConsumerSettings(
            ack_wait=config.ack_deadline or c.get("ack_wait") or o.get("ack_wait", 30.0),
            max_deliver=max_deliver or -1,
            max_ack_pending=c.get("max_ack_pending") or o.get("max_ack_pending", 20000),
            deliver_policy=o.get("deliver_policy", "all"),
            max_wait=o.get("max_wait", 5.0),
        )

    # -- connection -----------------------------------------------------------------------

    def _servers(self) -> list[str]:
        scheme = "tls" if self.url.scheme == "tls" else "nats"
        return [f"{scheme}://{'[' + h + ']' if ':' in h else h}:{p}" for h, p in self._hosts]

    def _tls(self) -> ssl.SSLContext | None:
        o = self.options
        if self.url.scheme != "tls" and not tls_files_given(o):
            return None
        return ssl_context(o, backend=self.backend)

    async def connect(self, timeout: float) -> None:
        o = self.options
        nc = Client()
        loop = asyncio.get_running_loop()
        refused: asyncio.Future[BaseException] = loop.create_future()

        async def error_cb(exc: Exception) -> None:
            self._last_error = exc
            if not refused.done() and "authorization violation" in str(exc).lower():
                refused.set_result(exc)
            elif nc.is_connected:
                log.warning("nats at %s: %s", self.where, describe(exc))
            else:
                log.debug("nats at %s: %s", self.where, describe(exc))

        async def disconnected_cb() -> None:
            lost = BrokerConnectionError(
                f"the connection to nats at {self.where} was lost before the server "
                "confirmed the message",
                backend=self.backend,
            )
            if self.pubacks is not None:
                self.pubacks.fail_all(lost)

        async def reconnected_cb() -> None:
            for consumer in list(self._consumers):
                consumer.wake()

        user, password, token = self.url.username, self.url.password, None
        if user and not password:
            user, token = None, user
        kwargs: dict[str, Any] = {
            "servers": self._servers(),
            "error_cb": error_cb,
            "disconnected_cb": disconnected_cb,
            "reconnected_cb": reconnected_cb,
            "name": o.get("client_id") or "brokerkit",
            "connect_timeout": max(0.05, timeout),
            "reconnect_time_wait": o.get("reconnect_wait", 0.5),
            "max_reconnect_attempts": o.get("max_reconnect_attempts", -1),
            "ping_interval": o.get("ping_interval", 10.0),
            "max_outstanding_pings": 2,
            "pending_size": o.get("pending_size", 8 << 20),
            "allow_reconnect": True,
            "user": user,
            "password": password,
            "token": token,
        }
        tls = self._tls()
        if tls is not None:
            kwargs["tls"] = tls
        task = loop.create_task(nc.connect(**kwargs))
        waiters: set[asyncio.Future[Any]] = {task, refused}
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in done and task.exception() is None:
            self.nc = nc
            if self.jetstream:
                self.js = nc.jetstream(
                    timeout=o.get("request_timeout", 5.0),
                    publish_async_max_pending=o.get("max_pending_acks", 4000),
                )
                await self._check_jetstream()
                self.pubacks = PubAckMux(nc, o.get("max_pending_acks", 4000))
                with self.errors(connecting=True):
                    await self.pubacks.start()
            log.info(
                "connected to nats at %s (%s)",
                self.where,
                "JetStream" if self.jetstream else "core NATS",
            )
            return
        task_error = task.exception() if task.done() else None
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(BaseException):
            await nc.close()
        if refused.done():
            cause: BaseException = refused.result()
            raise BrokerConnectionError(
                self.errors_text(f"nats at {self.where} rejected the credentials: {cause}"),
                backend=self.backend,
            ) from cause
        cause = task_error or self._last_error or TimeoutError("no answer")
        reason = describe(cause) if (task_error or self._last_error) else "no answer"
        raise BrokerConnectionError(
            self.errors_text(f"cannot reach nats at {self.where} within {timeout} s: {reason}"),
            backend=self.backend,
        ) from cause

    def errors_text(self, text: str) -> str:
        return scrub(text, self._secrets)

    async def _check_jetstream(self) -> None:
        assert self.js is not None
        with self.errors(connecting=True):
            try:
                await self.js.account_info()
            except BaseException:
                with contextlib.suppress(BaseException):
                    assert self.nc is not None
                    await self.nc.close()
                self.nc = self.js = None
                raise

    def _live(self) -> Client:
        nc = self.nc
        if nc is None or nc.is_closed:
            raise BrokerConnectionError(
                f"the connection to nats at {self.where} is closed", backend=self.backend
            )
        return nc

    async def close(self) -> None:
        nc, self.nc, self.js = self.nc, None, None
        if nc is not None and not nc.is_closed:
            log.info("closing the connection to nats at %s", self.where)
            try:
                await asyncio.wait_for(nc.close(), self.options.get("close_timeout") or 10)
            except Exception as exc:
                log.warning("closing the connection to nats at %s: %s", self.where, describe(exc))

    # -- streams --------------------------------------------------------------------------

    async def ensure_stream(self, topic: str) -> tuple[str, str]:
        """The (stream, subject) of ``topic``: a stream that already captures the subject,
        else a new one made with the stream options."""
        hit = self._streams.get(topic)
        if hit is not None:
            return hit
        lock = self._stream_locks.setdefault(topic, asyncio.Lock())
        async with lock:
            hit = self._streams.get(topic)
            if hit is not None:
                return hit
            stream, subject = self.names(topic)
            js = self.js
            assert js is not None
            with self.errors():
                try:
                    found = await js.find_stream_name_by_subject(subject)
                except jerr.NotFoundError:
                    found = None
                if found is None:
                    try:
                        await js.add_stream(self.stream_config(stream, subject))
                        found = stream
                    except jerr.BadRequestError as exc:
                        if exc.err_code not in (10058, 10065):  # name in use / overlap: a race
                            raise
                        found = await js.find_stream_name_by_subject(subject)
            self._streams[topic] = hit = (found, subject)
            return hit

    def forget_stream(self, topic: str) -> None:
        self._streams.pop(topic, None)

    # -- producers and consumers ----------------------------------------------------------

    async def open_producer(self, topic: str, config: ProducerConfig) -> Any:
        nc = self._live()
        extra = self.producer_headers(config)
        if not self.jetstream:
            return CoreProducer(self, nc, subject_for(topic), extra)
        _, subject = await self.ensure_stream(topic)
        return JetStreamProducer(self, nc, subject, extra, config.guarantee, topic)

    async def open_consumer(self, topic: str, group: str | None, config: ConsumerConfig) -> Any:
        nc = self._live()
        if not self.jetstream:
            consumer = CoreConsumer(self, nc, subject_for(topic), group)
            await consumer.start()
            return consumer
        stream, subject = await self.ensure_stream(topic)
        settings = self.consumer_settings(topic, config)
        pull = PullConsumer(self, nc, topic, stream, subject, group, settings, config.guarantee)
        await pull.start()
        self._consumers.add(pull)
        return pull


class PubAckMux:
    """PubAcks for one connection: each publish gets a reply subject on one inbox
    subscription and a future resolved by its PubAck (what nats-py's ``publish_async``
    does, minus its per-message semaphore and random token, and reporting a refused
    message on its future: nats-py 2.16 raises such errors inside its reply handler,
    leaving the future pending for ever)."""

    def __init__(self, nc: Client, limit: int) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox() + "."
        self._futures: dict[str, asyncio.Future[Any]] = {}
        self._seq = 0
        self._limit = limit
        self._room = asyncio.Event()
        self._room.set()

    async def start(self) -> None:
        await subscribe(self._nc, self._prefix + "*", self._on_reply)

    def in_flight(self) -> int:
        return len(self._futures)

    async def publish(
        self, subject: str, value: bytes, headers: dict[str, str] | None
    ) -> asyncio.Future[Any]:
        futures = self._futures
        if len(futures) >= self._limit:
            self._room.clear()
            await self._room.wait()
        self._seq += 1
        reply = self._prefix + str(self._seq)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        futures[reply] = future
        await self._nc.publish(subject, value, reply=reply, headers=headers)
        return future

    def _on_reply(self, msg: Msg) -> None:
        futures = self._futures
        future = futures.pop(msg.subject, None)
        if not self._room.is_set() and len(futures) <= self._limit // 2:
            self._room.set()
        if future is None or future.done():
            return
        if not msg.data:
            status = msg.headers.get("Status") if msg.headers else None
            _fail(future, jerr.NoStreamResponseError() if status == "503" else jerr.APIError())
            return
        try:
            reply = json.loads(msg.data)
        except ValueError as exc:
            _fail(future, exc)
            return
        error = reply.get("error")
        if error:
            _fail(future, _api_error(error))
        else:
            future.set_result(reply)

    def fail_all(self, exc: BaseException) -> None:
        """The connection dropped: the PubAcks still missing will not come."""
        futures, self._futures = self._futures, {}
        for future in futures.values():
            if not future.done():
                _fail(future, exc)
        self._room.set()


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    _fail(future, exc)
    return future


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    future.set_exception(exc)
    future.exception()  # retrieved here: wait() reads it, or nobody needs to


def _api_error(error: dict[str, Any]) -> jerr.APIError:
    cls = {
        503: jerr.ServiceUnavailableError,
        500: jerr.ServerError,
        404: jerr.NotFoundError,
        400: jerr.BadRequestError,
    }.get(error.get("code", 0), jerr.APIError)
    return cls(
        code=error.get("code"),
        description=error.get("description"),
        err_code=error.get("err_code"),
    )


# -- producing -------------------------------------------------------------------------------


class CoreProducer:
    """Core NATS publish (at-most-once: nothing to wait for)."""

    def __init__(
        self, driver: AsyncNatsDriver, nc: Client, subject: str, extra: dict[str, str] | None
    ) -> None:
        self._driver = driver
        self._nc = nc
        self._subject = subject
        self._extra = extra
        #: The server's max_payload: the core refuses larger values before sending.
        self.max_message_bytes: int = nc.max_payload
        #: Values above this get their headers measured against max_payload first.
        self._near_limit = nc.max_payload - 8192
        self._publisher = Publisher(nc, subject)
        #: The producer's own headers (memphis://), encoded once.
        self._block = header_block(extra) if extra else None

    def _too_large(self, value: bytes, headers: dict[str, str]) -> BrokerError | None:
        """A value that fits max_payload alone but not with its headers (the server would
        close the connection over it): refused here, per record."""
        size = (
            len(value) + 12 + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in headers.items())
        )
        if size <= self.max_message_bytes:
            return None
        return DeliveryError(
            f"a message of {len(value)} bytes with {size - len(value)} bytes of headers is "
            f"larger than the max_payload ({self.max_message_bytes} bytes) of nats at "
            f"{self._driver.where}",
            backend=self._driver.backend,
        )

    async def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        publisher = self._publisher
        if publisher.ready():
            if type(records) is Values:
                values = records.values
            else:
                values = [value for value, key, headers in records if key is None and not headers]
            if len(values) == len(records) and max(map(len, values), default=0) <= self._near_limit:
                # The common batch: values only (and the producer's own headers), one pass.
                with self._driver.errors():
                    await publisher.send(
                        publisher.commands(values, self._block), len(values), sum(map(len, values))
                    )
                return None
        pub = self._nc.publish
        subject, extra = self._subject, self._extra
        with self._driver.errors():
            for value, key, headers in records:
                if key is None and not headers and extra is None:
                    await pub(subject, value)
                else:
                    hdrs = _wire_headers(key, headers, extra)
                    if len(value) > self._near_limit:
                        refused = self._too_large(value, hdrs)
                        if refused is not None:
                            raise refused
                    await pub(subject, value, headers=hdrs)
        return None

    async def wait(self, handle: Any, timeout: float | None) -> Any:
        return None

    async def close(self, timeout: float | None) -> None:
        nc = self._nc
        if nc.is_connected:
            with contextlib.suppress(Exception), self._driver.errors():
                await nc.flush(timeout=max(1, int(timeout or 5)))


class JetStreamProducer(CoreProducer):
    """JetStream publish with PubAcks pipelined per batch (:class:`PubAckMux`)."""

    def __init__(
        self,
        driver: AsyncNatsDriver,
        nc: Client,
        subject: str,
        extra: dict[str, str] | None,
        guarantee: Guarantee,
        topic: str,
    ) -> None:
        super().__init__(driver, nc, subject, extra)
        assert driver.pubacks is not None
        self._pubacks = driver.pubacks
        self._acked = guarantee is Guarantee.AT_LEAST_ONCE
        self._topic = topic
        self._lost = False  # a PubAck said no stream took the message

    async def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        if self._lost:  # the stream was deleted (or lost with a memory store): make it again
            self._lost = False
            self._driver.forget_stream(self._topic)
            with self._driver.errors():
                await self._driver.ensure_stream(self._topic)
        if not self._acked:
            return await super().publish(records, timeout)
        pub = self._pubacks.publish
        subject, extra = self._subject, self._extra
        futures: list[asyncio.Future[Any]] = []
        append = futures.append
        with self._driver.errors():
            async with asyncio.timeout(timeout):
                for value, key, headers in records:
                    if key is None and not headers and extra is None:
                        append(await pub(subject, value, None))
                    else:
                        hdrs = _wire_headers(key, headers, extra)
                        if len(value) > self._near_limit:
                            refused = self._too_large(value, hdrs)
                            if refused is not None:
                                append(_failed(refused))
                                continue
                        append(await pub(subject, value, hdrs))
        return futures

    async def wait(self, handle: Any, timeout: float | None) -> Any:
        if handle is None:
            return None
        futures: list[asyncio.Future[Any]] = handle
        pending = [f for f in futures if not f.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            if late:
                raise TimeoutError(
                    f"nats at {self._driver.where} did not confirm {len(late)} of "
                    f"{len(futures)} messages within {timeout} s",
                    backend=self._driver.backend,
                )
        outcomes: list[BaseException | None] | None = None
        for i, future in enumerate(futures):
            exc = future.exception()
            if exc is not None:
                if outcomes is None:
                    outcomes = [None] * len(futures)
                outcomes[i] = self._driver.errors.publish_failure(exc)
                if isinstance(exc, jerr.NoStreamResponseError):
                    self._lost = True
        return outcomes


# -- consuming -------------------------------------------------------------------------------


class CoreConsumer:
    """A core NATS subscription (a queue subscription for a group): at-most-once.

    What arrives is buffered as the value alone, or a (value, key, headers) tuple, and
    fetched as plain tuples in :class:`Delivery`'s order. nats-py's ``Msg`` is dropped at
    once: buffered ``Msg`` objects and ``Delivery`` named tuples (which the garbage
    collector never untracks; plain tuples of atomic values it untracks at its first pass)
    outlived its young generations and made full collections three times as frequent
    (~0.8 us a message at 200k messages, more than the rest of the driver).
    """

    def __init__(
        self, driver: AsyncNatsDriver, nc: Client, subject: str, group: str | None
    ) -> None:
        self._driver = driver
        self._nc = nc
        self._subject = subject
        self._queue = "" if group is None else driver.durable_name(group)
        self._buf: deque[Any] = deque()
        self._event = asyncio.Event()
        self._sub: Any = None
        self._seq = 0
        self._dropped = 0

    async def start(self) -> None:
        with self._driver.errors():
            self._sub = await subscribe(self._nc, self._subject, self._on_msg, self._queue)
            await self._nc.flush(timeout=max(1, int(self._driver.options["request_timeout"])))

    def _on_msg(self, msg: Msg) -> None:
        buf = self._buf
        if len(buf) >= CORE_BUFFER:
            self._dropped += 1
            if self._dropped == 1:
                log.warning(
                    "core NATS consumer of %r is not keeping up: dropping messages (at-most-once)",
                    self._subject,
                )
            return
        raw = msg.headers
        if raw:
            # A message handed back to one group (see close()) is for that group only.
            tag = raw.pop(H_GROUP, None)
            if tag is not None and tag != self._queue:
                return
            key, headers = decode_headers(raw, self._driver.drop_headers)
            buf.append((msg.data, key, headers))
        else:
            buf.append(msg.data)
        self._event.set()

    def wake(self) -> None:
        self._event.set()

    async def fetch(self, max_messages: int, timeout: float | None) -> list[Any]:
        buf = self._buf
        if not buf and timeout != 0:
            self._event.clear()
            with contextlib.suppress(builtins.TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        n = min(max_messages, len(buf))
        out: list[Any] = []  # plain tuples in Delivery's order (see the class docstring)
        append = out.append
        popleft = buf.popleft
        seq = self._seq
        for _ in range(n):
            item = popleft()
            seq += 1
            if type(item) is bytes:
                append((None, str(seq), item, None, None, None, 1))
            else:
                append((None, str(seq), item[0], item[1], item[2], None, 1))
        self._seq = seq
        return out

    async def settle(self, acks: Sequence[Any], nacks: Sequence[Any], wait: bool) -> None:
        return None

    async def close(self, timeout: float | None) -> None:
        """Unsubscribe; then hand what this member was sent but never handed out back to
        its queue group: republished with a ``brokerkit-group`` header, which the members
        of other groups and private consumers drop (core NATS pushes messages to a member
        when they are published, and cannot take them back)."""
        sub, self._sub = self._sub, None
        back = list(self._buf) if self._queue else []
        self._buf.clear()
        nc = self._nc
        if sub is None or nc.is_closed:
            return
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
            for item in back:
                value, key, hdrs = (item, None, None) if type(item) is bytes else item
                headers = encode_headers(key, hdrs) if key is not None or hdrs else {}
                headers[H_GROUP] = self._queue
                await nc.publish(self._subject, value, headers=headers)
            if back:
                await nc.flush(timeout=max(1, int(timeout or 5)))


class PullConsumer:
    """One member of a group: a durable pull consumer, fetched through a private inbox.

    Tokens are the deliveries' ack subjects. Messages delivered to this member and not
    settled yet are remembered, so that close() hands them back at once (NAK).
    """

    def __init__(
        self,
        driver: AsyncNatsDriver,
        nc: Client,
        topic: str,
        stream: str,
        subject: str,
        group: str | None,
        settings: ConsumerSettings,
        guarantee: Guarantee,
    ) -> None:
        self._driver = driver
        self._nc = nc
        self._topic = topic
        self._stream = stream
        self._subject = subject
        self._private = group is None
        self._name = (
            f"bk-private-{uuid.uuid4().hex}" if group is None else driver.durable_name(group)
        )
        self._settings = settings
        self._at_most_once = guarantee is Guarantee.AT_MOST_ONCE
        self._next = f"{api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{self._name}"
        inbox = nc.new_inbox()
        self._inbox = inbox
        self._ack_inbox = nc.new_inbox()
        self._one_pass = fast_path_of(nc)  # acks of a batch appended to the buffer at once
        self._buf: deque[Any] = deque()
        self._want = 1
        self._req = 0
        self._req_done = True
        self._event = asyncio.Event()
        self._unsettled: set[str] = set()
        #: A confirmed ack batch's reply subject -> what its reply says (None: stored).
        self._ack_batches: dict[str, asyncio.Future[str | None]] = {}
        self._ack_seq = 0
        self._subs: list[Any] = []
        self._closed = False
        self._lost = False
        self._dlq: JetStreamProducer | None = None

    # -- setup ----------------------------------------------------------------------------

    def _config(self) -> api.ConsumerConfig:
        s = self._settings
        cfg = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait,
            max_deliver=s.max_deliver,
            max_ack_pending=s.max_ack_pending,
            deliver_policy=api.DeliverPolicy(s.deliver_policy),
            filter_subject=self._subject,
        )
        if self._private:
            cfg.name = self._name
            cfg.inactive_threshold = self._driver.options.get("private_group_ttl", 3600.0)
        else:
            cfg.durable_name = self._name
        return cfg

    async def _create(self) -> None:
        js = self._driver.js
        assert js is not None
        try:
            await js.add_consumer(self._stream, self._config())
        except jerr.BadRequestError:
            # An existing group made with settings that cannot change (its start, its
            # filter): keep using it as it is.
            await js.consumer_info(self._stream, self._name)

    async def _recreate(self) -> None:
        """The group's consumer did not answer or was deleted: make it again if it is gone
        (and the stream with it), then carry on."""
        self._lost = False
        js = self._driver.js
        assert js is not None
        try:
            await js.consumer_info(self._stream, self._name)
            return
        except jerr.NotFoundError:
            pass
        log.warning(
            "nats: the consumer %r of stream %r is gone; making it again", self._name, self._stream
        )
        self._driver.forget_stream(self._topic)
        stream, _ = await self._driver.ensure_stream(self._topic)
        if stream != self._stream:
            self._stream = stream
            self._next = f"{api.DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{self._name}"
        await self._create()

    async def start(self) -> None:
        with self._driver.errors():
            await self._create()
            self._subs.append(await subscribe(self._nc, self._inbox + ".*", self._on_msg))
            self._subs.append(await subscribe(self._nc, self._ack_inbox + ".*", self._on_ack_reply))
            await self._nc.flush(timeout=max(1, int(self._driver.options["request_timeout"])))

    # -- receiving ------------------------------------------------------------------------

    def _on_msg(self, msg: Msg) -> None:
        reply = msg.reply
        if reply:
            # Kept as a plain tuple in Delivery's order, not nats-py's Msg: see CoreConsumer.
            delivered, seq, ts = ack_fields(reply)
            buf = self._buf
            raw = msg.headers
            if raw:
                key, headers = decode_headers(raw, self._driver.drop_headers)
                buf.append((reply, seq, msg.data, key, headers, ts, delivered))
            else:
                buf.append((reply, seq, msg.data, None, None, ts, delivered))
            if len(buf) >= self._want:
                self._event.set()
            return
        # A status message ending a pull request: 404 no messages, 408 expired,
        # 409 (consumer deleted, too many waiting requests...); 100 is a heartbeat.
        status = msg.headers.get("Status") if msg.headers else None
        if status == "100":
            return
        if status == "409" and "deleted" in str(msg.headers).lower():
            self._lost = True  # the group's consumer (or its stream) was deleted
        if msg.subject.rpartition(".")[2] == str(self._req):
            self._req_done = True
            self._event.set()

    def wake(self) -> None:
        """After a reconnect: the pull request in flight is gone; send a new one."""
        self._req_done = True
        self._event.set()

    async def _pull(self, batch: int, no_wait: bool, expires: float | None) -> None:
        self._req += 1
        self._req_done = False
        self._event.clear()
        request: dict[str, Any] = {"batch": batch}
        if no_wait:
            request["no_wait"] = True
        if expires is not None:
            request["expires"] = max(1_000_000, int(expires * 1e9))
        await self._nc.publish(
            self._next, json.dumps(request).encode(), reply=f"{self._inbox}.{self._req}"
        )

    async def _wait(self, timeout: float | None) -> None:
        if self._req_done:
            return
        with contextlib.suppress(builtins.TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    async def fetch(self, max_messages: int, timeout: float | None) -> list[Any]:
        cap = self._settings.batch_cap
        if cap is not None and max_messages > cap:
            max_messages = cap
        with self._driver.errors():
            if self._lost:
                request_timeout = self._driver.options["request_timeout"]
                bound = (
                    request_timeout if timeout is None else max(min(timeout, request_timeout), 0.05)
                )
                try:
                    async with asyncio.timeout(bound):
                        await self._recreate()
                except builtins.TimeoutError:
                    self._lost = True  # the server does not answer: look again next time
                    return []
            if not self._buf:
                await self._fetch(max_messages, timeout)
            out = self._take(max_messages)
            if out and self._settings.dead_letter is not None:
                out = await self._dead_letter_exceeded(out)
            if out and self._at_most_once:
                await self._ack_sync([d[0] for d in out])
        return out

    async def _fetch(self, n: int, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        request_timeout = self._driver.options["request_timeout"]
        # What is there now, at once.
        self._want = n
        await self._pull(n, True, None)
        first = request_timeout if timeout is None else min(request_timeout, max(timeout, 0.05))
        await self._wait(first)
        if not self._req_done and not self._buf and self._nc.is_connected:
            # Not even a "no messages" answer: JetStream ignores pulls on a consumer that
            # does not exist (deleted, or a memory stream lost in a restart). Look, next time.
            self._lost = True
        if self._buf or timeout == 0:
            return
        # Nothing: one lingering request for the first message to come.
        deadline = None if timeout is None else loop.time() + timeout
        max_wait = self._settings.max_wait
        while not self._buf and not self._closed:
            remaining = max_wait if deadline is None else min(max_wait, deadline - loop.time())
            if remaining <= EXPIRE_EARLY:
                return
            self._want = 1
            await self._pull(1, False, remaining - EXPIRE_EARLY)
            await self._wait(remaining)
            if not self._buf and not self._req_done and deadline is not None:
                return

    def _take(self, n: int) -> list[Any]:
        buf = self._buf
        count = min(n, len(buf))
        if not count:
            return []
        popleft = buf.popleft
        out = [popleft() for _ in range(count)]
        if not self._at_most_once:  # at-most-once: acked by fetch() before it returns
            self._unsettled.update([d[0] for d in out])  # the tokens
        return out

    # -- settling -------------------------------------------------------------------------

    async def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        pub = self._nc.publish
        with self._driver.errors():
            if acks:
                if wait:
                    await self._ack_sync(acks)
                else:
                    await self._publish_all(acks, ACK)
                self._unsettled.difference_update(acks)
            for reply, delay in nacks:
                await pub(reply, _nak(delay))
                self._unsettled.discard(reply)

    def _on_ack_reply(self, msg: Msg) -> None:
        """The reply to a batch's last ack: None, or why the server refused the acks."""
        future = self._ack_batches.get(msg.subject)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == "503":
            future.set_result("no responders: the group's consumer is gone")
        else:
            future.set_result(None)

    async def _ack_sync(self, tokens: Sequence[str], payload: bytes = ACK) -> None:
        """Ack, and return once the server confirmed every ack. The server handles one
        connection's acks of a consumer in order, so only the last one asks for a reply:
        its answer covers those before it (one reply per batch, not per message)."""
        if not tokens:
            return
        self._ack_seq += 1
        reply = f"{self._ack_inbox}.{self._ack_seq}"
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._ack_batches[reply] = future
        try:
            await self._publish_all(tokens, payload, reply)
            timeout = self._driver.options["request_timeout"]
            try:
                refused = await asyncio.wait_for(future, timeout)
            except builtins.TimeoutError:
                raise TimeoutError(
                    f"nats at {self._driver.where} did not confirm {len(tokens)} acks "
                    f"within {timeout} s",
                    backend=self._driver.backend,
                ) from None
        finally:
            self._ack_batches.pop(reply, None)
        if refused is not None:
            raise DeliveryError(
                f"nats at {self._driver.where} refused acks: {refused}",
                backend=self._driver.backend,
            )

    async def _publish_all(
        self, tokens: Sequence[str], payload: bytes, reply: str | None = None
    ) -> None:
        """``payload`` to each token (ack subject), the last one asking for ``reply``: in
        one pass into nats-py's outgoing buffer (:mod:`._wire`), or one ``publish()`` each
        while the connection is not up (nats-py's reconnect buffering applies then)."""
        if not tokens:
            return
        nc = self._nc
        if self._one_pass and ready(nc):
            commands = commands_to(tokens, payload, reply)
            await append_pending(nc, commands, len(commands), len(payload) * len(commands))
            return
        pub = nc.publish
        for token in tokens[:-1]:
            await pub(token, payload)
        await pub(tokens[-1], payload, reply=reply or "")

    # -- dead letters (memphis://) --------------------------------------------------------

    async def _dead_letter_exceeded(self, out: list[Any]) -> list[Any]:
        assert self._settings.dead_letter is not None
        limit, topic = self._settings.dead_letter
        poison = [Delivery(*d) for d in out if exceeded(d[6], limit)]  # d[6]: delivery count
        if not poison:
            return out
        dlq = self._dlq
        if dlq is None:
            dlq = self._dlq = await self._driver.open_producer(topic, ProducerConfig())
        reason = max_deliveries_reason(limit)
        records: list[Record] = [
            (
                d.value,
                d.key,
                dead_letter_headers(
                    d.headers,
                    topic=self._topic,
                    id=d.id,
                    reason=reason,
                    delivery_count=d.delivery_count - 1,  # the deliveries made
                ),
            )
            for d in poison
        ]
        timeout = self._driver.options["request_timeout"]
        handle = await dlq.publish(records, timeout)
        outcomes = await dlq.wait(handle, timeout)
        stored = [d.token for i, d in enumerate(poison) if outcomes is None or not outcomes[i]]
        failed = [d.token for i, d in enumerate(poison) if outcomes is not None and outcomes[i]]
        await self._ack_sync(stored, TERM)  # stored in the dead-letter topic: never again
        for token in failed:  # try again on a later delivery
            await self._nc.publish(token, NAK)
        gone = set(stored) | set(failed)
        self._unsettled.difference_update(gone)
        return [d for d in out if d[0] not in gone]

    # -- closing --------------------------------------------------------------------------

    async def close(self, timeout: float | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._driver._consumers.discard(self)
        self._event.set()
        nc = self._nc
        if nc.is_closed:
            return
        with contextlib.suppress(BrokerError, Exception), self._driver.errors():
            for sub in self._subs:
                await sub.unsubscribe()
            back = [d[0] for d in self._buf]
            self._buf.clear()
            back.extend(self._unsettled)
            self._unsettled.clear()
            for reply in back:
                await nc.publish(reply, NAK)
            if self._dlq is not None:
                await self._dlq.close(timeout)
            js = self._driver.js
            if self._private and js is not None:
                await js.delete_consumer(self._stream, self._name)
            else:
                await nc.flush(timeout=max(1, int(timeout or 5)))


def _wire_headers(
    key: bytes | None, headers: Mapping[str, str] | None, extra: dict[str, str] | None
) -> dict[str, str]:
    """The NATS headers of a record with a key or headers, or of a producer with headers
    of its own (memphis://), those the record carries first."""
    if key is None and not headers and extra:  # the producer's own headers only
        return dict(extra)
    hdrs = encode_headers(key, headers)
    if extra:
        _add_missing(hdrs, extra)
    return hdrs


def _add_missing(headers: dict[str, str], extra: dict[str, str]) -> None:
    """Add the producer's own headers, keeping those the record carries (a dead-lettered
    message keeps its original producer's)."""
    for name, value in extra.items():
        if name not in headers:
            headers[name] = value


def _nak(delay: float | None) -> bytes:
    if not delay:
        return NAK
    return NAK + b' {"delay": ' + str(int(delay * 1e9)).encode() + b"}"


__all__ = [
    "AsyncNatsDriver",
    "ConsumerSettings",
    "CoreConsumer",
    "CoreProducer",
    "JetStreamProducer",
    "PullConsumer",
]
