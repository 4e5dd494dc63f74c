"""What the redis:// baseline's async and sync sessions (``_async/redis_session.py`` and
its generated twin) and :mod:`.redis` share: redis-py's client in both spellings
(``ARedis``/``Redis``, renamed by tools/unasync.py), the client settings and naming from a
brokerkit redis URL, and the stream entry format.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import redis
import redis.asyncio

import brokerkit
from brokerkit.backends.redis import OPTIONS

__all__ = [
    "F_KEY",
    "F_VALUE",
    "ARedis",
    "Redis",
    "RedisConfig",
    "block_ms",
    "entry_fields",
    "member_name",
]

ARedis = redis.asyncio.Redis
Redis = redis.Redis

F_VALUE = b"v"
F_KEY = b"k"
#: brokerkit's default socket_timeout for redis:// (redis-py's own is 5 s).
_SOCKET_TIMEOUT: float = OPTIONS.get("socket_timeout").default


class RedisConfig:
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
        self.pubsub: bool = query.get("mode", "streams") == "pubsub"
        self.prefix: str = query.get("key_prefix", "")
        maxlen = query.get("maxlen")
        self.maxlen: int | None = int(maxlen) if maxlen else None
        self.kwargs["socket_timeout"] = float(query.get("socket_timeout", _SOCKET_TIMEOUT))

    def key(self, topic: str) -> bytes:
        return (self.prefix + topic).encode()


def entry_fields(value: bytes, key: bytes | None) -> dict[Any, Any]:
    """The fields of a stream entry: the ones brokerkit writes."""
    return {F_VALUE: value} if key is None else {F_VALUE: value, F_KEY: key}


def member_name() -> str:
    """A consumer name in the group, unique to this receiver."""
    return f"bk-bench-raw:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def block_ms(timeout: float) -> int:
    """XREADGROUP's BLOCK for ``timeout`` s."""
    return max(1, int(timeout * 1000))  # BLOCK 0 would wait forever
