"""The memory:// baseline's session: a plain queue per topic, shared by the consumers of
the topic: one put per message (a ``(value, key)`` tuple when the workload has keys), and
a receive takes what is there, up to the batch size, waiting only for the first. Nothing
is acknowledged: a queue hands each item out once.
"""

from __future__ import annotations

from typing import Any

from .._compat import AQueue, aqueue_get, aqueue_put, aqueue_take

__all__ = ["AsyncMemorySession"]


class _Sender:
    __slots__ = ("_queue",)

    def __init__(self, q: AQueue[Any]) -> None:
        self._queue = q

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        put = aqueue_put(self._queue)
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


class _Receiver:
    __slots__ = ("_queue",)

    def __init__(self, q: AQueue[Any]) -> None:
        self._queue = q

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        q = self._queue
        try:
            items = [await aqueue_get(q, timeout)]
        except TimeoutError:
            return []
        aqueue_take(q, items, max_messages)
        return _values(items)

    async def ack(self) -> None:
        return None

    async def close(self) -> None:
        return None


class AsyncMemorySession:
    def __init__(self) -> None:
        self._queues: dict[str, AQueue[Any]] = {}

    def _queue(self, topic: str) -> AQueue[Any]:
        return self._queues.setdefault(topic, AQueue())

    async def sender(self, topic: str) -> _Sender:
        return _Sender(self._queue(topic))

    async def receiver(self, topic: str) -> _Receiver:
        return _Receiver(self._queue(topic))

    async def close(self) -> None:
        self._queues.clear()
