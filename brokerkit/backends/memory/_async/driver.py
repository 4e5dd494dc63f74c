"""The memory:// driver, async source (the sync twin is generated from this file)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ...._acompat import AWaiter, monotonic
from ...._spec import ConsumerConfig, ProducerConfig
from ...._types import Capabilities, Guarantee, Record
from ...._url import BrokerURL
from .._store import Delivery, Member, MemoryBroker, get_broker

log = logging.getLogger("brokerkit.memory")


class AsyncMemoryProducer:
    __slots__ = ("_broker", "_topic")

    def __init__(self, broker: MemoryBroker, topic: str) -> None:
        self._broker = broker
        self._topic = topic

    async def publish(self, records: Sequence[Record], timeout: float | None) -> None:
        self._broker.publish(self._topic, records)  # stored when it returns

    async def wait(self, handle: Any, timeout: float | None) -> None:
        return None

    async def close(self, timeout: float | None) -> None:
        return None


class AsyncMemoryConsumer:
    __slots__ = ("_at_most_once", "_broker", "_member")

    def __init__(self, broker: MemoryBroker, member: Member, config: ConsumerConfig) -> None:
        self._broker = broker
        self._member = member
        self._at_most_once = config.guarantee is Guarantee.AT_MOST_ONCE

    async def fetch(self, max_messages: int, timeout: float | None) -> list[Delivery]:
        broker = self._broker
        out, _ = broker.fetch(self._member, max_messages, self._at_most_once)
        if out or timeout == 0:
            return out
        deadline = None if timeout is None else monotonic() + timeout
        member = self._member
        while True:
            waiter = AWaiter()
            out, due = broker.fetch(member, max_messages, self._at_most_once, waiter)
            if out:
                return out
            now = monotonic()
            wait = None if deadline is None else deadline - now
            if due is not None:
                wait = due - now if wait is None else min(wait, due - now)
            if wait is not None and wait <= 0:
                broker.discard_waiter(member, waiter)
                if deadline is not None and now >= deadline:
                    return []
                continue
            if not await waiter.wait(wait):
                broker.discard_waiter(member, waiter)

    async def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        broker = self._broker
        if acks:
            broker.ack(self._member, acks)
        if nacks:
            by_delay: dict[float | None, list[int]] = {}
            for token, delay in nacks:
                by_delay.setdefault(delay, []).append(token)
            for delay, tokens in by_delay.items():
                broker.nack(self._member, tokens, delay)

    async def close(self, timeout: float | None) -> None:
        self._broker.leave(self._member)


class AsyncMemoryDriver:
    """Connects to the process-wide in-process broker named by the URL."""

    def __init__(
        self, url: BrokerURL, options: Mapping[str, Any], capabilities: Capabilities
    ) -> None:
        self._name = url.host or "default"
        self._broker: MemoryBroker | None = None

    async def connect(self, timeout: float) -> None:
        self._broker = get_broker(self._name)
        log.info("connected to the in-process broker %r", self._name)

    def _live(self) -> MemoryBroker:
        assert self._broker is not None, "connect() first"
        return self._broker

    async def open_producer(self, topic: str, config: ProducerConfig) -> AsyncMemoryProducer:
        return AsyncMemoryProducer(self._live(), topic)

    async def open_consumer(
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> AsyncMemoryConsumer:
        broker = self._live()
        return AsyncMemoryConsumer(broker, broker.join(topic, group), config)

    async def close(self) -> None:
        if self._broker is not None:
            log.info("closed the connection to the in-process broker %r", self._name)
        self._broker = None
