"""The names the async driver is written with, and their sync spellings.

tools/unasync.py renames ``arun_blocking`` -> ``run_blocking`` and ``arun_bounded`` ->
``run_bounded`` when it generates the sync driver from the async source.

- ``arun_blocking(executor, fn, *args)``: run a blocking confluent-kafka call (``poll``,
  ``consume``) on the driver's single-thread executor, off the event loop; the sync twin
  calls it directly on the caller's thread.
- ``arun_bounded(executor, timeout, fn, *args)``: run a call that librdkafka itself may not
  bound (a synchronous commit, ``close()``) on an executor and give up waiting after
  ``timeout`` seconds (builtin ``TimeoutError``); both twins use the executor for these.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def executor(name: str) -> ThreadPoolExecutor:
    """A single-thread executor: calls into one client run one at a time, in order."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)


async def arun_blocking(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, functools.partial(fn, *args))


def run_blocking(pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    return fn(*args)


async def arun_bounded(
    pool: ThreadPoolExecutor, timeout: float | None, fn: Callable[..., T], *args: Any
) -> T:
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(pool, functools.partial(fn, *args))
    return await asyncio.wait_for(future, timeout)


def run_bounded(
    pool: ThreadPoolExecutor, timeout: float | None, fn: Callable[..., T], *args: Any
) -> T:
    return pool.submit(fn, *args).result(timeout)
