"""The memory:// baseline: a plain ``asyncio.Queue`` (async) or ``queue.Queue`` (sync) per
topic, shared by the consumers of the topic: one ``put`` per message (a ``(value, key)``
tuple when the workload has keys), and a receive takes what is there, up to the batch
size, waiting only for the first. Nothing is acknowledged: a queue hands each item out once.
"""

from __future__ import annotations

import asyncio
import queue
from typing import Any

import brokerkit
from brokerkit.backends.memory._store import get_broker

from ..targets import Setup

__all__ = ["BASELINE"]


class _AsyncSender:
    __slots__ = ("_queue",)

    def __init__(self, q: asyncio.Queue[Any]) -> None:
        self._queue = q

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        put = self._queue.put_nowait
        if keys is None:
            for value in values:
                put(value)
        else:
            for item in zip(values, keys, strict=True):
                put(item)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _values(items: list[Any]) -> list[bytes]:
    if items and type(items[0]) is tuple:
        return [value for value, _ in items]
    return items


class _AsyncReceiver:
    __slots__ = ("_queue",)

    def __init__(self, q: asyncio.Queue[Any]) -> None:
        self._queue = q

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        q = self._queue
        if q.empty():
            try:
                items = [await asyncio.wait_for(q.get(), timeout)]
            except TimeoutError:
                return []
        else:
            items = []
        get = q.get_nowait
        for _ in range(min(max_messages - len(items), q.qsize())):
            items.append(get())
        return _values(items)

    async def ack(self) -> None:
        return None

    async def close(self) -> None:
        return None


class _AsyncSession:
    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[Any]] = {}

    def _queue(self, topic: str) -> asyncio.Queue[Any]:
        return self._queues.setdefault(topic, asyncio.Queue())

    async def sender(self, topic: str) -> _AsyncSender:
        return _AsyncSender(self._queue(topic))

    async def receiver(self, topic: str) -> _AsyncReceiver:
        return _AsyncReceiver(self._queue(topic))

    async def close(self) -> None:
        self._queues.clear()


class _Sender:
    __slots__ = ("_queue",)

    def __init__(self, q: queue.Queue[Any]) -> None:
        self._queue = q

    def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        put = self._queue.put
        if keys is None:
            for value in values:
                put(value)
        else:
            for item in zip(values, keys, strict=True):
                put(item)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Receiver:
    __slots__ = ("_queue",)

    def __init__(self, q: queue.Queue[Any]) -> None:
        self._queue = q

    def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        q = self._queue
        try:
            items = [q.get(timeout=timeout)]
        except queue.Empty:
            return []
        get = q.get_nowait
        try:
            while len(items) < max_messages:
                items.append(get())
        except queue.Empty:
            pass
        return _values(items)

    def ack(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Session:
    def __init__(self) -> None:
        self._queues: dict[str, queue.Queue[Any]] = {}

    def _queue(self, topic: str) -> queue.Queue[Any]:
        return self._queues.setdefault(topic, queue.Queue())

    def sender(self, topic: str) -> _Sender:
        return _Sender(self._queue(topic))

    def receiver(self, topic: str) -> _Receiver:
        return _Receiver(self._queue(topic))

    def close(self) -> None:
        self._queues.clear()


class MemoryBaseline:
    name = "raw"

    async def open_async(self, setup: Setup) -> _AsyncSession:
        return _AsyncSession()

    def open_sync(self, setup: Setup) -> _Session:
        return _Session()

    def cleanup(self, url: str, topics: list[str]) -> None:
        """Drop the topics brokerkit's in-process broker kept for the run (its groups are
        durable for the life of the process, and so is the tail of each log)."""
        broker = get_broker(brokerkit.make_url(url).host or "default")
        with broker.lock:
            for topic in topics:
                broker.topics.pop(topic, None)

    def versions(self, url: str) -> dict[str, str]:
        return {}


BASELINE = MemoryBaseline()
