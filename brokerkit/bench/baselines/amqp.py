"""The amqp:// baseline: aio-pika used directly, as its documentation shows, with the
topology brokerkit builds (a durable fanout exchange per topic, a durable queue per group
bound to it) and the same guarantee.

- At-least-once producing: persistent messages, publisher confirms, ``exchange.publish``
  coroutines of a batch gathered (not one awaited at a time), up to 1000 confirms in
  flight across batches; ``flush()`` waits for the rest.
- At-most-once producing: no confirms, transient messages.
- Consuming: ``queue.consume(callback)`` with ``basic.qos`` (twice brokerkit's prefetch,
  as brokerkit sets it); at-least-once acks every message with ``message.ack()`` when the
  workload commits or handles each message alone (``commit="sync"``, ``batch_size`` 1,
  ``receive_mode="one"``), else once per
  batch with ``ack(multiple=True)`` on its last message (brokerkit's coalesced commits).
  At-most-once consumes with ``no_ack``.

aio-pika has no sync API: the sync session runs the async one on a private event-loop
thread, one hop per batch call (what a user of aio-pika does from sync code, and what
brokerkit's portal does).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import threading
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from ..._url import make_url
from ...backends.amqp._common import endpoint, queue_name, vhost
from ...backends.amqp._testing import cleanup
from ..targets import GROUP, Setup

__all__ = ["BASELINE"]

T = TypeVar("T")

#: Publisher confirms the raw producer keeps in flight (the issue's raw figure).
MAX_IN_FLIGHT = 1000
#: brokerkit's default prefetch (messages fetched ahead); its basic.qos is twice that.
DEFAULT_PREFETCH = 256


class _Config:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        host, port = endpoint(parsed)
        query = parsed.query_dict
        self.queue_type: str = query.get("queue_type", "classic")
        self.kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "login": parsed.username or "guest",
            "password": parsed.password or "guest",
            "virtualhost": vhost(parsed),
            "ssl": parsed.scheme == "amqps",
        }


class _Sender:
    def __init__(self, exchange: Any, confirm: bool) -> None:
        self._exchange = exchange
        self._confirm = confirm
        self._pending: deque[tuple[asyncio.Future[Any], int]] = deque()
        self._in_flight = 0

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        publish = self._exchange.publish
        message = aio_pika.Message
        if not self._confirm:
            mode = aio_pika.DeliveryMode.NOT_PERSISTENT
            for value in values:
                await publish(message(value, delivery_mode=mode), routing_key="")
            return
        persistent = aio_pika.DeliveryMode.PERSISTENT
        if keys is None:
            coros = [
                publish(message(value, delivery_mode=persistent), routing_key="")
                for value in values
            ]
        else:
            coros = [
                publish(
                    message(value, delivery_mode=persistent, headers={"k": key}),
                    routing_key=key.decode(errors="replace"),
                )
                for value, key in zip(values, keys, strict=True)
            ]
        self._pending.append((asyncio.gather(*coros), len(values)))
        self._in_flight += len(values)
        while self._in_flight > MAX_IN_FLIGHT:
            await self._oldest()

    async def _oldest(self) -> None:
        confirms, n = self._pending.popleft()
        self._in_flight -= n
        await confirms

    async def flush(self) -> None:
        while self._pending:
            await self._oldest()

    async def close(self) -> None:
        await self.flush()


class _Receiver:
    def __init__(self, no_ack: bool, per_message: bool) -> None:
        self._no_ack = no_ack
        self._per_message = per_message
        self._buf: deque[AbstractIncomingMessage] = deque()
        self._ready = asyncio.Event()
        self._last: list[AbstractIncomingMessage] = []

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self._buf.append(message)
        self._ready.set()

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        buf = self._buf
        if not buf:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                self._last = []
                return []
        n = min(max_messages, len(buf))
        self._last = batch = [buf.popleft() for _ in range(n)]
        return [m.body for m in batch]

    async def ack(self) -> None:
        batch = self._last
        if self._no_ack or not batch:
            return
        if self._per_message:
            for message in batch:
                await message.ack()
        else:
            await batch[-1].ack(multiple=True)

    async def close(self) -> None:
        return None


class AsyncAmqpSession:
    def __init__(self, config: _Config, setup: Setup) -> None:
        self._config = config
        self._setup = setup
        workload = setup.workload
        self._confirm = workload.guarantee == "at-least-once"
        self._per_message = (
            workload.commit == "sync"
            or workload.commit_every == 1
            or workload.batch_size == 1
            or workload.receive_mode == "one"
        )
        self._prefetch = 2 * (workload.prefetch or DEFAULT_PREFETCH)
        self._connection: Any = None
        self._channels: list[Any] = []

    async def open(self) -> AsyncAmqpSession:
        self._connection = await aio_pika.connect_robust(**self._config.kwargs, timeout=10)
        return self

    async def _exchange(self, channel: Any, topic: str) -> Any:
        return await channel.declare_exchange(topic, aio_pika.ExchangeType.FANOUT, durable=True)

    async def sender(self, topic: str) -> _Sender:
        channel = await self._connection.channel(publisher_confirms=self._confirm)
        self._channels.append(channel)
        return _Sender(await self._exchange(channel, topic), self._confirm)

    async def receiver(self, topic: str) -> _Receiver:
        channel = await self._connection.channel(publisher_confirms=False)
        self._channels.append(channel)
        exchange = await self._exchange(channel, topic)
        name = queue_name(topic, GROUP)
        arguments = {"x-queue-type": "quorum"} if self._config.queue_type == "quorum" else None
        queue = await channel.declare_queue(name, durable=True, arguments=arguments)
        await queue.bind(exchange)
        no_ack = not self._confirm
        if not no_ack:
            await channel.set_qos(prefetch_count=self._prefetch)
        receiver = _Receiver(no_ack, self._per_message)
        await queue.consume(receiver.on_message, no_ack=no_ack)
        return receiver

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


class _LoopThread:
    """A private event loop in a thread, for the sync session."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="amqp-baseline-loop", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class _SyncPart:
    def __init__(self, loop: _LoopThread, inner: Any) -> None:
        self._loop = loop
        self._inner = inner

    def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        self._loop.call(self._inner.send(values, keys))

    def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        result: list[bytes] = self._loop.call(self._inner.receive(max_messages, timeout))
        return result

    def ack(self) -> None:
        self._loop.call(self._inner.ack())

    def flush(self) -> None:
        self._loop.call(self._inner.flush())

    def close(self) -> None:
        self._loop.call(self._inner.close())


class SyncAmqpSession:
    def __init__(self, config: _Config, setup: Setup) -> None:
        self._loop = _LoopThread()
        try:
            self._inner = self._loop.call(AsyncAmqpSession(config, setup).open())
        except BaseException:
            self._loop.stop()
            raise

    def sender(self, topic: str) -> _SyncPart:
        return _SyncPart(self._loop, self._loop.call(self._inner.sender(topic)))

    def receiver(self, topic: str) -> _SyncPart:
        return _SyncPart(self._loop, self._loop.call(self._inner.receiver(topic)))

    def close(self) -> None:
        try:
            self._loop.call(self._inner.close())
        finally:
            self._loop.stop()


class AmqpBaseline:
    name = "raw"

    async def open_async(self, setup: Setup) -> AsyncAmqpSession:
        return await AsyncAmqpSession(_Config(setup.url), setup).open()

    def open_sync(self, setup: Setup) -> SyncAmqpSession:
        return SyncAmqpSession(_Config(setup.url), setup)

    def cleanup(self, url: str, topics: list[str]) -> None:
        if not topics:
            return
        config = _Config(url)

        async def run() -> None:
            connection = await aio_pika.connect(**config.kwargs, timeout=10)
            async with connection:
                channel = await connection.channel()
                for topic in topics:
                    await channel.queue_delete(queue_name(topic, GROUP))
                    await channel.exchange_delete(topic)

        asyncio.run(run())
        # Queues of other groups (brokerkit.bench.processor's, say), where rabbitmqctl can
        # list them: every exchange and queue named after these topics.
        for topic in topics:
            cleanup(url, topic)

    def versions(self, url: str) -> dict[str, str]:
        out = {"aio-pika": importlib.metadata.version("aio-pika")}
        out["aiormq"] = importlib.metadata.version("aiormq")
        config = _Config(url)

        async def server() -> str:
            connection = await aio_pika.connect(**config.kwargs, timeout=5)
            async with connection:
                props = connection.transport.connection.server_properties
                version = props.get("version", "?")
                return version.decode() if isinstance(version, bytes) else str(version)

        try:
            out["rabbitmq"] = asyncio.run(server())
        except Exception as exc:
            out["rabbitmq"] = f"unknown ({type(exc).__name__})"
        return out


BASELINE = AmqpBaseline()
