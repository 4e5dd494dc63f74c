"""The redis:// baseline's session: redis-py used directly (hiredis when installed).

Streams: ``XADD`` pipelined per batch (fields ``v`` and, with keys, ``k``: the entry
brokerkit writes); ``XREADGROUP COUNT n BLOCK ms`` and one ``XACK`` of the batch's ids
(at-least-once), or ``XREADGROUP ... NOACK`` (at-most-once). ``?mode=pubsub``: ``PUBLISH``
pipelined per batch, ``SUBSCRIBE`` and ``get_message()``.
"""

from __future__ import annotations

import time
from typing import Any

from redis.exceptions import ResponseError

from .._compat import adispose
from ..baselines._redis_common import (
    F_VALUE,
    ARedis,
    RedisConfig,
    block_ms,
    entry_fields,
    member_name,
)
from ..targets import GROUP, Setup

__all__ = ["AsyncRedisSession"]


class _StreamSender:
    def __init__(self, client: ARedis, stream: bytes, maxlen: int | None) -> None:
        self._client = client
        self._stream = stream
        self._maxlen = maxlen

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        stream, maxlen = self._stream, self._maxlen
        approximate = maxlen is not None
        async with self._client.pipeline(transaction=False) as pipe:
            if keys is None:
                for value in values:
                    pipe.xadd(
                        stream, entry_fields(value, None), maxlen=maxlen, approximate=approximate
                    )
            else:
                for value, key in zip(values, keys, strict=True):
                    pipe.xadd(
                        stream, entry_fields(value, key), maxlen=maxlen, approximate=approximate
                    )
            await pipe.execute()

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _StreamReceiver:
    def __init__(self, client: ARedis, stream: bytes, noack: bool) -> None:
        self._client = client
        self._stream = stream
        self._noack = noack
        self._name = member_name()
        self._ids: list[bytes] = []

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        reply: Any = await self._client.xreadgroup(
            GROUP,
            self._name,
            {self._stream: ">"},
            count=max_messages,
            block=block_ms(timeout),
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


class _Publisher:
    def __init__(self, client: ARedis, channel: bytes) -> None:
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


class _Subscriber:
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
        await adispose(self._pubsub)


class AsyncRedisSession:
    def __init__(self, config: RedisConfig, setup: Setup) -> None:
        self._config = config
        self._noack = setup.workload.guarantee == "at-most-once"
        self._client = ARedis(**config.kwargs)
        self._subscribers: list[_Subscriber] = []

    async def sender(self, topic: str) -> _StreamSender | _Publisher:
        key = self._config.key(topic)
        if self._config.pubsub:
            return _Publisher(self._client, key)
        return _StreamSender(self._client, key, self._config.maxlen)

    async def receiver(self, topic: str) -> _StreamReceiver | _Subscriber:
        key = self._config.key(topic)
        if self._config.pubsub:
            client: Any = self._client
            subscriber = _Subscriber(client.pubsub())
            await subscriber.subscribe(key)
            self._subscribers.append(subscriber)
            return subscriber
        try:
            await self._client.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        return _StreamReceiver(self._client, key, self._noack)

    async def close(self) -> None:
        try:
            for subscriber in self._subscribers:
                await subscriber.close()
        finally:
            await adispose(self._client)
