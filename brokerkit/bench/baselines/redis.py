"""The redis:// baseline: redis-py used directly (``redis.asyncio`` / ``redis``, hiredis).

Streams: ``XADD`` pipelined per batch (fields ``v`` and, with keys, ``k``: the entry
brokerkit writes); ``XREADGROUP COUNT n BLOCK ms`` and one ``XACK`` of the batch's ids
(at-least-once), or ``XREADGROUP ... NOACK`` (at-most-once). ``?mode=pubsub``: ``PUBLISH``
pipelined per batch, ``SUBSCRIBE`` and ``get_message()`` (Pub/Sub has no keys: the raw
client publishes the bare payload, where brokerkit frames a key in). The URL options
``mode``, ``key_prefix``, ``maxlen`` and ``socket_timeout`` are honoured as brokerkit
honours them (the socket timeout defaulting to brokerkit's, so both clients pay the same
for it); the clients keep redis-py's defaults otherwise.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
import uuid
from typing import Any

import redis
import redis.asyncio as aredis
from redis.exceptions import ResponseError

import brokerkit
from brokerkit.backends.redis import OPTIONS

from ..targets import GROUP, Setup, Unsupported

__all__ = ["BASELINE"]

F_VALUE = b"v"
F_KEY = b"k"
#: brokerkit's default socket_timeout for redis:// (redis-py's own is 5 s).
_SOCKET_TIMEOUT: float = OPTIONS.get("socket_timeout").default


class _Config:
    """Client settings and naming from a brokerkit redis URL."""

    def __init__(self, url: str) -> None:
        parsed = brokerkit.make_url(url)
        query = parsed.query_dict
        path = parsed.path.strip("/")
        self.kwargs: dict[str, Any] = {
            "host": parsed.host or "localhost",
            "port": parsed.port or 6379,
            "db": int(path) if path.isdigit() else 0,
            "username": parsed.username,
            "password": parsed.password,
            "client_name": "bk-bench-raw",
        }
        if parsed.scheme == "rediss":
            self.kwargs["ssl"] = True
        self.pubsub = query.get("mode", "streams") == "pubsub"
        self.prefix = query.get("key_prefix", "")
        maxlen = query.get("maxlen")
        self.maxlen = int(maxlen) if maxlen else None
        self.kwargs["socket_timeout"] = float(query.get("socket_timeout", _SOCKET_TIMEOUT))

    def key(self, topic: str) -> bytes:
        return (self.prefix + topic).encode()


def _fields(value: bytes, key: bytes | None) -> dict[Any, Any]:
    return {F_VALUE: value} if key is None else {F_VALUE: value, F_KEY: key}


def _member() -> str:
    return f"bk-bench-raw:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _block_ms(timeout: float) -> int:
    return max(1, int(timeout * 1000))  # BLOCK 0 would wait forever


# -- async ---------------------------------------------------------------------------------


class _AsyncStreamSender:
    def __init__(self, client: aredis.Redis, stream: bytes, maxlen: int | None) -> None:
        self._client = client
        self._stream = stream
        self._maxlen = maxlen

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        stream, maxlen = self._stream, self._maxlen
        approximate = maxlen is not None
        async with self._client.pipeline(transaction=False) as pipe:
            if keys is None:
                for value in values:
                    pipe.xadd(stream, _fields(value, None), maxlen=maxlen, approximate=approximate)
            else:
                for value, key in zip(values, keys, strict=True):
                    pipe.xadd(stream, _fields(value, key), maxlen=maxlen, approximate=approximate)
            await pipe.execute()

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _AsyncStreamReceiver:
    def __init__(self, client: aredis.Redis, stream: bytes, noack: bool) -> None:
        self._client = client
        self._stream = stream
        self._noack = noack
        self._name = _member()
        self._ids: list[bytes] = []

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        reply: Any = await self._client.xreadgroup(
            GROUP,
            self._name,
            {self._stream: ">"},
            count=max_messages,
            block=_block_ms(timeout),
            noack=self._noack,
        )
        if not reply:
            self._ids = []
            return []
        entries = reply[0][1]
        self._ids = [mid for mid, _ in entries]
        return [fields[F_VALUE] for _, fields in entries]

    async def ack(self) -> None:
        if self._ids:
            await self._client.xack(self._stream, GROUP, *self._ids)

    async def close(self) -> None:
        return None


class _AsyncPublisher:
    def __init__(self, client: aredis.Redis, channel: bytes) -> None:
        self._client = client
        self._channel = channel

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        channel = self._channel
        async with self._client.pipeline(transaction=False) as pipe:
            for value in values:
                pipe.publish(channel, value)
            await pipe.execute()

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _AsyncSubscriber:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    async def subscribe(self, channel: bytes, timeout: float = 10.0) -> None:
        await self._pubsub.subscribe(channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = await self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "subscribe":
                return
        raise TimeoutError(f"redis did not confirm SUBSCRIBE {channel!r}")

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        get = self._pubsub.get_message
        out: list[bytes] = []
        message = await get(timeout=timeout)
        while message is not None:
            if message["type"] == "message":
                out.append(message["data"])
                if len(out) >= max_messages:
                    break
            message = await get(timeout=0.0)
        return out

    async def ack(self) -> None:
        return None

    async def close(self) -> None:
        await self._pubsub.aclose()


class _AsyncSession:
    def __init__(self, config: _Config, setup: Setup) -> None:
        self._config = config
        self._noack = setup.workload.guarantee == "at-most-once"
        self._client = aredis.Redis(**config.kwargs)
        self._subscribers: list[_AsyncSubscriber] = []

    async def sender(self, topic: str) -> _AsyncStreamSender | _AsyncPublisher:
        key = self._config.key(topic)
        if self._config.pubsub:
            return _AsyncPublisher(self._client, key)
        return _AsyncStreamSender(self._client, key, self._config.maxlen)

    async def receiver(self, topic: str) -> _AsyncStreamReceiver | _AsyncSubscriber:
        key = self._config.key(topic)
        if self._config.pubsub:
            subscriber = _AsyncSubscriber(self._client.pubsub())
            await subscriber.subscribe(key)
            self._subscribers.append(subscriber)
            return subscriber
        try:
            await self._client.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        return _AsyncStreamReceiver(self._client, key, self._noack)

    async def close(self) -> None:
        try:
            for subscriber in self._subscribers:
                await subscriber.close()
        finally:
            await self._client.aclose()


# -- sync ----------------------------------------------------------------------------------


class _StreamSender:
    def __init__(self, client: redis.Redis, stream: bytes, maxlen: int | None) -> None:
        self._client = client
        self._stream = stream
        self._maxlen = maxlen

    def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        stream, maxlen = self._stream, self._maxlen
        approximate = maxlen is not None
        with self._client.pipeline(transaction=False) as pipe:
            if keys is None:
                for value in values:
                    pipe.xadd(stream, _fields(value, None), maxlen=maxlen, approximate=approximate)
            else:
                for value, key in zip(values, keys, strict=True):
                    pipe.xadd(stream, _fields(value, key), maxlen=maxlen, approximate=approximate)
            pipe.execute()

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class _StreamReceiver:
    def __init__(self, client: redis.Redis, stream: bytes, noack: bool) -> None:
        self._client = client
        self._stream = stream
        self._noack = noack
        self._name = _member()
        self._ids: list[bytes] = []

    def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        reply: Any = self._client.xreadgroup(
            GROUP,
            self._name,
            {self._stream: ">"},
            count=max_messages,
            block=_block_ms(timeout),
            noack=self._noack,
        )
        if not reply:
            self._ids = []
            return []
        entries = reply[0][1]
        self._ids = [mid for mid, _ in entries]
        return [fields[F_VALUE] for _, fields in entries]

    def ack(self) -> None:
        if self._ids:
            self._client.xack(self._stream, GROUP, *self._ids)

    def close(self) -> None:
        return None


class _Publisher:
    def __init__(self, client: redis.Redis, channel: bytes) -> None:
        self._client = client
        self._channel = channel

    def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        channel = self._channel
        with self._client.pipeline(transaction=False) as pipe:
            for value in values:
                pipe.publish(channel, value)
            pipe.execute()

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Subscriber:
    def __init__(self, pubsub: Any) -> None:
        self._pubsub = pubsub

    def subscribe(self, channel: bytes, timeout: float = 10.0) -> None:
        self._pubsub.subscribe(channel)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self._pubsub.get_message(timeout=1.0)
            if message is not None and message["type"] == "subscribe":
                return
        raise TimeoutError(f"redis did not confirm SUBSCRIBE {channel!r}")

    def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        get = self._pubsub.get_message
        out: list[bytes] = []
        message = get(timeout=timeout)
        while message is not None:
            if message["type"] == "message":
                out.append(message["data"])
                if len(out) >= max_messages:
                    break
            message = get(timeout=0.0)
        return out

    def ack(self) -> None:
        return None

    def close(self) -> None:
        self._pubsub.close()


class _Session:
    def __init__(self, config: _Config, setup: Setup) -> None:
        self._config = config
        self._noack = setup.workload.guarantee == "at-most-once"
        self._client = redis.Redis(**config.kwargs)
        self._subscribers: list[_Subscriber] = []

    def sender(self, topic: str) -> _StreamSender | _Publisher:
        key = self._config.key(topic)
        if self._config.pubsub:
            return _Publisher(self._client, key)
        return _StreamSender(self._client, key, self._config.maxlen)

    def receiver(self, topic: str) -> _StreamReceiver | _Subscriber:
        key = self._config.key(topic)
        if self._config.pubsub:
            client: Any = self._client
            subscriber = _Subscriber(client.pubsub())
            subscriber.subscribe(key)
            self._subscribers.append(subscriber)
            return subscriber
        try:
            self._client.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        return _StreamReceiver(self._client, key, self._noack)

    def close(self) -> None:
        try:
            for subscriber in self._subscribers:
                subscriber.close()
        finally:
            self._client.close()


class RedisBaseline:
    name = "raw"

    def _config(self, setup: Setup) -> _Config:
        config = _Config(setup.url)
        if config.pubsub and setup.workload.guarantee != "at-most-once":
            raise Unsupported("Redis Pub/Sub is at-most-once only")
        return config

    async def open_async(self, setup: Setup) -> _AsyncSession:
        return _AsyncSession(self._config(setup), setup)

    def open_sync(self, setup: Setup) -> _Session:
        return _Session(self._config(setup), setup)

    def cleanup(self, url: str, topics: list[str]) -> None:
        config = _Config(url)
        if config.pubsub or not topics:
            return
        with redis.Redis(**config.kwargs) as client:
            client.delete(*[config.key(topic) for topic in topics])

    def versions(self, url: str) -> dict[str, str]:
        out = {"redis-py": redis.__version__}
        try:
            out["hiredis"] = importlib.metadata.version("hiredis")
        except importlib.metadata.PackageNotFoundError:
            out["hiredis"] = "not installed"
        try:
            with redis.Redis(**_Config(url).kwargs, socket_connect_timeout=5) as client:
                info: Any = client.info("server")
                out["redis-server"] = str(info.get("redis_version", "?"))
        except redis.RedisError as exc:
            out["redis-server"] = f"unknown ({type(exc).__name__})"
        return out


BASELINE = RedisBaseline()
