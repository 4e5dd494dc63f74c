"""redis-py names in an async and a sync spelling.

The async driver is written with the ``A``/``a``/``Async`` names; tools/unasync.py renames
them to the plain/``Sync`` ones when it generates the sync driver (see RENAMES there;
``AsyncX`` becomes ``SyncX`` by unasync's own rule). Where the two redis-py clients behave
differently, the difference is absorbed here, by hand, once per client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from redis import exceptions as rex
from redis.asyncio.retry import Retry as _ARetry
from redis.retry import Retry as _Retry

__all__ = [
    "PRODUCER_OVERRIDES",
    "SYNC_PRODUCER_OVERRIDES",
    "ARedis",
    "ARetry",
    "AsyncPubSubReader",
    "Redis",
    "Retry",
    "SyncPubSubReader",
    "abound",
    "aclose_redis",
    "bound",
    "close_redis",
]

ARedis = redis.asyncio.Redis
Redis = redis.Redis

log = logging.getLogger("brokerkit.redis")


def _logged(fail: Callable[..., Any], where: str, retries: int) -> Callable[..., Any]:
    """``fail`` (redis-py's handler of a failed attempt), logging a WARNING first for each
    failure that will be retried."""
    attempts = 0

    def logged(error: Exception, *rest: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts <= retries:
            log.warning(
                "redis at %s: %s: %s; reconnect attempt %d of %d",
                where,
                type(error).__name__,
                error,
                attempts,
                retries,
            )
        return fail(error, *rest)

    return logged


class ARetry(_ARetry):
    """redis-py's Retry, with a WARNING on each reconnect attempt (``where``: host:port)."""

    def __init__(self, backoff: Any, retries: int, where: str = "?") -> None:
        super().__init__(backoff, retries)
        self.where = where

    async def call_with_retry(self, do: Any, fail: Any, *args: Any, **kwargs: Any) -> Any:
        logged = _logged(fail, self.where, self._retries)
        return await super().call_with_retry(do, logged, *args, **kwargs)


class Retry(_Retry):
    """redis-py's Retry, with a WARNING on each reconnect attempt (``where``: host:port)."""

    def __init__(self, backoff: Any, retries: int, where: str = "?") -> None:
        super().__init__(backoff, retries)
        self.where = where

    def call_with_retry(self, do: Any, fail: Any, *args: Any, **kwargs: Any) -> Any:
        logged = _logged(fail, self.where, self._retries)
        return super().call_with_retry(do, logged, *args, **kwargs)


#: Producer clients, async: no per-reply socket timeout (redis.asyncio wraps every reply
#: read in its own timeout, ~25% of the client's CPU); ``abound`` bounds each whole batch
#: with one deadline instead.
PRODUCER_OVERRIDES: dict[str, Any] = {"socket_timeout": None}
#: Producer clients, sync: the socket timeout bounds each read (a blocking socket cannot
#: be bounded from outside), so keep it.
SYNC_PRODUCER_OVERRIDES: dict[str, Any] = {}


def abound(timeout: float | None) -> Any:
    """One deadline for a whole batch of commands (an async context manager)."""
    return asyncio.timeout(timeout)


def bound(timeout: float | None) -> Any:
    """Sync: the reads are bounded by the socket timeout; nothing to add."""
    return contextlib.nullcontext()


async def aclose_redis(obj: Any) -> None:
    """Close a client or a PubSub object (and its connections)."""
    await obj.aclose()


def close_redis(obj: Any) -> None:
    obj.close()


class AsyncPubSubReader:
    """Reads the next Pub/Sub message, waiting at most ``wait`` seconds for one to begin.

    redis.asyncio: a ``get_message(timeout=wait)`` that expires while a large message is
    still arriving returns None and keeps the bytes received so far in the parser (the
    timeout cancels a StreamReader read, which loses nothing, and the pub/sub read does
    not disconnect on error); the next call completes the message. So ``wait`` may be as
    short as 0 here. See :class:`SyncPubSubReader` for why the sync client cannot do that.
    """

    __slots__ = ("_pubsub",)

    def __init__(self, pubsub: Any, read_timeout: float) -> None:
        self._pubsub = pubsub

    async def get_message(self, wait: float) -> dict[str, Any] | None:
        message: dict[str, Any] | None = await self._pubsub.get_message(timeout=wait)
        return message


class SyncPubSubReader:
    """Reads the next Pub/Sub message, waiting at most ``wait`` seconds for one to begin,
    and then as long as the message takes to arrive (``read_timeout`` per socket read).

    Why not ``PubSub.get_message(timeout=wait)`` alone: the sync client uses ``wait`` both
    to wait for data *and* as the socket timeout of every read of the reply. When the
    first bytes of a large message are there but not the rest (a 1 MiB message arrives in
    many TCP segments), a short ``wait`` (0 while a batch is being collected) makes a read
    time out in the middle of the frame. redis-py counts that TimeoutError as a lost
    connection: its retry disconnects, reconnects and subscribes again, and the partly read
    message, with everything queued behind it, is silently gone.

    So: wait for the socket (or the parser's buffer) to become readable within ``wait``;
    once something is there, read the whole message with the connection's own socket
    timeout, the bound after which a connection counts as lost. A connection found closed
    while waiting is reopened (and the channel subscribed again) by ``get_message``'s retry.
    """

    __slots__ = ("_pubsub", "_read_timeout")

    def __init__(self, pubsub: Any, read_timeout: float) -> None:
        self._pubsub = pubsub
        self._read_timeout = read_timeout

    def get_message(self, wait: float) -> dict[str, Any] | None:
        pubsub = self._pubsub
        conn = pubsub.connection
        if conn is not None:
            try:
                if not conn.can_read(timeout=wait):
                    return None
            except rex.ConnectionError:
                pass  # closed: get_message() below reconnects and subscribes again
        message: dict[str, Any] | None = pubsub.get_message(timeout=self._read_timeout)
        return message
