"""brokerkit and other Redis clients on the same streams and channels (docs/interop.md):
redis-py writes plain entries and brokerkit reads them (value_field, the single-field
fallback, other fields as headers), brokerkit writes and redis-py reads the documented
fields; the same for Pub/Sub. The codec cases first (pure), then the real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import brokerkit

redis = pytest.importorskip("redis")

from brokerkit.backends.redis._codec import decode_entries  # noqa: E402
from brokerkit.testing import SESSION_PREFIX  # noqa: E402
from brokerkit.testing._support import unreachable  # noqa: E402

ID = b"1700000000000-0"


def _one(fields: list[bytes], value_field: bytes = b"v") -> Any:
    ((_, sid, value, key, headers, ts, count),) = decode_entries([(ID, fields)], None, value_field)
    assert sid == ID.decode()
    assert ts == 1_700_000_000.0
    assert count == 1
    return value, key, headers


def test_brokerkit_entries_decode_as_before() -> None:
    assert _one([b"v", b"x"]) == (b"x", None, None)
    assert _one([b"v", b"x", b"k", b"key", b"h:a", b"1"]) == (b"x", b"key", {"a": "1"})
    # With another value_field, brokerkit's own entries still read the same.
    assert _one([b"v", b"x"], b"data") == (b"x", None, None)
    assert _one([b"v", b"x", b"k", b"key"], b"data") == (b"x", b"key", None)


def test_plain_entries_are_never_an_empty_value_without_a_word() -> None:
    # redis-cli XADD t '*' data '{"order":1}': the single field is the value.
    assert _one([b"data", b'{"order":1}']) == (b'{"order":1}', None, None)
    # value_field names the value; the other fields come as headers.
    assert _one([b"data", b"x", b"source", b"legacy"], b"data") == (
        b"x",
        None,
        {"source": "legacy"},
    )
    # No value field at all: empty value, every field a header.
    assert _one([b"order", b"3", b"customer", b"ada"]) == (
        b"",
        None,
        {"order": "3", "customer": "ada"},
    )
    # Undecodable bytes in a foreign field are escaped, not an error.
    assert _one([b"a", b"\xff", b"b", b"2"])[2] == {"a": "\\xff", "b": "2"}
    # value_field wins over brokerkit's v when an entry has both.
    assert _one([b"v", b"mine", b"data", b"theirs"], b"data") == (b"theirs", None, None)


# -- against the real server -----------------------------------------------------------------


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"{SESSION_PREFIX}interop-{uuid.uuid4().hex[:8]}-"
    url = f"redis://127.0.0.1:6379/0?key_prefix={prefix}"
    try:
        brokerkit.connect(url, connect_timeout=2).close()
    except brokerkit.BrokerError as exc:
        unreachable(url, exc)
    yield prefix
    with redis.Redis(host="127.0.0.1", port=6379) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


@pytest.fixture
def client() -> Iterator[Any]:
    with redis.Redis(host="127.0.0.1", port=6379) as c:
        yield c


@pytest.mark.redis
def test_redis_py_writes_brokerkit_reads(prefix: str, client: Any) -> None:
    client.xadd(f"{prefix}orders", {"data": b'{"order":1}'})
    client.xadd(f"{prefix}orders", {"data": b'{"order":2}', "source": b"legacy"})
    client.xadd(f"{prefix}orders", {"order": b"3"})
    # Without value_field: the single-field entries read right, the two-field one says why.
    url = f"redis://127.0.0.1:6379/0?key_prefix={prefix}"
    with brokerkit.connect(url) as broker, broker.consumer("orders", group="a") as consumer:
        got = consumer.receive_many(max_messages=3, timeout=5.0)
        assert [m.value for m in got] == [b'{"order":1}', b"", b"3"]
        assert got[1].headers == {"data": '{"order":2}', "source": "legacy"}
        for message in got:
            message.ack()
    # With value_field=data (URL option or keyword), on the async API too.

    async def read() -> list[brokerkit.AsyncMessage]:
        async with (
            brokerkit.connect_async(url, value_field="data") as broker,
            broker.consumer("orders", group="b") as consumer,
        ):
            out = await consumer.receive_many(max_messages=3, timeout=5.0)
            for message in out:
                await message.ack()
            return out

    got_async = asyncio.run(read())
    assert [m.value for m in got_async] == [b'{"order":1}', b'{"order":2}', b"3"]
    assert got_async[1].headers == {"source": "legacy"}


@pytest.mark.redis
def test_brokerkit_writes_redis_py_reads(prefix: str, client: Any) -> None:
    url = f"redis://127.0.0.1:6379/0?key_prefix={prefix}"
    with brokerkit.connect(url) as broker, broker.producer("out") as producer:
        producer.send(b"plain")
        producer.send(b'{"order":1}', key="user-1", headers={"event-type": "created"})
    (id1, plain), (id2, full) = client.xrange(f"{prefix}out")
    assert plain == {b"v": b"plain"}
    assert full == {b"v": b'{"order":1}', b"k": b"user-1", b"h:event-type": b"created"}
    assert id1 < id2


@pytest.mark.redis
def test_pubsub_both_ways(prefix: str, client: Any) -> None:
    url = f"redis://127.0.0.1:6379/0?mode=pubsub&key_prefix={prefix}"
    with (
        brokerkit.connect(url) as broker,
        broker.consumer("news", guarantee="at-most-once") as consumer,
    ):
        client.publish(f"{prefix}news", b"from redis-py")
        message = consumer.receive(timeout=5.0)
        assert message is not None
        assert message.value == b"from redis-py"
        assert message.key is None
        pubsub = client.pubsub()
        pubsub.subscribe(f"{prefix}news")
        assert pubsub.get_message(timeout=5.0)["type"] == "subscribe"
        with broker.producer("news", guarantee="at-most-once") as producer:
            producer.send(b"from brokerkit")
        received = pubsub.get_message(timeout=5.0)
        assert received is not None
        assert received["data"] == b"from brokerkit"  # no key, no headers: the bytes alone
        pubsub.close()
