"""brokerkit and confluent-kafka on the same topics (docs/interop.md): brokerkit produces and
a plain confluent-kafka consumer reads the documented value, key, headers and timestamp; a
plain producer writes records with and without key and headers (no brokerkit-* headers,
repeated names, null and non-UTF-8 header values, a null value) and brokerkit reads them.
Against the session's Kafka (Tansu started by the kafka spec's test_setup, or
BROKERKIT_TEST_KAFKA_URL).
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest

import brokerkit
from brokerkit.testing import SESSION_PREFIX

ck = pytest.importorskip("confluent_kafka")

pytestmark = pytest.mark.kafka


@pytest.fixture
def kafka_url(_variant_session: Any) -> str:
    try:
        url: str = _variant_session.url("kafka")
    except (FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Kafka for this test: {exc} (CI=true)")
        pytest.skip(f"no Kafka for this test: {exc}")
    return url


def _bootstrap(url: str) -> str:
    return url.partition("://")[2].partition("?")[0].partition("/")[0].rpartition("@")[2]


def _topic() -> str:
    return f"{SESSION_PREFIX}interop-{uuid.uuid4().hex[:8]}"


def _read(bootstrap: str, topic: str, n: int) -> list[Any]:
    consumer = ck.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{SESSION_PREFIX}raw-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    # Read every partition from the start, without joining a group (no rebalance wait).
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([ck.TopicPartition(topic, p, ck.OFFSET_BEGINNING) for p in partitions])
    got: list[Any] = []
    deadline = time.monotonic() + 30
    try:
        while len(got) < n and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg)
    finally:
        consumer.close()
    assert len(got) == n, f"read {len(got)} of {n} records"
    return got


def test_brokerkit_produces_confluent_kafka_reads(kafka_url: str) -> None:
    topic = _topic()
    before = time.time()
    with brokerkit.connect(kafka_url) as broker, broker.producer(topic) as producer:
        producer.send(b'{"order": 1}', key="user-1", headers={"event-type": "created"})
        producer.send(b"plain")
    by_value = {m.value(): m for m in _read(_bootstrap(kafka_url), topic, 2)}
    full, plain = by_value[b'{"order": 1}'], by_value[b"plain"]
    assert full.key() == b"user-1"
    assert full.headers() == [("event-type", b"created")]
    kind, stamp = full.timestamp()
    assert kind == ck.TIMESTAMP_CREATE_TIME
    assert before - 5 <= stamp / 1000 <= time.time() + 5
    assert plain.key() is None
    assert plain.headers() is None  # no headers: none on the record


def test_confluent_kafka_produces_brokerkit_reads(kafka_url: str) -> None:
    topic = _topic()
    # The consumer creates the topic (brokerkit's default partitions); a new group starts
    # at the earliest offset.
    with (
        brokerkit.connect(kafka_url) as broker,
        broker.consumer(topic, group="billing") as consumer,
    ):
        producer = ck.Producer({"bootstrap.servers": _bootstrap(kafka_url)})
        producer.produce(topic, b"bare", partition=0)
        producer.produce(
            topic,
            b'{"order": 1}',
            key=b"user-1",
            headers=[("event-type", b"created"), ("null", None), ("raw", b"\xffok")],
            partition=0,
        )
        producer.produce(topic, b"repeated", headers=[("tag", b"a"), ("tag", b"b")], partition=0)
        producer.produce(topic, None, key=b"user-1", partition=0)  # a tombstone
        producer.produce(topic, b"stamped", timestamp=1_700_000_000_000, partition=0)
        assert producer.flush(30) == 0
        got = consumer.receive_many(max_messages=5, timeout=15)
        while len(got) < 5:
            more = consumer.receive_many(max_messages=5 - len(got), timeout=15)
            assert more, f"got {len(got)} of 5 messages"
            got += more
        for message in got:
            message.ack()
    bare, full, repeated, tombstone, stamped = got
    assert (bare.value, bare.key, bare.headers) == (b"bare", None, {})
    assert bare.id == "0:0"  # partition:offset
    assert bare.timestamp is not None
    assert (full.value, full.key) == (b'{"order": 1}', b"user-1")
    assert full.headers == {"event-type": "created", "null": "", "raw": "\ufffdok"}
    assert repeated.headers == {"tag": "b"}  # a repeated name: the last value
    assert (tombstone.value, tombstone.key) == (b"", b"user-1")
    assert stamped.timestamp == 1_700_000_000.0


def _murmur2(data: bytes) -> int:
    """The Java client's key hash (org.apache.kafka.common.utils.Utils.murmur2), unsigned."""
    m, h = 0x5BD1E995, 0x9747B28C ^ len(data)
    for i in range(0, len(data) - len(data) % 4, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[len(data) - len(data) % 4 :]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def test_murmur2_partitioner_places_keys_as_the_java_client(kafka_url: str) -> None:
    # Known values of the Java client's murmur2 (as signed ints), to trust the helper.
    assert _murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert _murmur2(b"abc") == 479470107
    topic = _topic()
    keys = [f"user-{i}".encode() for i in range(12)]
    client = {"partitioner": "murmur2_random"}
    with brokerkit.connect(kafka_url, partitions=4, client_options=client) as broker:
        with broker.producer(topic) as producer:
            for key in keys:
                producer.send(key, key=key)
        with broker.consumer(topic, group="billing") as consumer:
            got: list[Any] = []
            while len(got) < len(keys):
                more = consumer.receive_many(max_messages=len(keys), timeout=15)
                assert more, f"got {len(got)} of {len(keys)} messages"
                got += more
    for message in got:
        partition = int(message.id.partition(":")[0])
        assert partition == (_murmur2(message.key) & 0x7FFFFFFF) % 4, message.key
