"""The brokerkit target: the workload through brokerkit's public API, as a user writes it.

``batch_size`` 1 uses ``send()`` / ``receive()``, larger batches ``send_many()`` /
``receive_many()``; at-least-once consumers ``ack()`` every message.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, ExitStack
from typing import Any

import brokerkit

from .targets import GROUP, Setup

__all__ = ["BROKERKIT"]


def _consumer_options(setup: Setup) -> dict[str, Any]:
    workload = setup.workload
    options: dict[str, Any] = {"guarantee": workload.guarantee}
    if workload.prefetch is not None:
        options["prefetch"] = workload.prefetch
    if workload.guarantee == "at-least-once":
        options["commit"] = workload.commit
        if workload.commit_every is not None:
            options["commit_every"] = workload.commit_every
    return options


# -- async ---------------------------------------------------------------------------------


class _AsyncSender:
    __slots__ = ("_producer", "_single")

    def __init__(self, producer: brokerkit.AsyncProducer, single: bool) -> None:
        self._producer = producer
        self._single = single

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        producer = self._producer
        if self._single and len(values) == 1:
            await producer.send(values[0], keys[0] if keys is not None else None)
        elif keys is None:
            await producer.send_many(values)
        else:
            await producer.send_many(list(zip(values, keys, strict=True)))

    async def flush(self) -> None:
        await self._producer.flush()

    async def close(self) -> None:
        await self._producer.close()


class _AsyncReceiver:
    __slots__ = ("_consumer", "_messages", "_single")

    def __init__(self, consumer: brokerkit.AsyncConsumer, single: bool) -> None:
        self._consumer = consumer
        self._single = single
        self._messages: list[brokerkit.AsyncMessage] = []

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        if self._single:
            message = await self._consumer.receive(timeout)
            self._messages = messages = [message] if message is not None else []
        else:
            self._messages = messages = await self._consumer.receive_many(max_messages, timeout)
        return [m.value for m in messages]

    async def ack(self) -> None:
        for message in self._messages:
            await message.ack()

    async def close(self) -> None:
        await self._consumer.close()


class _AsyncSession:
    def __init__(self, broker: brokerkit.AsyncBroker, setup: Setup) -> None:
        self._broker = broker
        self._setup = setup
        self._single = setup.workload.batch_size == 1
        self._stack = AsyncExitStack()

    async def sender(self, topic: str) -> _AsyncSender:
        producer = self._broker.producer(topic, guarantee=self._setup.workload.guarantee)
        await self._stack.enter_async_context(producer)
        return _AsyncSender(producer, self._single)

    async def receiver(self, topic: str) -> _AsyncReceiver:
        group = None if self._setup.fanout else GROUP
        consumer = self._broker.consumer(topic, group, **_consumer_options(self._setup))
        await self._stack.enter_async_context(consumer)
        return _AsyncReceiver(consumer, self._single)

    async def close(self) -> None:
        try:
            await self._stack.aclose()
        finally:
            await self._broker.close()


# -- sync ----------------------------------------------------------------------------------


class _Sender:
    __slots__ = ("_producer", "_single")

    def __init__(self, producer: brokerkit.Producer, single: bool) -> None:
        self._producer = producer
        self._single = single

    def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        producer = self._producer
        if self._single and len(values) == 1:
            producer.send(values[0], keys[0] if keys is not None else None)
        elif keys is None:
            producer.send_many(values)
        else:
            producer.send_many(list(zip(values, keys, strict=True)))

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.close()


class _Receiver:
    __slots__ = ("_consumer", "_messages", "_single")

    def __init__(self, consumer: brokerkit.Consumer, single: bool) -> None:
        self._consumer = consumer
        self._single = single
        self._messages: list[brokerkit.Message] = []

    def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        if self._single:
            message = self._consumer.receive(timeout)
            self._messages = messages = [message] if message is not None else []
        else:
            self._messages = messages = self._consumer.receive_many(max_messages, timeout)
        return [m.value for m in messages]

    def ack(self) -> None:
        for message in self._messages:
            message.ack()

    def close(self) -> None:
        self._consumer.close()


class _Session:
    def __init__(self, broker: brokerkit.Broker, setup: Setup) -> None:
        self._broker = broker
        self._setup = setup
        self._single = setup.workload.batch_size == 1
        self._stack = ExitStack()

    def sender(self, topic: str) -> _Sender:
        producer = self._broker.producer(topic, guarantee=self._setup.workload.guarantee)
        self._stack.enter_context(producer)
        return _Sender(producer, self._single)

    def receiver(self, topic: str) -> _Receiver:
        group = None if self._setup.fanout else GROUP
        consumer = self._broker.consumer(topic, group, **_consumer_options(self._setup))
        self._stack.enter_context(consumer)
        return _Receiver(consumer, self._single)

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self._broker.close()


class BrokerkitTarget:
    """brokerkit's sync and async APIs."""

    name = "brokerkit"

    async def open_async(self, setup: Setup) -> _AsyncSession:
        broker = await brokerkit.connect_async(setup.url)
        return _AsyncSession(broker, setup)

    def open_sync(self, setup: Setup) -> _Session:
        return _Session(brokerkit.connect(setup.url), setup)


BROKERKIT = BrokerkitTarget()
