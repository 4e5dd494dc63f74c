"""The async API's objects are opened with ``await`` or ``async with``; used without,
they raise a ClosedError saying so, instead of opening late (a consumer subscribing only
on first use loses what was sent before, silently)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

import brokerkit


def test_asyncio_run_of_connect_async_says_what_to_write() -> None:
    """``asyncio.run(brokerkit.connect_async(url))`` cannot work (connect_async returns
    the broker, to be awaited or entered inside a coroutine); its error says how."""
    with pytest.raises(ValueError, match="a coroutine was expected") as info:
        asyncio.run(brokerkit.connect_async("memory://unopened"))  # type: ignore[arg-type]
    message = str(info.value)
    assert "await brokerkit.connect_async(...)" in message
    assert "async with brokerkit.connect_async(...) as broker" in message


async def test_connected_and_closed_brokers_have_a_plain_repr() -> None:
    broker = await brokerkit.connect_async("memory://unopened")
    assert repr(broker) == "<AsyncBroker memory://unopened>"
    await broker.close()
    assert repr(broker) == "<AsyncBroker memory://unopened>"


async def test_an_unopened_producer_raises_naming_await_and_async_with() -> None:
    async with brokerkit.connect_async("memory://unopened") as broker:
        producer = broker.producer("t")  # neither awaited nor entered
        calls: list[Callable[[], Awaitable[None]]] = [
            lambda: producer.send(b"x"),
            lambda: producer.send_many([b"x"]),
        ]
        for call in calls:
            with pytest.raises(brokerkit.ClosedError) as info:
                await call()
            assert "await broker.producer(...)" in str(info.value)
            assert "async with broker.producer(...) as producer" in str(info.value)
            assert info.value.url == "memory://unopened"
        with pytest.raises(brokerkit.ClosedError, match="not open"):
            await producer.flush()
        opened = await broker.producer("t")
        await opened.send(b"fine")
        await opened.close()
        with pytest.raises(brokerkit.ClosedError, match="is closed"):
            await opened.send(b"after close")


async def test_an_unopened_consumer_raises_naming_await_and_async_with() -> None:
    """API.md: a consumer is subscribed when consumer() returns. An async consumer that
    was neither awaited nor entered is not subscribed, so receiving from it raises
    (it used to subscribe on first use, silently losing what was sent before)."""
    async with brokerkit.connect_async("memory://unopened-c") as broker:
        consumer = broker.consumer("t", group="g")  # neither awaited nor entered
        async with broker.producer("t") as producer:
            await producer.send(b"sent before the consumer was opened")
        with pytest.raises(brokerkit.ClosedError) as info:
            await consumer.receive(timeout=0.1)
        assert "await broker.consumer(...)" in str(info.value)
        assert "async with broker.consumer(...) as consumer" in str(info.value)
        with pytest.raises(brokerkit.ClosedError, match="not open"):
            await consumer.receive_many(10, timeout=0.1)
        with pytest.raises(brokerkit.ClosedError, match="not open"):
            async for _ in consumer:
                pass
        async with broker.consumer("t", group="g") as opened:
            async with broker.producer("t") as producer:
                await producer.send(b"after")
            msg = await opened.receive(timeout=1)
            assert msg is not None
            assert msg.value == b"after"
            await msg.ack()
