"""TestClient: run a processor's hooks and handlers on messages, without a broker."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

from ._context import ProcessingContext
from ._engine import Engine

if TYPE_CHECKING:
    from ._processor import Processor

__all__ = ["TestClient", "TestMessage"]

_ids = itertools.count(1)


class TestMessage:
    """A message made by :meth:`TestClient.send`: the attributes of a brokerkit message;
    settling it records it in the client's ``acked`` / ``nacked`` / ``dead_lettered``."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        client: TestClient,
        value: bytes,
        topic: str,
        key: bytes | None,
        headers: dict[str, str],
        delivery_count: int,
    ) -> None:
        self._client = client
        self.value = value
        self.key = key
        self.headers = headers
        self.topic = topic
        self.id: str = str(next(_ids))
        self.timestamp: float | None = time.time()
        self.delivery_count = delivery_count
        self.settled: bool = False
        self.reason: str | None = None
        """The dead-letter reason, once dead-lettered."""
        self.nack_delay: float | None = None

    def __repr__(self) -> str:
        return f"<TestMessage topic={self.topic!r} id={self.id} value={self.value[:40]!r}>"

    async def ack(self) -> None:
        if not self.settled:
            self.settled = True
            self._client.acked.append(self)

    async def nack(self, requeue: bool = True, delay: float | None = None) -> None:
        if not self.settled:
            self.settled = True
            self.nack_delay = delay
            self._client.nacked.append(self)

    async def dead_letter(self, reason: str) -> None:
        if not self.settled:
            self.settled = True
            self.reason = reason
            self._client.dead_lettered.append(self)


def _as_bytes(value: bytes | str | None, what: str) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"{what} must be bytes or str, got {type(value).__name__}")


class TestClient:
    """Runs a processor's hooks and handlers on messages sent with :meth:`send` (or
    ``await`` :meth:`asend` inside a running event loop), with no broker.

    ``before_processing`` hooks run on entering (or the first send), ``after_processing``
    on :meth:`close` / leaving the ``with`` block. Every message ends in exactly one of
    ``acked``, ``nacked`` or ``dead_lettered`` (reasons in ``message.reason``), unless it
    is left unsettled (``unsettled``). Retries and their backoff run as configured; the
    processor's dead-letter store is not written to (dead letters are only recorded).
    """

    __test__ = False

    def __init__(self, processor: Processor, topic: str = "test") -> None:
        self.processor = processor
        self.topic = topic
        self.acked: list[TestMessage] = []
        self.nacked: list[TestMessage] = []
        self.dead_lettered: list[TestMessage] = []
        self.sent: list[TestMessage] = []
        self._stop_flag = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._started = False
        self._closed = False

    @property
    def unsettled(self) -> list[TestMessage]:
        return [m for m in self.sent if not m.settled]

    def _make_engine(self, loop: asyncio.AbstractEventLoop) -> Engine:
        proc = self.processor
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="brokerkit-test-handler")
        processing = ProcessingContext(proc, "test://", (self.topic,), None, self._stop_flag)
        return Engine(
            handlers=proc._handlers,
            before_handling=proc._before_handling,
            after_handling=proc._after_handling,
            backoff=proc.backoff,
            backoff_max=proc.backoff_max,
            processing=processing,
            stop_flag=self._stop_flag,
            loop=loop,
            executor=self._executor,
            dlq=None,
            dead_letter_topic=True,  # dead letters are recorded in dead_lettered
        )

    def _message(
        self,
        value: bytes | str,
        topic: str | None,
        key: bytes | str | None,
        headers: Mapping[str, str] | None,
        delivery_count: int,
    ) -> TestMessage:
        if self._closed:
            raise RuntimeError("this test client is closed")
        msg = TestMessage(
            self,
            _as_bytes(value, "value") or b"",
            topic or self.topic,
            _as_bytes(key, "key"),
            dict(headers or {}),
            delivery_count,
        )
        self.sent.append(msg)
        return msg

    # -- sync --------------------------------------------------------------------------

    def _sync_engine(self) -> tuple[asyncio.AbstractEventLoop, Engine]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        if self._engine is None:
            self._engine = self._make_engine(self._loop)
        if not self._started:
            self._started = True
            self._loop.run_until_complete(
                self._engine.run_hooks(self.processor._before_processing, "before_processing")
            )
        return self._loop, self._engine

    def send(
        self,
        value: bytes | str,
        *,
        topic: str | None = None,
        key: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        delivery_count: int = 1,
    ) -> TestMessage:
        """Run ``value`` through the processor now; returns the settled message."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                "TestClient.send() cannot run inside a running event loop: use "
                "`async with processor.test_client() as client:` and `await client.asend(...)`"
            )
        loop, engine = self._sync_engine()
        msg = self._message(value, topic, key, headers, delivery_count)
        loop.run_until_complete(engine.run_chunk([msg]))
        return msg

    def close(self) -> None:
        """Run the after_processing hooks (if started) and release the client."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._started and self._loop is not None and self._engine is not None:
                self._loop.run_until_complete(
                    self._engine.run_hooks(self.processor._after_processing, "after_processing")
                )
        finally:
            if self._loop is not None:
                self._loop.close()
            if self._executor is not None:
                self._executor.shutdown(wait=True)

    def __enter__(self) -> TestClient:
        self._sync_engine()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- async -------------------------------------------------------------------------

    async def _async_engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._make_engine(asyncio.get_running_loop())
        if not self._started:
            self._started = True
            await self._engine.run_hooks(self.processor._before_processing, "before_processing")
        return self._engine

    async def asend(
        self,
        value: bytes | str,
        *,
        topic: str | None = None,
        key: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        delivery_count: int = 1,
    ) -> TestMessage:
        """:meth:`send` for use inside a running event loop."""
        engine = await self._async_engine()
        msg = self._message(value, topic, key, headers, delivery_count)
        await engine.run_chunk([msg])
        return msg

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._started and self._engine is not None:
                await self._engine.run_hooks(self.processor._after_processing, "after_processing")
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)

    async def __aenter__(self) -> TestClient:
        await self._async_engine()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
