"""Standard-library names the benchmark spells differently in async and sync code.

The async harness and sessions (``_async/``) are written with the ``a``/``A`` names;
tools/unasync.py renames them to the plain ones when it generates ``_sync/`` (see the
brokerkit/bench block of its RENAMES). Where the two spellings behave differently, the
difference is absorbed here, once per spelling. Kept apart from ``brokerkit/_acompat.py``:
these names serve only the benchmark.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

__all__ = [
    "AQueue",
    "Queue",
    "acall_concurrently",
    "adispose",
    "alet_others_run",
    "aqueue_get",
    "aqueue_put",
    "aqueue_take",
    "asleep",
    "call_concurrently",
    "dispose",
    "let_others_run",
    "queue_get",
    "queue_put",
    "queue_take",
    "sleep",
]

T = TypeVar("T")

asleep = asyncio.sleep
sleep = time.sleep

#: Threads the sync "confirmed" send mode calls send(wait=True) from.
CONFIRMING_THREADS = 64
_pool: ThreadPoolExecutor | None = None


async def acall_concurrently(
    fn: Callable[..., Awaitable[Any]], args: Sequence[tuple[Any, ...]]
) -> None:
    """Call ``fn(*a)`` for every ``a`` at once (one task each); re-raise the first error."""
    await asyncio.gather(*(fn(*a) for a in args))


def call_concurrently(fn: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> None:
    """Sync: call ``fn(*a)`` for every ``a`` from a pool of threads; re-raise the first error."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(CONFIRMING_THREADS, thread_name_prefix="bench-confirm")
    for future in [_pool.submit(fn, *a) for a in args]:
        future.result()


async def alet_others_run() -> None:
    """Let the loop run the other tasks (the consumers) before going on."""
    await asyncio.sleep(0)


def let_others_run() -> None:
    """Threads are preempted: nothing to do."""


class _AClosable(Protocol):
    async def aclose(self) -> None: ...


class _Closable(Protocol):
    def close(self) -> None: ...


async def adispose(obj: _AClosable) -> None:
    """Close ``obj`` (a redis-py client or Pub/Sub object, an exit stack, ...)."""
    await obj.aclose()


def dispose(obj: _Closable) -> None:
    obj.close()


# -- queues (the memory:// baseline) ------------------------------------------------------

AQueue = asyncio.Queue
Queue = queue.Queue


def aqueue_put(q: asyncio.Queue[T]) -> Callable[[T], None]:
    """The put of an unbounded queue, which never waits."""
    return q.put_nowait


def queue_put(q: queue.Queue[T]) -> Callable[[T], None]:
    return q.put


async def aqueue_get(q: asyncio.Queue[T], timeout: float) -> T:
    """The next item, waiting at most ``timeout`` s for it; TimeoutError if none came."""
    if not q.empty():
        return q.get_nowait()
    return await asyncio.wait_for(q.get(), timeout)


def queue_get(q: queue.Queue[T], timeout: float) -> T:
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError from None


def aqueue_take(q: asyncio.Queue[T], items: list[T], max_messages: int) -> None:
    """Append to ``items`` what ``q`` holds, up to ``max_messages`` items in all, without
    waiting. One task runs at a time: nothing takes from ``q`` meanwhile."""
    get = q.get_nowait
    for _ in range(min(max_messages - len(items), q.qsize())):
        items.append(get())


def queue_take(q: queue.Queue[T], items: list[T], max_messages: int) -> None:
    """The same for threads: another consumer of ``q`` may empty it meanwhile."""
    get = q.get_nowait
    try:
        while len(items) < max_messages:
            items.append(get())
    except queue.Empty:
        pass
