"""One run of a processor against a broker: consumers, lanes, graceful stop, signals.

An asyncio core. One fetch task per topic takes batches with ``receive_many``; a batch is
split into ``concurrency`` lanes (by key where the broker orders by key, so messages with
one key are handled in order), each lane a task fed chunks through a queue. At most
``batch_size * (concurrency + 1)`` messages are in flight. On stop: no new fetch, each
lane finishes the message it is on (later ones stay unsettled), outcomes are settled, and
closing the consumers commits the acks and hands everything unsettled back to the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import TYPE_CHECKING, Any

from .._api import connect_async
from ._context import ProcessingContext
from ._engine import Engine

if TYPE_CHECKING:
    from ._processor import Processor

log = logging.getLogger("brokerkit.processor")

#: A fetch waits this long for messages before it looks at the stop flag again.
POLL = 0.25


class Run:
    def __init__(
        self,
        processor: Processor,
        url: str | None,
        topics: Sequence[str],
        group: str | None,
        concurrency: int,
        batch_size: int,
        handle_signals: bool,
        options: Mapping[str, Any],
    ) -> None:
        self.processor = processor
        self.url = url
        self.topics = tuple(topics)
        self.group = group
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.handle_signals = handle_signals
        self.options = dict(options)
        self.stop_flag = processor._stop_flag
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.space: asyncio.Event | None = None
        self.inflight = 0
        self.round_robin = 0
        self.max_inflight = batch_size * (concurrency + 1)

    def wake(self) -> None:
        """Called from any thread once the stop flag is set."""
        loop, event = self.loop, self.stop_event
        if loop is None or event is None:
            return
        # RuntimeError: the loop is already closed, the run is over
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)

    # -- signals -----------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[tuple[int, Any]]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return []
        installed: list[tuple[int, Any]] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                previous = signal.getsignal(sig)
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append((sig, previous))
        return installed

    def _on_signal(self, sig: int) -> None:
        log.info("processor received %s: stopping", signal.Signals(sig).name)
        self.processor.stop()

    @staticmethod
    def _remove_signals(loop: asyncio.AbstractEventLoop, installed: list[tuple[int, Any]]) -> None:
        for sig, previous in installed:
            try:
                loop.remove_signal_handler(sig)
                if callable(previous) or previous in (signal.SIG_IGN, signal.SIG_DFL):
                    handler: Callable[[int, FrameType | None], Any] | int | None = previous
                    signal.signal(sig, handler)
            except (RuntimeError, ValueError):
                continue

    # -- the run -----------------------------------------------------------------------

    async def main(self) -> None:
        proc = self.processor
        loop = self.loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        self.space = asyncio.Event()
        if self.stop_flag.is_set():
            self.stop_event.set()
        installed = self._install_signals(loop)
        executor = None
        if any(not h.is_async for h in proc._handlers):
            executor = ThreadPoolExecutor(
                max_workers=self.concurrency, thread_name_prefix="brokerkit-handler"
            )
        try:
            async with await connect_async(self.url) as broker:
                await self._with_broker(broker, loop, executor)
        finally:
            self._remove_signals(loop, installed)
            if executor is not None:
                executor.shutdown(wait=True)

    async def _with_broker(
        self, broker: Any, loop: asyncio.AbstractEventLoop, executor: ThreadPoolExecutor | None
    ) -> None:
        proc = self.processor
        dead_letter_topic = self.options.get("dead_letter_topic") is not None
        consumers: list[Any] = []
        try:
            for topic in self.topics:
                consumer = broker.consumer(topic, group=self.group, **self.options)
                consumers.append(consumer)
                await consumer
            processing = ProcessingContext(
                proc, broker.url.render(), self.topics, self.group, self.stop_flag
            )
            engine = Engine(
                handlers=proc._handlers,
                before_handling=proc._before_handling,
                after_handling=proc._after_handling,
                backoff=proc.backoff,
                backoff_max=proc.backoff_max,
                processing=processing,
                stop_flag=self.stop_flag,
                loop=loop,
                executor=executor,
                dlq=proc.dlq,
                dead_letter_topic=dead_letter_topic,
            )
            engine.stop_event = self.stop_event
            if proc.dlq is None and not dead_letter_topic:
                log.warning(
                    "processor has no dead-letter store: set_dlq(brokerkit.SQLiteDLQ(path)) or "
                    "pass dead_letter_topic=...; until then dead letters are logged and dropped"
                )
            await engine.run_hooks(proc._before_processing, "before_processing")
            log.info(
                "processor started: %s topics=%s group=%r concurrency=%d",
                processing.url,
                list(self.topics),
                self.group,
                self.concurrency,
            )
            try:
                await self._consume(consumers, engine, broker.capabilities.ordered)
            finally:
                await self._close(consumers)
                consumers = []
                log.info(
                    "processor stopped: %s topics=%s group=%r handled=%d dead-lettered=%d",
                    processing.url,
                    list(self.topics),
                    self.group,
                    engine.handled,
                    engine.dead_lettered,
                )
                await engine.run_hooks(proc._after_processing, "after_processing")
        finally:
            await self._close(consumers)

    @staticmethod
    async def _close(consumers: list[Any]) -> None:
        errors = []
        for consumer in consumers:
            try:
                await consumer.close()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    async def _consume(self, consumers: list[Any], engine: Engine, ordered: bool) -> None:
        assert self.stop_event is not None
        assert self.space is not None
        queues: list[asyncio.Queue[list[Any] | None]] = [
            asyncio.Queue() for _ in range(self.concurrency)
        ]
        lanes = [asyncio.ensure_future(self._lane(q, engine)) for q in queues]
        fetchers = [asyncio.ensure_future(self._fetch(c, queues, ordered)) for c in consumers]
        stopped = asyncio.ensure_future(self.stop_event.wait())
        try:
            await asyncio.wait([stopped, *fetchers, *lanes], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.stop_flag.set()
            self.stop_event.set()
            self.space.set()
            fetched = await asyncio.gather(*fetchers, return_exceptions=True)
            for q in queues:
                q.put_nowait(None)
            handled = await asyncio.gather(*lanes, return_exceptions=True)
            stopped.cancel()
        for result in (*fetched, *handled):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    async def _fetch(
        self, consumer: Any, queues: list[asyncio.Queue[list[Any] | None]], ordered: bool
    ) -> None:
        assert self.space is not None
        stop = self.stop_flag
        space = self.space
        n = len(queues)
        batch_size = self.batch_size
        while not stop.is_set():
            if self.inflight >= self.max_inflight:
                space.clear()
                await space.wait()
                continue
            batch = await consumer.receive_many(batch_size, timeout=POLL)
            if not batch or stop.is_set():
                continue  # fetched while stopping: unsettled, back to the group on close
            self.inflight += len(batch)
            if n == 1:
                queues[0].put_nowait(batch)
                continue
            parts: list[list[Any]] = [[] for _ in range(n)]
            rr = self.round_robin  # keyless messages take turns over the lanes
            self.round_robin = (rr + len(batch)) % n
            if ordered:
                for i, msg in enumerate(batch, rr):
                    key = msg.key
                    parts[i % n if key is None else hash(key) % n].append(msg)
            else:
                for i, msg in enumerate(batch, rr):
                    parts[i % n].append(msg)
            for q, part in zip(queues, parts, strict=True):
                if part:
                    q.put_nowait(part)

    async def _lane(self, queue: asyncio.Queue[list[Any] | None], engine: Engine) -> None:
        assert self.space is not None
        space = self.space
        while True:
            chunk = await queue.get()
            if chunk is None:
                return
            try:
                await engine.run_chunk(chunk)
            finally:
                self.inflight -= len(chunk)
                space.set()
