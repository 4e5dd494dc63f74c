"""brokerkit and nats-py on the same subjects and streams (docs/interop.md): brokerkit
publishes and nats-py reads the documented payload and headers; nats-py publishes plain
messages (core NATS and JetStream, with and without headers, no brokerkit-* headers) and
brokerkit reads them; the same for memphis:// stations. Against the shared server on
127.0.0.1:4222; unreachable NATS: skip, fail with CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

import brokerkit
from brokerkit.testing import SESSION_PREFIX

nats = pytest.importorskip("nats")

from brokerkit.backends.nats._codec import decode_headers  # noqa: E402

pytestmark = pytest.mark.nats

HOST, PORT = "127.0.0.1", 4222
URL = f"nats://{HOST}:{PORT}"


@pytest.fixture
async def nc() -> AsyncIterator[Any]:
    try:
        socket.create_connection((HOST, PORT), 2).close()
    except OSError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"NATS on {HOST}:{PORT} is not reachable: {exc} (CI=true)")
        pytest.skip(f"NATS on {HOST}:{PORT} is not reachable: {exc}")
    client = await nats.connect(URL, connect_timeout=5)
    yield client
    await client.close()


@pytest.fixture
async def topic(nc: Any) -> AsyncIterator[str]:
    """A topic that is a valid subject as it is (so the subject is the topic's name)."""
    name = f"{SESSION_PREFIX}interop-{uuid.uuid4().hex[:8]}".replace("-", "_")
    yield name
    js = nc.jetstream()
    for stream in (name, name.lower()):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)


async def _collect(sub: Any, n: int) -> list[Any]:
    return [await sub.next_msg(timeout=10) for _ in range(n)]


async def _raw_hpub(subject: str, header_block: bytes, payload: bytes) -> None:
    """Publish with headers written byte for byte (nats-py only sends str headers)."""
    reader, writer = await asyncio.open_connection(HOST, PORT)
    await reader.readline()  # INFO
    hdr = b"NATS/1.0\r\n" + header_block + b"\r\n"
    writer.write(
        b'CONNECT {"verbose":false,"headers":true}\r\n'
        + f"HPUB {subject} {len(hdr)} {len(hdr) + len(payload)}\r\n".encode()
        + hdr
        + payload
        + b"\r\nPING\r\n"
    )
    await writer.drain()
    assert (await reader.readline()).startswith(b"PONG")
    writer.close()
    await writer.wait_closed()


# -- brokerkit publishes, nats-py reads --------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?jetstream=false"], ids=["jetstream", "core"])
async def test_brokerkit_publishes_nats_py_reads(nc: Any, topic: str, query: str) -> None:
    sub = await nc.subscribe(topic)  # the topic is the subject
    guarantee = brokerkit.Guarantee.AT_MOST_ONCE if query else brokerkit.Guarantee.AT_LEAST_ONCE
    async with (
        brokerkit.connect_async(URL + query) as broker,
        broker.producer(topic, guarantee=guarantee) as producer,
    ):
        await producer.send(b'{"order": 1}', key="user-1", headers={"event-type": "created"})
        await producer.send(b"binary key", key=b"\xff\x00")
        await producer.send(b"odd headers", headers={"two words": "x", "pad": " y "})
        await producer.send(b"plain")
    full, binary, odd, plain = await _collect(sub, 4)
    assert full.data == b'{"order": 1}'
    assert full.headers == {"event-type": "created", "brokerkit-key": "user-1"}
    assert binary.headers == {"brokerkit-key-b64": "/wA="}
    # What NATS headers cannot carry as they are travels JSON-packed in one header.
    assert odd.headers is not None
    assert json.loads(odd.headers["brokerkit-headers"]) == {"two words": "x", "pad": " y "}
    assert plain.data == b"plain"
    assert plain.headers is None  # no key, no headers: nothing but the payload


async def test_message_id_is_nats_msg_id(nc: Any, topic: str) -> None:
    async with brokerkit.connect_async(URL) as broker, broker.producer(topic) as producer:
        await producer.send(b"once", message_id="order-17")
        await producer.send(b"once", message_id="order-17")  # dropped by the stream
    js = nc.jetstream()
    info = await js.stream_info(topic)
    assert info.state.messages == 1
    stored = await js.get_msg(topic, 1)
    assert stored.data == b"once"
    assert stored.headers == {"Nats-Msg-Id": "order-17"}


# -- nats-py publishes, brokerkit reads --------------------------------------------------------


async def test_core_nats_plain_publish(nc: Any, topic: str) -> None:
    async with (
        brokerkit.connect_async(URL + "?jetstream=false") as broker,
        broker.consumer(topic, group="billing", guarantee="at-most-once") as consumer,
    ):
        await nc.publish(topic, b"bare")
        await nc.publish(topic, b'{"order": 1}', headers={"event-type": "created"})
        await nc.publish(topic, b"keyed", headers={"brokerkit-key": "user-1", "a": "1"})
        await nc.flush()
        await _raw_hpub(topic, b"raw: \xffok\r\n", b"raw header")
        bare, full, keyed, raw = await consumer.receive_many(max_messages=4, timeout=10)
    assert (bare.value, bare.key, bare.headers) == (b"bare", None, {})
    assert (full.value, full.key, full.headers) == (
        b'{"order": 1}',
        None,
        {"event-type": "created"},
    )
    assert (keyed.key, keyed.headers) == (b"user-1", {"a": "1"})
    assert raw.value == b"raw header"
    assert raw.headers == {"raw": "\ufffdok"}  # undecodable bytes: U+FFFD
    assert bare.timestamp is None


async def test_jetstream_plain_publish_to_an_existing_stream(nc: Any, topic: str) -> None:
    js = nc.jetstream()
    # The other side made the stream (its own name); brokerkit finds it by the subject.
    await js.add_stream(name=topic.upper(), subjects=[topic])
    try:
        await js.publish(topic, b"bare")
        await js.publish(topic, b'{"order": 1}', headers={"event-type": "created"})
        await js.publish(topic, b"deduplicated", headers={"Nats-Msg-Id": "m-1", "a": "1"})
        await _raw_hpub(topic, b"raw: \xffok\r\n", b"raw header")
        async with (
            brokerkit.connect_async(URL) as broker,
            broker.consumer(topic, group="billing") as consumer,
        ):
            got = await consumer.receive_many(max_messages=4, timeout=10)
            for message in got:
                await message.ack()
        bare, full, dedup, raw = got
        assert (bare.value, bare.key, bare.headers, bare.id) == (b"bare", None, {}, "1")
        assert bare.timestamp is not None
        assert full.headers == {"event-type": "created"}
        assert dedup.headers == {"a": "1"}  # Nats-Msg-Id is the broker's, not a header
        assert raw.headers == {"raw": "\ufffdok"}
    finally:
        await js.delete_stream(topic.upper())


# -- memphis:// stations -----------------------------------------------------------------------


async def test_memphis_station_both_ways(nc: Any, topic: str) -> None:
    station = topic.lower()  # Memphis names: lower case; the subject is <station>.final
    sub = await nc.subscribe(f"{station}.final")
    async with brokerkit.connect_async(f"memphis://{HOST}:{PORT}") as broker:
        async with broker.producer(station, producer_name="Checkout") as producer:
            await producer.send(b"order 17", key="user-1", headers={"region": "eu"})
        (sent,) = await _collect(sub, 1)
        assert sent.data == b"order 17"
        assert sent.headers is not None
        assert sent.headers.pop("$memphis_connectionId")
        assert sent.headers == {
            "$memphis_producedBy": "checkout",
            "region": "eu",
            "brokerkit-key": "user-1",
        }
        js = nc.jetstream()
        await js.publish(f"{station}.final", b"plain", headers={"region": "us"})
        async with broker.consumer(station, group="billing") as consumer:
            first, second = await consumer.receive_many(max_messages=2, timeout=10)
            assert (first.value, first.key, first.headers) == (
                b"order 17",
                b"user-1",
                {"region": "eu"},  # the $memphis_* headers are dropped by default
            )
            assert (second.value, second.key, second.headers) == (b"plain", None, {"region": "us"})
            await first.ack()
            await second.ack()


def test_foreign_brokerkit_headers_stay_ordinary_headers() -> None:
    """A brokerkit-headers / brokerkit-key-b64 header brokerkit did not write (not a JSON
    object of strings, not base64) is kept as it is, not an error that loses the message."""
    assert decode_headers({"brokerkit-headers": "not json", "a": "1"}) == (
        None,
        {"brokerkit-headers": "not json", "a": "1"},
    )
    assert decode_headers({"brokerkit-headers": '["a"]'}) == (None, {"brokerkit-headers": '["a"]'})
    assert decode_headers({"brokerkit-headers": '{"a": 1}'}) == (
        None,
        {"brokerkit-headers": '{"a": 1}'},
    )
    assert decode_headers({"brokerkit-key-b64": "%%%"}) == (None, {"brokerkit-key-b64": "%%%"})
    # brokerkit's own still decode.
    assert decode_headers({"brokerkit-headers": '{"a b":"1"}', "brokerkit-key-b64": "/wA="}) == (
        b"\xff\x00",
        {"a b": "1"},
    )


async def test_jetstream_foreign_brokerkit_headers_are_read(nc: Any, topic: str) -> None:
    async with (
        brokerkit.connect_async(URL) as broker,
        broker.consumer(topic, group="billing") as consumer,
    ):
        js = nc.jetstream()
        await js.publish(topic, b"a", headers={"brokerkit-headers": "v1"})
        await js.publish(topic, b"b", headers={"brokerkit-key-b64": "not base64!"})
        a, b = await consumer.receive_many(max_messages=2, timeout=10)
        assert (a.value, a.key, a.headers) == (b"a", None, {"brokerkit-headers": "v1"})
        assert (b.value, b.key, b.headers) == (b"b", None, {"brokerkit-key-b64": "not base64!"})
        await a.ack()
        await b.ack()
