"""The portal: runs an async driver on a background event loop for the sync API.

For backends whose client library is async only (aio-pika, nats-py), ``connect()`` wraps the
backend's async driver in :class:`PortalDriver`. Following anyio's BlockingPortalProvider:

- one process-wide loop thread (``brokerkit-loop``, daemon), started lazily, counted by the
  open portal-backed brokers, stopped and joined when the last one closes;
- a call from the loop thread itself raises (it would deadlock): use ``connect_async``;
- a forked child starts with a fresh portal; the caller's contextvars are copied into each
  call; Ctrl-C while waiting cancels the loop-side work.

Work crosses in batches: the core's producer already hands records over a batch at a
time (one hop per publish() and wait()); ASYNC acks are appended to a local list and
drained by one scheduled callback per batch (~0.15 us per item, not a thread hop per
message); blocking operations (fetch, a SYNC settle or one with nacks, close) cross once
per call.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from ._async.driver import (
    AsyncConsumerDriver,
    AsyncDriver,
    AsyncProducerDriver,
    Delivery,
    Outcomes,
)
from ._spec import ConsumerConfig, ProducerConfig
from ._types import Capabilities, Record
from ._url import BrokerURL
from .errors import BrokerError, DeliveryError

T = TypeVar("T")


class _LoopThread:
    """The shared background loop, reference-counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def acquire(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self.loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()
                    loop.close()

                thread = threading.Thread(target=run, name="brokerkit-loop", daemon=True)
                thread.start()
                ready.wait()
                self.loop, self._thread = loop, thread
            self._users += 1
            return self.loop

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users > 0 or self.loop is None:
                return
            loop, thread = self.loop, self._thread
            self.loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self.loop = None
        self._thread = None


_shared = _LoopThread()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_shared.reset_after_fork)


class Portal:
    """Calls into the shared loop from sync code."""

    def __init__(self) -> None:
        self.loop = _shared.acquire()
        self._released = False

    def call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop and wait for its result."""
        loop = self.loop
        if loop is None or self._released:
            raise RuntimeError("portal is closed")
        if _running_in(loop):
            raise RuntimeError(
                "brokerkit's sync API was called from its own event-loop thread; "
                "use brokerkit.connect_async() inside async code"
            )
        ctx = contextvars.copy_context()
        fut: Future[T] = Future()

        def start() -> None:
            task = loop.create_task(fn(*args), context=ctx)

            def done(t: asyncio.Task[T]) -> None:
                if t.cancelled():
                    fut.cancel()
                elif (exc := t.exception()) is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(t.result())

            task.add_done_callback(done)
            fut.add_done_callback(
                lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel)
            )

        loop.call_soon_threadsafe(start)
        try:
            return fut.result()
        except KeyboardInterrupt:
            fut.cancel()
            raise

    def soon(self, fn: Callable[[], None]) -> None:
        """Schedule a plain callback on the loop without waiting (fire and forget)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn)

    def release(self) -> None:
        if not self._released:
            self._released = True
            _shared.release()


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class _Batcher:
    """Collects items from any thread; one scheduled loop callback drains each batch into
    a task running ``sink(batch)``. Failures are kept for the next ``wait()``."""

    def __init__(
        self, portal: Portal, sink: Callable[[list[Any]], Coroutine[Any, Any, None]]
    ) -> None:
        self._portal = portal
        self._sink = sink
        self._lock = threading.Lock()
        self._items: list[Any] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._errors: list[BaseException] = []

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        self._portal.soon(self._drain)

    def extend(self, items: Sequence[Any]) -> None:
        with self._lock:
            self._items.extend(items)
            if self._scheduled:
                return
            self._scheduled = True
        self._portal.soon(self._drain)

    def _drain(self) -> None:  # on the loop
        with self._lock:
            batch, self._items = self._items, []
            self._scheduled = False
        if batch:
            task = asyncio.get_running_loop().create_task(self._sink(batch))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._errors.append(task.exception())  # type: ignore[arg-type]

    async def settle(self) -> None:
        """On the loop: drain what is queued and wait for every batch task."""
        self._drain()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._errors:
            errors, self._errors = self._errors, []
            first = errors[0]
            if isinstance(first, BrokerError):
                raise first
            raise DeliveryError(f"{len(errors)} batch(es) failed: {first!r}") from first

    async def settle_then(
        self, then: Callable[[], Coroutine[Any, Any, None]], always: bool = False
    ) -> None:
        """On the loop: settle(), then ``then()``; with ``always``, even when settle()
        raised (closing releases the resources whatever failed before)."""
        if not always:
            await self.settle()
            await then()
            return
        try:
            await self.settle()
        finally:
            await then()

    def take_error(self) -> BaseException | None:
        return self._errors.pop(0) if self._errors else None


class PortalProducer:
    """A sync producer driver over an async one: one hop per batch (the core batches)."""

    def __init__(self, portal: Portal, inner: AsyncProducerDriver) -> None:
        self._portal = portal
        self._inner = inner
        self.max_message_bytes: int | None = getattr(inner, "max_message_bytes", None)

    def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        return self._portal.call(self._inner.publish, records, timeout)

    def wait(self, handle: Any, timeout: float | None) -> Outcomes:
        return self._portal.call(self._inner.wait, handle, timeout)

    def close(self, timeout: float | None) -> None:
        self._portal.call(self._inner.close, timeout)


class PortalConsumer:
    def __init__(self, portal: Portal, inner: AsyncConsumerDriver) -> None:
        self._portal = portal
        self._inner = inner
        self._acks = _Batcher(portal, self._ack_async)

    async def _ack_async(self, tokens: list[Any]) -> None:
        await self._inner.settle(tokens, (), False)

    def fetch(self, max_messages: int, timeout: float | None) -> Sequence[Delivery]:
        return self._portal.call(self._inner.fetch, max_messages, timeout)

    def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        if wait or nacks:
            # Queued ASYNC acks go first, then this settle, in one crossing.
            self._portal.call(self._acks.settle_then, lambda: self._inner.settle(acks, nacks, wait))
        elif acks:
            err = self._acks.take_error()
            self._acks.extend(acks)
            if err is not None:
                raise err

    def close(self, timeout: float | None) -> None:
        self._portal.call(self._acks.settle_then, lambda: self._inner.close(timeout), True)


class PortalDriver:
    """A SyncDriver running an AsyncDriver on the shared background loop."""

    def __init__(self, inner_factory: Callable[[], AsyncDriver]) -> None:
        self._inner_factory = inner_factory
        self._portal: Portal | None = None
        self._inner: AsyncDriver | None = None

    def connect(self, timeout: float) -> None:
        portal = Portal()
        try:

            async def make() -> AsyncDriver:
                inner = self._inner_factory()  # created on the loop: it may bind to it
                await inner.connect(timeout)
                return inner

            self._inner = portal.call(make)
        except BaseException:
            portal.release()
            raise
        self._portal = portal

    def _live(self) -> tuple[Portal, AsyncDriver]:
        assert self._portal is not None, "connect() first"
        assert self._inner is not None, "connect() first"
        return self._portal, self._inner

    def open_producer(self, topic: str, config: ProducerConfig) -> PortalProducer:
        portal, inner = self._live()
        return PortalProducer(portal, portal.call(inner.open_producer, topic, config))

    def open_consumer(
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> PortalConsumer:
        portal, inner = self._live()
        return PortalConsumer(portal, portal.call(inner.open_consumer, topic, group, config))

    def close(self) -> None:
        portal, inner = self._portal, self._inner
        self._portal = self._inner = None
        if portal is None or inner is None:
            return
        try:
            portal.call(inner.close)
        finally:
            portal.release()


def portal_driver_factory(
    async_factory: Callable[[BrokerURL, Mapping[str, Any], Capabilities], AsyncDriver],
) -> Callable[[BrokerURL, Mapping[str, Any], Capabilities], PortalDriver]:
    """Turn an async driver factory into a sync one that runs it through the portal."""

    def factory(url: BrokerURL, options: Mapping[str, Any], caps: Capabilities) -> PortalDriver:
        return PortalDriver(lambda: async_factory(url, options, caps))

    return factory
