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
    "ALock",
    "AOpenable",
    "AWaiter",
    "Lock",
    "Openable",
    "Waiter",
    "amonotonic",
    "aopened",
    "asleep",
    "monotonic",
    "opened",
    "sleep",
]

T = TypeVar("T")
monotonic = amonotonic = time.monotonic
sleep = time.sleep
asleep = asyncio.sleep
Lock = threading.Lock
ALock = asyncio.Lock


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
