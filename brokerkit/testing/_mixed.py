"""Mixed-API cases: the sync and async APIs on one broker at once (hand-written).

A sync producer feeding an async consumer and the reverse, with the sync API called from
a thread that is running an event loop (even from a coroutine on that loop, next to async
consumers of the same broker) and from a worker thread with its own loop.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

import brokerkit

from ._async.support import acollect
from ._support import DELIVERY_TIMEOUT, guarantee_for, requires, run
from ._sync.support import collect


def _values(msgs: list[Any]) -> list[bytes]:
    return sorted(m.value for m in msgs)


class MixedSuite:
    """Sync and async APIs together. Needs the fixtures of ``brokerkit.testing.plugin``."""

    @pytest.mark.asyncio
    async def test_sync_producer_feeds_async_consumer_from_inside_the_loop(
        self, abroker: brokerkit.AsyncBroker, broker: brokerkit.Broker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        expected = [b"s2a-%d" % i for i in range(20)]
        async with abroker.consumer(topic, guarantee=g) as consumer:
            # The async consumer waits in a task of this loop while this coroutine blocks
            # in the sync API: the sync API must not need this loop.
            waiting = asyncio.get_running_loop().create_task(
                acollect(consumer, len(expected), ack=True)
            )
            with broker.producer(topic, guarantee=g) as producer:
                producer.send_many(expected[:10])
                for value in expected[10:]:
                    producer.send(value)
                producer.flush()
            msgs = await asyncio.wait_for(waiting, DELIVERY_TIMEOUT * 2)
        assert _values(msgs) == sorted(expected)

    @pytest.mark.asyncio
    async def test_async_producer_feeds_sync_consumer_from_inside_the_loop(
        self, abroker: brokerkit.AsyncBroker, broker: brokerkit.Broker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        expected = [b"a2s-%d" % i for i in range(20)]
        with broker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many(expected[:10])
                for value in expected[10:]:
                    await producer.send(value)
            msgs = collect(consumer, len(expected), ack=True)  # blocks this loop's thread
        assert _values(msgs) == sorted(expected)

    def test_sync_producer_feeds_async_consumer_in_another_thread(
        self, broker_url: str, broker: brokerkit.Broker, topic: str
    ) -> None:
        g = guarantee_for(broker.capabilities)
        expected = [b"t-%d" % i for i in range(20)]
        subscribed = threading.Event()

        async def consume() -> list[bytes]:
            async with (
                brokerkit.connect_async(broker_url) as abroker,
                abroker.consumer(topic, guarantee=g) as consumer,
            ):
                subscribed.set()
                return _values(await acollect(consumer, len(expected), ack=True))

        handle = run(lambda: asyncio.run(consume()))
        assert subscribed.wait(DELIVERY_TIMEOUT)
        with broker.producer(topic, guarantee=g) as producer:
            producer.send_many(expected)
        assert handle.wait(DELIVERY_TIMEOUT * 2) == sorted(expected)

    def test_sync_api_in_a_worker_thread_running_an_event_loop(
        self, broker_url: str, topic: str
    ) -> None:
        expected = [b"w-%d" % i for i in range(10)]

        async def main() -> list[bytes]:
            # A coroutine using the sync API: this thread is running an event loop.
            with brokerkit.connect(broker_url) as sbroker:
                g = guarantee_for(sbroker.capabilities)
                with sbroker.consumer(topic, guarantee=g) as consumer:
                    async with (
                        brokerkit.connect_async(broker_url) as abroker,
                        abroker.producer(topic, guarantee=g) as producer,
                    ):
                        await producer.send_many(expected)
                    return _values(collect(consumer, len(expected), ack=True))

        def in_thread() -> list[bytes]:
            try:
                return asyncio.run(main())
            except brokerkit.BrokerConnectionError as exc:
                pytest.skip(f"broker unreachable: {exc}")

        assert run(in_thread).wait(DELIVERY_TIMEOUT * 3) == sorted(expected)

    def test_async_producer_in_a_thread_feeds_sync_consumer(
        self, broker_url: str, broker: brokerkit.Broker, topic: str
    ) -> None:
        g = guarantee_for(broker.capabilities)
        expected = [b"r-%d" % i for i in range(20)]

        async def produce() -> None:
            async with (
                brokerkit.connect_async(broker_url) as abroker,
                abroker.producer(topic, guarantee=g) as producer,
            ):
                await producer.send_many(expected[:10])
                for value in expected[10:]:
                    await producer.send(value)

        with broker.consumer(topic, guarantee=g) as consumer:
            run(lambda: asyncio.run(produce())).wait(DELIVERY_TIMEOUT)
            msgs = collect(consumer, len(expected), ack=True)
        assert _values(msgs) == sorted(expected)

    @requires("at_least_once", "consumer_groups")
    def test_sync_consumer_acks_from_another_thread(
        self, broker: brokerkit.Broker, topic: str, group: str
    ) -> None:
        with broker.consumer(topic, group=group, commit="sync") as consumer:
            with broker.producer(topic) as producer:
                producer.send_many([b"x1", b"x2"])
            msgs = collect(consumer, 2)
            run(lambda: [m.ack() for m in msgs]).wait()
        with broker.consumer(topic, group=group) as again:
            assert collect(again, 1, 0.5) == []
