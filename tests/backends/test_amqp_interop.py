"""brokerkit and aio-pika on the same RabbitMQ exchanges (docs/interop.md): brokerkit
publishes and aio-pika reads the documented body, routing key, properties and headers;
aio-pika publishes plain messages (no brokerkit-* headers) and brokerkit reads them.
Against the shared broker on 127.0.0.1:5672; unreachable RabbitMQ: skip, fail with CI=true.
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import brokerkit
from brokerkit.testing import SESSION_PREFIX

aio_pika = pytest.importorskip("aio_pika")

pytestmark = pytest.mark.amqp

URL = os.environ.get("BROKERKIT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
async def channel() -> AsyncIterator[Any]:
    try:
        socket.create_connection(("127.0.0.1", 5672), 2).close()
    except OSError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ on 127.0.0.1:5672 is not reachable: {exc} (CI=true)")
        pytest.skip(f"RabbitMQ on 127.0.0.1:5672 is not reachable: {exc}")
    connection = await aio_pika.connect(URL, timeout=10)
    async with connection:
        yield await connection.channel()


@pytest.fixture
async def topic(channel: Any) -> AsyncIterator[str]:
    name = f"{SESSION_PREFIX}interop-{uuid.uuid4().hex[:8]}"
    yield name
    for group in ("billing", "b2"):
        await channel.queue_delete(f"{name}.{group}")
    await channel.exchange_delete(name)


async def test_brokerkit_publishes_aio_pika_reads(channel: Any, topic: str) -> None:
    async with brokerkit.connect_async(URL) as broker, broker.producer(topic) as producer:
        # The producer declared the exchange (durable fanout): bind a queue of our own.
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(topic)
        await producer.send(b'{"order": 1}', key="user-1", headers={"event-type": "created"})
        await producer.send(b"binary key", key=b"\xff\x00")
        await producer.send(b"plain")
    got = []
    async with queue.iterator(timeout=10) as messages:
        async for message in messages:
            got.append(message)
            await message.ack()
            if len(got) == 3:
                break
    full, binary, plain = got
    assert full.body == b'{"order": 1}'
    assert full.routing_key == "user-1"  # the key, when it is UTF-8
    assert full.headers == {"event-type": "created", "brokerkit-key": b"user-1"}
    assert full.message_id  # brokerkit's own per-message id
    assert full.delivery_mode == aio_pika.DeliveryMode.PERSISTENT  # at-least-once
    assert (full.content_type, full.timestamp) == (None, None)
    assert binary.routing_key == ""  # not UTF-8: only in the header
    assert binary.headers == {"brokerkit-key": b"\xff\x00"}
    assert (plain.body, plain.routing_key, plain.headers) == (b"plain", "", {})


async def test_aio_pika_publishes_brokerkit_reads(channel: Any, topic: str) -> None:
    stamp = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    async with (
        brokerkit.connect_async(URL) as broker,
        broker.consumer(topic, group="billing") as consumer,
    ):
        exchange = await channel.get_exchange(topic)  # declared by the consumer
        await exchange.publish(
            aio_pika.Message(
                b'{"order": 1}',
                headers={
                    "event-type": "created",
                    "count": 3,
                    "flag": True,
                    "raw": bytearray(b"\xffok"),
                },
                message_id="order-1",
                content_type="application/json",
                timestamp=stamp,
            ),
            routing_key="orders.eu",
        )
        await exchange.publish(aio_pika.Message(b"bare"), routing_key="")
        # A publish with the brokerkit-key header gives the message a key.
        await exchange.publish(
            aio_pika.Message(b"keyed", headers={"brokerkit-key": "user-1"}), routing_key=""
        )
        first, bare, keyed = await consumer.receive_many(max_messages=3, timeout=10)
        assert first.value == b'{"order": 1}'
        assert first.id == "order-1"  # the message_id property
        assert first.key is None  # the routing key routes; it is not read back as the key
        assert first.headers == {
            "event-type": "created",
            "count": "3",
            "flag": "True",
            "raw": "\ufffdok",  # byte arrays: UTF-8, undecodable bytes replaced
        }
        assert first.timestamp == stamp.timestamp()
        assert (bare.value, bare.key, bare.headers) == (b"bare", None, {})
        assert bare.id  # no message_id property: the delivery tag
        assert bare.timestamp is None
        assert (keyed.key, keyed.headers) == (b"user-1", {})
        for message in (first, bare, keyed):
            await message.ack()


async def test_basic_publish_with_no_properties(channel: Any, topic: str) -> None:
    """The lowest level: a basic_publish with an empty properties table (as other AMQP
    libraries and `rabbitmqadmin publish` send it)."""
    async with (
        brokerkit.connect_async(URL) as broker,
        broker.consumer(topic, group="b2") as consumer,
    ):
        underlay = await channel.get_underlay_channel()
        await underlay.basic_publish(b"raw body", exchange=topic, routing_key="x")
        message = await consumer.receive(timeout=10)
        assert message is not None
        assert (message.value, message.key, message.headers) == (b"raw body", None, {})
        assert message.delivery_count == 1
        await message.ack()
