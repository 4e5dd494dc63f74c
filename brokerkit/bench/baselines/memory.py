"""The memory:// baseline: a plain ``asyncio.Queue`` (async) or ``queue.Queue`` (sync) per
topic, shared by the consumers of the topic (the sessions: ``_async/memory_session.py``
and its generated ``_sync`` twin).
"""

from __future__ import annotations

import brokerkit
from brokerkit.backends.memory._store import get_broker

from .._async.memory_session import AsyncMemorySession
from .._sync.memory_session import SyncMemorySession
from ..targets import Setup

__all__ = ["BASELINE"]


class MemoryBaseline:
    name = "raw"

    async def open_async(self, setup: Setup) -> AsyncMemorySession:
        return AsyncMemorySession()

    def open_sync(self, setup: Setup) -> SyncMemorySession:
        return SyncMemorySession()

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
