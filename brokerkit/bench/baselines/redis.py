"""The redis:// baseline: redis-py used directly (``redis.asyncio`` / ``redis``, hiredis).

Streams: ``XADD`` pipelined per batch (fields ``v`` and, with keys, ``k``: the entry
brokerkit writes); ``XREADGROUP COUNT n BLOCK ms`` and one ``XACK`` of the batch's ids
(at-least-once), or ``XREADGROUP ... NOACK`` (at-most-once). ``?mode=pubsub``: ``PUBLISH``
pipelined per batch, ``SUBSCRIBE`` and ``get_message()`` (Pub/Sub has no keys: the raw
client publishes the bare payload, where brokerkit frames a key in). The URL options
``mode``, ``key_prefix``, ``maxlen`` and ``socket_timeout`` are honoured as brokerkit
honours them (the socket timeout defaulting to brokerkit's, so both clients pay the same
for it); the clients keep redis-py's defaults otherwise. The sessions are in
``_async/redis_session.py`` and its generated ``_sync`` twin.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import redis

from .._async.redis_session import AsyncRedisSession
from .._sync.redis_session import SyncRedisSession
from ..targets import Setup, Unsupported
from ._redis_common import RedisConfig

__all__ = ["BASELINE"]


class RedisBaseline:
    name = "raw"

    def _config(self, setup: Setup) -> RedisConfig:
        config = RedisConfig(setup.url)
        if config.pubsub and setup.workload.guarantee != "at-most-once":
            raise Unsupported("Redis Pub/Sub is at-most-once only")
        return config

    async def open_async(self, setup: Setup) -> AsyncRedisSession:
        return AsyncRedisSession(self._config(setup), setup)

    def open_sync(self, setup: Setup) -> SyncRedisSession:
        return SyncRedisSession(self._config(setup), setup)

    def cleanup(self, url: str, topics: list[str]) -> None:
        config = RedisConfig(url)
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
            with redis.Redis(**RedisConfig(url).kwargs, socket_connect_timeout=5) as client:
                info: Any = client.info("server")
                out["redis-server"] = str(info.get("redis_version", "?"))
        except redis.RedisError as exc:
            out["redis-server"] = f"unknown ({type(exc).__name__})"
        return out


BASELINE = RedisBaseline()
