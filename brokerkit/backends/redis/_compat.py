"""redis-py names in an async and a sync spelling.

The async driver is written with the ``A``/``a`` names; tools/unasync.py renames them to
the plain ones when it generates the sync driver (see RENAMES there).
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as ARetry
from redis.retry import Retry

__all__ = [
    "ARedis",
    "ARetry",
    "Redis",
    "Retry",
    "aclose_redis",
    "close_redis",
]

ARedis = redis.asyncio.Redis
Redis = redis.Redis


async def aclose_redis(obj: Any) -> None:
    """Close a client or a PubSub object (and its connections)."""
    await obj.aclose()


def close_redis(obj: Any) -> None:
    obj.close()
