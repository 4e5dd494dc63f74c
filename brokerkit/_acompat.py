"""Names that exist in an async and a sync spelling.

The async facade is written with the ``a``/``A`` names; tools/unasync.py renames them to
the plain names when it generates the sync twin. This is the only module that imports
both asyncio and threading.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Generator
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = [
    "AEvent",
    "ALock",
    "AOpenable",
    "AOutcomes",
    "ATally",
    "AWaiter",
    "Event",
    "Lock",
    "Openable",
    "Outcomes",
    "Tally",
    "Waiter",
    "aevent_wait",
    "amonotonic",
    "aopened",
    "apause",
    "asleep",
    "aspawn",
    "event_wait",
    "monotonic",
    "opened",
    "pause",
    "sleep",
    "spawn",
]

T = TypeVar("T")
monotonic = amonotonic = time.monotonic
sleep = time.sleep
asleep = asyncio.sleep
Lock = threading.Lock
ALock = asyncio.Lock
Event = threading.Event
AEvent = asyncio.Event


async def aevent_wait(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds passed; True if set."""
    if event.is_set():
        return True
    if timeout is None:
        await event.wait()
        return True
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def apause(seconds: float) -> None:
    """Let other tasks run (``seconds`` 0: one loop turn), then go on."""
    await asyncio.sleep(seconds)


def pause(seconds: float) -> None:
    """Sync: other threads run by themselves; only a positive pause sleeps."""
    if seconds > 0:
        time.sleep(seconds)


def event_wait(event: threading.Event, timeout: float | None) -> bool:
    """Sync counterpart of aevent_wait."""
    return event.wait(timeout)


class _TaskJoin:
    __slots__ = ("_task",)

    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task

    async def join(self, timeout: float | None) -> bool:
        """Wait for the task to end (at most ``timeout`` seconds); True if it ended."""
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        return bool(done)

    def cancel(self) -> None:
        self._task.cancel()


class _ThreadJoin:
    __slots__ = ("_thread",)

    def __init__(self, thread: threading.Thread) -> None:
        self._thread = thread

    def join(self, timeout: float | None) -> bool:
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """A thread cannot be cancelled: it ends by itself once its blocking call returns."""


def aspawn(fn: Any, name: str) -> _TaskJoin:
    """Run ``fn()`` (a coroutine function) as a task on the running loop."""
    return _TaskJoin(asyncio.get_running_loop().create_task(fn(), name=name))


def spawn(fn: Any, name: str) -> _ThreadJoin:
    """Run ``fn()`` in a daemon thread."""
    thread = threading.Thread(target=fn, name=name, daemon=True)
    thread.start()
    return _ThreadJoin(thread)


class AOpenable:
    """Mixin: ``await obj`` opens it and returns it; ``async with obj`` opens it and closes
    it on the way out. Subclasses define ``_ensure_open()`` and ``close()``."""

    __slots__ = ()

    async def _ensure_open(self) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def __await__(self) -> Generator[Any, None, Self]:
        return self._await_open().__await__()

    async def _await_open(self) -> Self:
        await self._ensure_open()
        return self

    async def __aenter__(self) -> Self:
        await self._ensure_open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class Openable:
    """Sync counterpart of AOpenable: objects are opened before they are returned, and
    ``with obj`` closes them on the way out."""

    __slots__ = ()

    def _ensure_open(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._ensure_open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def aopened(obj: T) -> T:
    """Async: return ``obj`` unopened; ``await`` or ``async with`` opens it."""
    return obj


def opened(obj: T) -> T:
    """Sync: open ``obj`` now and return it."""
    obj._ensure_open()  # type: ignore[attr-defined]
    return obj


def _set(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class AWaiter:
    """A one-shot wake-up for a coroutine, which any thread may trigger with set()."""

    __slots__ = ("_fut", "_loop")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._fut: asyncio.Future[None] = self._loop.create_future()

    def set(self) -> None:
        with contextlib.suppress(RuntimeError):  # loop already closed: nobody waits
            self._loop.call_soon_threadsafe(_set, self._fut)

    async def wait(self, timeout: float | None) -> bool:
        """Wait until set() or ``timeout`` seconds; True if set."""
        if self._fut.done():
            return True
        try:
            async with asyncio.timeout(timeout):
                await self._fut
        except TimeoutError:
            return False
        return True


class Waiter:
    """Sync counterpart of AWaiter."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def wait(self, timeout: float | None) -> bool:
        return self._event.wait(timeout)


class ATally:
    """A count that senders add to (async: one thread, a plain int)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def add(self, k: int) -> None:
        self.n += k


class Tally:
    """Sync counterpart of ATally: senders on several threads add to it under a lock
    (``n += k`` alone may lose an addition); reading ``n`` needs no lock."""

    __slots__ = ("_lock", "n")

    def __init__(self) -> None:
        self.n = 0
        self._lock = threading.Lock()

    def add(self, k: int) -> None:
        with self._lock:
            self.n += k


class AOutcomes:
    """Where senders that wait for their own message (``send(wait=True)``) wait.

    Async: a ticket is one future, resolved by the flusher (a task on the same loop) with
    the message's error or None; ``wait(ticket)`` is that future itself, so a waiting
    sender costs one future and one wake-up, with no coroutine or shared event of its own.
    """

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()

    def ticket(self) -> asyncio.Future[BaseException | None]:
        return self._loop.create_future()

    def resolve(self, tickets: list[Any], errors: list[BaseException | None] | None) -> None:
        """Hand each ticket its message's error (``errors`` None: every one is stored)."""
        if errors is None:
            for fut in tickets:
                if not fut.done():  # a cancelled sender's future is done already
                    fut.set_result(None)
            return
        for fut, error in zip(tickets, errors, strict=True):
            if not fut.done():
                fut.set_result(error)

    def wait(self, ticket: asyncio.Future[BaseException | None]) -> Any:
        """What ``await`` takes: the message's error, or None once it is stored."""
        return ticket


class Outcomes:
    """Sync counterpart of AOutcomes: a ticket is ``[done, error]``; waiting threads share
    one event, set (and replaced) each time tickets are resolved."""

    __slots__ = ("_answered",)

    def __init__(self) -> None:
        self._answered = threading.Event()

    def ticket(self) -> list[Any]:
        return [False, None]

    def resolve(self, tickets: list[Any], errors: list[BaseException | None] | None) -> None:
        for i, ticket in enumerate(tickets):
            ticket[1] = None if errors is None else errors[i]
            ticket[0] = True
        # Replace, then set: a waiter that read the old event is woken by it; one that
        # reads the new one finds its ticket done already.
        answered, self._answered = self._answered, threading.Event()
        answered.set()

    def wait(self, ticket: list[Any]) -> BaseException | None:
        while not ticket[0]:
            answered = self._answered
            if ticket[0]:
                break
            answered.wait()
        error: BaseException | None = ticket[1]
        return error
