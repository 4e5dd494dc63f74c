"""The producer's sends in flight against a real Redis: refusals surface where API.md says,
timeouts hold against a broker that stops answering, over-limit messages never reach the
wire, and a confirmed sender alone hears about its own message. Sync and async.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tcp_faults import Link
from test_redis import PrivateRedis

import brokerkit
from brokerkit.testing import SESSION_PREFIX

redis = pytest.importorskip("redis")

URL = os.environ.get("BROKERKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: A bound well above the timeouts under test, so the assertions hold on a busy machine
#: while a blocked call (no timeout kept) would still fail them.
SLACK = 5.0


@pytest.fixture
def raw() -> Iterator[Any]:
    url = brokerkit.make_url(URL)
    client = redis.Redis(host=url.host, port=url.port or 6379, db=int(url.path or 0))
    try:
        client.ping()
    except redis.RedisError as exc:
        from brokerkit.testing._support import unreachable

        unreachable(URL, exc)
    yield client
    client.close()


@pytest.fixture
def topic(raw: Any) -> Iterator[str]:
    name = f"{SESSION_PREFIX}prod-{uuid.uuid4().hex}"
    yield name
    raw.delete(name)


def _silent_url(link: Link) -> str:
    return f"redis://127.0.0.1:{link.port}/0?socket_timeout=1&reconnect_timeout=1"


def test_flush_and_close_keep_their_timeouts_against_a_silent_broker_sync(topic: str) -> None:
    with Link(("127.0.0.1", 6379)) as link:
        broker = brokerkit.connect(_silent_url(link), close_timeout=1.0)
        producer = broker.producer(topic, delivery_timeout=30.0)
        producer.send(b"before", wait=True)
        link.silence()  # connections stay open (new ones too); nothing answers any more
        producer.send(b"unanswered")
        started = time.monotonic()
        with pytest.raises(brokerkit.TimeoutError, match=r"1 message\(s\).*unconfirmed"):
            producer.flush(timeout=0.5)
        assert time.monotonic() - started < 0.5 + SLACK
        started = time.monotonic()
        with pytest.raises(brokerkit.BrokerError):
            producer.close()  # close_timeout=1: raises, within its bound
        assert time.monotonic() - started < 1.0 + SLACK
        with pytest.raises(brokerkit.ClosedError):
            producer.send(b"after close")
        link.cut()
        broker.close()


async def test_flush_and_close_keep_their_timeouts_against_a_silent_broker_async(
    topic: str,
) -> None:
    with Link(("127.0.0.1", 6379)) as link:
        broker = await brokerkit.connect_async(_silent_url(link), close_timeout=1.0)
        producer = await broker.producer(topic, delivery_timeout=30.0)
        await producer.send(b"before", wait=True)
        link.silence()
        await producer.send(b"unanswered")
        started = time.monotonic()
        with pytest.raises(brokerkit.TimeoutError, match=r"1 message\(s\).*unconfirmed"):
            await producer.flush(timeout=0.5)
        assert time.monotonic() - started < 0.5 + SLACK
        started = time.monotonic()
        with pytest.raises(brokerkit.BrokerError):
            await producer.close()
        assert time.monotonic() - started < 1.0 + SLACK
        link.cut()
        await broker.close()


async def test_a_confirmed_sender_is_answered_when_the_producer_closes_unanswered(
    topic: str,
) -> None:
    """A send(wait=True) waiting when close() gives up on a silent broker raises (the
    message may or may not be stored) instead of waiting forever."""
    with Link(("127.0.0.1", 6379)) as link:
        broker = await brokerkit.connect_async(_silent_url(link), close_timeout=1.0)
        producer = await broker.producer(topic, delivery_timeout=30.0)
        await producer.send(b"before", wait=True)
        link.silence()
        waiter = asyncio.ensure_future(producer.send(b"unanswered", wait=True))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        with pytest.raises(brokerkit.BrokerError):
            await producer.close()
        started = time.monotonic()
        with pytest.raises(brokerkit.BrokerError):
            await asyncio.wait_for(waiter, 1.0 + SLACK)
        assert time.monotonic() - started < 1.0 + SLACK
        link.cut()
        await broker.close()


async def test_an_unanswered_batch_becomes_a_delivery_error_after_delivery_timeout(
    topic: str,
) -> None:
    """With flush() unbounded, the producer's delivery_timeout ends the wait: the messages
    of a batch the broker never answered are reported as not stored, never forgotten."""
    with Link(("127.0.0.1", 6379)) as link:
        async with brokerkit.connect_async(_silent_url(link)) as broker:
            producer = await broker.producer(topic, delivery_timeout=1.0)
            link.silence()
            await producer.send_many([b"a", b"b"])
            started = time.monotonic()
            with pytest.raises(brokerkit.DeliveryError) as info:
                await producer.flush()
            assert time.monotonic() - started < 1.0 + SLACK
            assert [v for v, _ in info.value.failures] == [b"a", b"b"]
            link.cut()
            await producer.close()


def test_a_refusal_surfaces_from_flush_then_from_the_next_send(raw: Any, topic: str) -> None:
    raw.set(topic, b"not a stream")  # every XADD is refused (WRONGTYPE)
    with brokerkit.connect(URL) as broker:
        producer = broker.producer(topic)
        producer.send(b"refused-1")
        with pytest.raises(brokerkit.DeliveryError, match="WRONGTYPE") as info:
            producer.flush()
        assert [v for v, _ in info.value.failures] == [b"refused-1"]
        producer.flush()  # reported once: nothing is pending any more
        producer.send(b"refused-2")
        deadline = time.monotonic() + 10
        raised: brokerkit.DeliveryError | None = None
        while raised is None and time.monotonic() < deadline:
            try:  # the refusal arrives in the background; a later send() raises it
                producer.send(b"refused-3")
            except brokerkit.DeliveryError as exc:
                raised = exc
            time.sleep(0.01)
        assert raised is not None
        assert b"refused-2" in [v for v, _ in raised.failures]
        producer.send(b"refused-4")
        with pytest.raises(brokerkit.DeliveryError, match="refused-4"):
            producer.close()  # close() flushes: the refusal comes from there


async def test_a_confirmed_sender_alone_hears_of_its_refusal(raw: Any, topic: str) -> None:
    raw.set(topic, b"not a stream")
    async with brokerkit.connect_async(URL) as broker:
        producer = await broker.producer(topic)
        with pytest.raises(brokerkit.DeliveryError, match="WRONGTYPE"):
            await producer.send(b"mine", wait=True)
        await producer.flush()  # the refusal went to its sender, not to everyone
        await producer.close()


def test_an_over_limit_message_never_reaches_redis(tmp_path: Path) -> None:
    """proto-max-bulk-len 1mb: the producer learns the limit from the server and refuses a
    larger value before sending; its batch-mates are stored exactly once."""
    server = PrivateRedis(tmp_path, "--proto-max-bulk-len", "1mb")
    server.start()
    topic = f"{SESSION_PREFIX}limit-{uuid.uuid4().hex}"
    try:
        with brokerkit.connect(server.url) as broker, broker.producer(topic) as producer:
            started = time.monotonic()
            with pytest.raises(brokerkit.DeliveryError, match="1048576 bytes"):
                producer.send(b"x" * (2 << 20))
            assert time.monotonic() - started < SLACK  # at once, not after retries
            producer.send(b"small-1")
            with pytest.raises(brokerkit.DeliveryError):
                producer.send_many([b"small-2", b"y" * (2 << 20), b"small-3"])
            producer.send(b"small-4")
            producer.flush()
        with server.client() as check:
            values = [fields[b"v"] for _, fields in check.xrange(topic)]
        assert values == [b"small-1", b"small-4"]
    finally:
        server.kill()


async def test_a_thousand_tasks_sending_at_once_all_succeed(raw: Any, topic: str) -> None:
    """Before: over 100 concurrent sends failed with "Too many connections" (reported as
    an unreachable broker). Now one producer's sends share its flusher's connection."""
    import asyncio

    async with brokerkit.connect_async(URL) as broker:
        producer = await broker.producer(topic)
        await asyncio.gather(*(producer.send(b"%d" % i) for i in range(1000)))
        await asyncio.gather(*(producer.send(b"w%d" % i, wait=True) for i in range(1000)))
        await producer.close()
    assert raw.xlen(topic) == 2000
