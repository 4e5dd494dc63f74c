"""The brokerkit target's session: the workload through brokerkit's public API, as a user
writes it. ``batch_size`` 1 uses ``send()`` / ``receive()``, larger batches
``send_many()`` / ``receive_many()`` (or, by the workload's ``send_mode``, a ``send()`` loop
or concurrent ``send(wait=True)`` calls; by ``receive_mode``, ``receive()`` one at a time);
at-least-once consumers ``ack()`` every message.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import brokerkit

from .._compat import acall_concurrently, adispose
from ..targets import GROUP, Setup

__all__ = ["AsyncBrokerkitSession"]


class _Sender:
    __slots__ = ("_mode", "_producer", "_single")

    def __init__(self, producer: brokerkit.AsyncProducer, single: bool, mode: str) -> None:
        self._producer = producer
        self._single = single
        self._mode = mode

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        producer = self._producer
        mode = self._mode
        if mode == "loop":
            send = producer.send
            if keys is None:
                for value in values:
                    await send(value)
            else:
                for value, key in zip(values, keys, strict=True):
                    await send(value, key)
        elif mode == "confirmed":
            # Each caller awaits send() itself, as a web handler would: no wrapper of ours.
            ks: list[bytes | None] = list(keys) if keys is not None else [None] * len(values)
            pairs = list(zip(values, ks, strict=True))
            await acall_concurrently(partial(producer.send, wait=True), pairs)
        elif self._single and len(values) == 1:
            await producer.send(values[0], keys[0] if keys is not None else None)
        elif keys is None:
            await producer.send_many(values)
        else:
            await producer.send_many(list(zip(values, keys, strict=True)))

    async def flush(self) -> None:
        await self._producer.flush()

    async def close(self) -> None:
        await self._producer.close()


class _Receiver:
    """Keeps the messages of the last receive only where ack() needs them (at-least-once):
    messages kept until the next receive outlive the garbage collector's young generations,
    which a loop that handles each message and lets it go does not pay."""

    __slots__ = ("_acked", "_consumer", "_messages", "_single")

    def __init__(self, consumer: brokerkit.AsyncConsumer, single: bool, acked: bool) -> None:
        self._consumer = consumer
        self._single = single
        self._acked = acked
        self._messages: list[brokerkit.AsyncMessage] = []

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        if self._single:
            message = await self._consumer.receive(timeout)
            messages = [message] if message is not None else []
        else:
            messages = await self._consumer.receive_many(max_messages, timeout)
        if self._acked:
            self._messages = messages
        return [m.value for m in messages]

    async def ack(self) -> None:
        if self._single:
            for message in self._messages:
                await message.ack()
        else:  # a batch, acked in one call (as the raw clients commit once per batch)
            await self._consumer.ack_many(self._messages)

    async def close(self) -> None:
        await self._consumer.close()


class AsyncBrokerkitSession:
    """Producers and consumers of one broker; ``consumer_options`` are the keyword
    arguments of ``broker.consumer()`` beyond topic and group."""

    def __init__(
        self, broker: brokerkit.AsyncBroker, setup: Setup, consumer_options: dict[str, Any]
    ) -> None:
        self._broker = broker
        self._setup = setup
        self._consumer_options = consumer_options
        self._single = setup.workload.batch_size == 1
        self._receive_one = self._single or setup.workload.receive_mode == "one"
        self._stack = AsyncExitStack()

    async def sender(self, topic: str) -> _Sender:
        guarantee = brokerkit.Guarantee(self._setup.workload.guarantee)
        producer = self._broker.producer(topic, guarantee=guarantee)
        await self._stack.enter_async_context(producer)
        return _Sender(producer, self._single, self._setup.workload.send_mode)

    async def receiver(self, topic: str) -> _Receiver:
        group = None if self._setup.fanout else GROUP
        consumer = self._broker.consumer(topic, group, **self._consumer_options)
        await self._stack.enter_async_context(consumer)
        acked = self._setup.workload.guarantee == "at-least-once"
        return _Receiver(consumer, self._receive_one, acked)

    async def close(self) -> None:
        try:
            await adispose(self._stack)
        finally:
            await self._broker.close()
