"""nats://, tls:// and memphis:// behaviour that is not portable, against real NATS servers.

Most tests open the driver directly (the seam's ``AsyncDriver``: publish/wait,
fetch/settle) on the shared server at 127.0.0.1:4222 (CONTRIBUTING.md / DEVELOPERS.md).
Tests that need credentials, TLS, a server without JetStream or a restart start their own
``nats-server`` on a free port (``PrivateNats``), never touching the shared one.
Unreachable NATS: skip on a laptop, fail with CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tcp_faults import Link, NotRedisServer, SilentServer, free_port, wait_for_port

import brokerkit
from brokerkit._api import _prepare
from brokerkit._registry import get_backend
from brokerkit._spec import ConsumerConfig, ProducerConfig, resolve_object
from brokerkit._types import H_MESSAGE_ID, Commit, Delivery, Guarantee
from brokerkit.backends.nats._codec import (
    ack_fields,
    decode_headers,
    encode_headers,
    name_for,
    subject_for,
)
from brokerkit.testing import SESSION_PREFIX

nats = pytest.importorskip("nats")

pytestmark = pytest.mark.nats

URL = os.environ.get("BROKERKIT_TEST_NATS_URL", "nats://127.0.0.1:4222")
HOSTPORT = URL.split("://", 1)[1].split("?", 1)[0].split("/", 1)[0]
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a skipped backend is a failed run)")
    pytest.skip(reason)


def _topic() -> str:
    return f"{SESSION_PREFIX}{uuid.uuid4().hex[:12]}"


async def open_driver(url: str, **options: Any) -> Any:
    """The backend's async driver for ``url``, connected (what the core does)."""
    parsed, spec, opts, caps = _prepare(url, options)
    driver = resolve_object(spec.async_driver)(parsed, opts, caps)
    await driver.connect(opts["connect_timeout"])
    return driver


@pytest.fixture(scope="module")
def shared_nats() -> str:
    host, _, port = HOSTPORT.partition(":")
    try:
        with socket.create_connection((host, int(port or 4222)), timeout=2):
            pass
    except OSError as exc:
        _unreachable(f"NATS at {HOSTPORT} is not reachable: {exc}")
    return URL


@pytest.fixture
async def driver(shared_nats: str) -> AsyncIterator[Any]:
    drv = await open_driver(shared_nats)
    yield drv
    await drop_streams(drv)


async def drop_streams(drv: Any) -> None:
    """Delete the streams a driver made or used, then close it."""
    if drv.js is not None:
        for stream in {s for s, _ in drv._streams.values()}:
            with contextlib.suppress(Exception):
                await drv.js.delete_stream(stream)
    await drv.close()


async def publish(producer: Any, records: list[Any], timeout: float = 10) -> Any:
    return await producer.wait(await producer.publish(records, timeout), timeout)


async def fetch(consumer: Any, n: int, timeout: float) -> list[Delivery]:
    """The driver's fetch, as Delivery records (the driver hands plain tuples in their
    field order, which the core reads by position)."""
    return [Delivery(*d) for d in await consumer.fetch(n, timeout)]


async def fetch_n(consumer: Any, n: int, timeout: float = 10, settle: str = "ack") -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        batch = await fetch(consumer, n - len(out), 0.5)
        out.extend(batch)
        if settle == "ack" and batch:
            await consumer.settle([d.token for d in batch], [], True)
    return out


class PrivateNats:
    """A nats-server this test owns, on a free loopback port (file store in ``tmp``)."""

    def __init__(self, tmp: Path, *extra: str, jetstream: bool = True) -> None:
        if not Path(NATS_SERVER).exists():
            _unreachable("nats-server is not installed")
        self.port = free_port()
        self.dir = tmp
        self.args = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), *extra]
        if jetstream:
            self.args += ["-js", "-sd", str(tmp / "js")]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.dir / "nats.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        wait_for_port(self.port, what="the private nats-server")

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the file store is flushed, streams survive."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        time.sleep(0.5)
        self.start()

    def url(self, scheme: str = "nats", query: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{'?' + query if query else ''}"


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    server = PrivateNats(tmp_path)
    server.start()
    yield server
    server.stop()


# -- names and framing, no server ---------------------------------------------------------


def test_names_are_one_to_one_and_valid() -> None:
    topics = ["orders", "orders.created", "a b", "a~20b", "a.b", "a~2Eb", "a..b", ".a", "ünï", "x*"]
    subjects = [subject_for(t) for t in topics]
    names = [name_for(t) for t in topics]
    assert len(set(subjects)) == len(topics)
    assert len(set(names)) == len(topics)
    assert subject_for("orders.created") == "orders.created"  # NATS-native names unchanged
    for name in names:
        assert not set(name) & set(">*. /\\\t\r\n")
    for subject in subjects:
        assert not set(subject) & set(" \t\r\n*>")
        assert all(subject.split("."))


AWKWARD_HEADERS = {
    "plain": "value",
    "": "empty name",
    "bad name": "x",
    "Nats-Msg-Id": "not a dedup id",
    "Status": "404",
    "ünï": "välue\x00\udcff",
    "trailing": "blank ",
    "multi": "line\r\nInjected: yes",
    "brokerkit-key": "not the key",
}


def test_header_codec_round_trip_without_server() -> None:
    for key in (None, b"", b"k", b"\x00\xff", "ключ".encode()):
        for headers in (None, {}, AWKWARD_HEADERS):
            if key is None and not headers:
                continue
            raw = encode_headers(key, headers)
            for name, value in raw.items():  # what goes on the wire is plain NATS headers
                assert name.isascii()
                assert " " not in name
                assert name
                assert value.isprintable()
                assert "\r" not in value
                assert "\n" not in value
            assert decode_headers(dict(raw)) == (key, headers or None)


def test_message_id_maps_to_nats_msg_id() -> None:
    raw = encode_headers(None, {H_MESSAGE_ID: "order-17", "a": "b"})
    assert raw == {"Nats-Msg-Id": "order-17", "a": "b"}
    assert decode_headers(dict(raw)) == (None, {"a": "b"})


def test_ack_subject_fields() -> None:
    assert ack_fields("$JS.ACK.S.C.3.17.9.1700000000500000000.4") == (3, "17", 1700000000.5)
    assert ack_fields("$JS.ACK.dom.acc.S.C.2.18.9.1700000000000000000.0.rnd") == (
        2,
        "18",
        1700000000.0,
    )


# -- capabilities --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://h", {"at_least_once": True, "persistent": True, "replay": True}),
        ("tls://h", {"at_least_once": True, "idempotent_produce": True}),
        ("nats://h?storage=memory", {"persistent": False, "at_least_once": True}),
        ("nats://h?deliver_policy=new", {"replay": False}),
        (
            "nats://h?jetstream=false",
            {
                "at_least_once": False,
                "at_most_once": True,
                "consumer_groups": True,
                "persistent": False,
                "replay": False,
                "idempotent_produce": False,
                "nack_delay": False,
                "delivery_count": False,
            },
        ),
        ("memphis://h", {"native_dead_letter": True, "persistent": True, "nack_delay": True}),
        ("memphis://h?send_poison_msg_to_dls=false", {"native_dead_letter": False}),
        ("memphis://h?storage_type=memory", {"persistent": False}),
    ],
)
def test_capability_rows_per_url_variant(url: str, expected: dict[str, bool]) -> None:
    _, _, _, caps = _prepare(url, {})
    for name, value in expected.items():
        assert getattr(caps, name) is value, name


def test_capabilities_read_unresolved_url_options_too() -> None:
    for url, field, value in [
        ("nats://h?jetstream=false", "at_least_once", False),
        ("nats://h?jetstream=true", "at_least_once", True),
        ("memphis://h?send_poison_msg_to_dls=false", "native_dead_letter", False),
    ]:
        parsed = brokerkit.make_url(url)
        spec = get_backend(parsed.scheme)
        assert getattr(spec.capabilities(parsed, parsed.query_dict), field) is value


def test_bad_options_are_configuration_errors() -> None:
    for url, option in [
        ("nats://h?storage=disk", "storage"),
        ("nats://h?replicas=0", "replicas"),
        ("nats://h?jetstream=maybe", "jetstream"),
        ("memphis://h?retention_type=forever", "retention_type"),
        ("memphis://h?storage_type=file", "storage_type"),
        ("nats://h?retention_type=messages", "retention_type"),
    ]:
        with pytest.raises(brokerkit.ConfigurationError, match=option):
            _prepare(url, {})


# -- JetStream through the driver ----------------------------------------------------------


async def test_round_trip_with_keys_headers_ids_and_timestamps(driver: Any) -> None:
    topic = _topic()
    consumer = await driver.open_consumer(topic, "g", ConsumerConfig())
    producer = await driver.open_producer(topic, ProducerConfig())
    before = time.time()
    records = [(b"\x00\xff", b"k\x00", AWKWARD_HEADERS), (b"plain", None, None), (b"", b"", {})]
    assert await publish(producer, records) is None
    got = await fetch_n(consumer, 3)
    assert [(d.value, d.key, d.headers) for d in got] == [
        (b"\x00\xff", b"k\x00", AWKWARD_HEADERS),
        (b"plain", None, None),
        (b"", b"", None),
    ]
    assert [d.id for d in got] == ["1", "2", "3"]  # stream sequences
    assert all(before - 1 < d.timestamp < time.time() + 1 for d in got)
    assert all(d.delivery_count == 1 for d in got)
    await consumer.close(5)
    await producer.close(5)


async def test_stream_created_on_first_use_with_the_stream_options(shared_nats: str) -> None:
    drv = await open_driver(
        shared_nats + "?storage=memory&max_msgs=5&max_age=60&max_bytes=100000&duplicate_window=7"
    )
    topic = _topic() + ".with.dots"
    try:
        producer = await drv.open_producer(topic, ProducerConfig())
        assert await publish(producer, [(b"%d" % i, None, None) for i in range(8)]) is None
        stream, subject = drv._streams[topic]
        assert subject == topic
        assert "." not in stream
        info = await drv.js.stream_info(stream)
        assert info.config.storage == "memory"
        assert (info.config.max_msgs, info.config.max_age, info.config.max_bytes) == (5, 60, 100000)
        assert info.config.duplicate_window == 7
        assert info.state.messages == 5  # the oldest were dropped
    finally:
        await drop_streams(drv)


async def test_an_existing_stream_that_captures_the_subject_is_used(driver: Any) -> None:
    prefix = _topic()
    name = name_for(prefix) + "-USERS"
    await driver.js.add_stream(name=name, subjects=[f"{prefix}.>"])
    try:
        producer = await driver.open_producer(f"{prefix}.created", ProducerConfig())
        assert driver._streams[f"{prefix}.created"] == (name, f"{prefix}.created")
        assert await publish(producer, [(b"x", None, None)]) is None
        assert (await driver.js.stream_info(name)).state.messages == 1
    finally:
        await driver.js.delete_stream(name)
        driver._streams.clear()


async def test_message_id_deduplicates_within_the_window(driver: Any) -> None:
    topic = _topic()
    producer = await driver.open_producer(topic, ProducerConfig())
    consumer = await driver.open_consumer(topic, "g", ConsumerConfig())
    ids = [{H_MESSAGE_ID: "a"}, {H_MESSAGE_ID: "a"}, {H_MESSAGE_ID: "b"}, {H_MESSAGE_ID: "a"}]
    assert await publish(producer, [(b"%d" % i, None, h) for i, h in enumerate(ids)]) is None
    got = await fetch_n(consumer, 3, timeout=2)
    assert [(d.value, d.headers) for d in got] == [(b"0", None), (b"2", None)]


async def test_groups_share_and_each_group_sees_everything(driver: Any) -> None:
    topic = _topic()
    a1 = await driver.open_consumer(topic, "a", ConsumerConfig())
    a2 = await driver.open_consumer(topic, "a", ConsumerConfig())
    b = await driver.open_consumer(topic, "b", ConsumerConfig())
    producer = await driver.open_producer(topic, ProducerConfig())
    assert await publish(producer, [(b"%d" % i, None, None) for i in range(100)]) is None
    got_b = await fetch_n(b, 100)
    got_a: list[Any] = []
    deadline = time.monotonic() + 10
    while len(got_a) < 100 and time.monotonic() < deadline:
        for member in (a1, a2):
            batch = await fetch(member, 7, 0.1)
            got_a.extend(batch)
            await member.settle([d.token for d in batch], [], False)
    assert sorted(d.value for d in got_a) == sorted(d.value for d in got_b)
    assert len(got_a) == len(got_b) == 100


async def test_sync_acks_are_confirmed_and_acked_messages_never_return(driver: Any) -> None:
    topic = _topic()
    consumer = await driver.open_consumer(topic, "g", ConsumerConfig(commit=Commit.SYNC))
    producer = await driver.open_producer(topic, ProducerConfig())
    assert await publish(producer, [(b"%d" % i, None, None) for i in range(50)]) is None
    got = await fetch_n(consumer, 50)  # settles with wait=True
    assert len(got) == 50
    info = await driver.js.consumer_info(driver._streams[topic][0], "g")
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 50
    await consumer.close(5)
    again = await driver.open_consumer(topic, "g", ConsumerConfig())
    assert await again.fetch(10, 0.3) == []


async def test_nack_redelivers_with_count_and_delay(driver: Any) -> None:
    topic = _topic()
    consumer = await driver.open_consumer(topic, "g", ConsumerConfig())
    producer = await driver.open_producer(topic, ProducerConfig())
    assert await publish(producer, [(b"x", None, None), (b"y", None, None)]) is None
    first = await fetch_n(consumer, 2, settle="none")
    await consumer.settle([], [(first[0].token, None), (first[1].token, 1.0)], False)
    started = time.monotonic()
    again = await fetch_n(consumer, 1, settle="none")
    assert [(d.value, d.delivery_count) for d in again] == [(b"x", 2)]
    later = await fetch_n(consumer, 1, settle="none", timeout=5)
    assert [(d.value, d.delivery_count) for d in later] == [(b"y", 2)]
    assert time.monotonic() - started >= 0.9  # not before its delay


async def test_close_hands_unacked_messages_back_at_once(driver: Any) -> None:
    topic = _topic()
    producer = await driver.open_producer(topic, ProducerConfig())
    config = ConsumerConfig(ack_deadline=60)  # far longer than the test may take
    first = await driver.open_consumer(topic, "g", config)
    second = await driver.open_consumer(topic, "g", config)
    assert await publish(producer, [(b"%d" % i, None, None) for i in range(20)]) is None
    held = await fetch_n(first, 5, settle="none")  # handed out, never settled
    assert held
    await first.close(5)
    started = time.monotonic()
    got = await fetch_n(second, 20)
    assert sorted(d.value for d in got) == sorted(b"%d" % i for i in range(20))
    assert time.monotonic() - started < 10


async def test_at_most_once_fetch_is_acked_before_it_returns(driver: Any) -> None:
    topic = _topic()
    producer = await driver.open_producer(topic, ProducerConfig(guarantee=Guarantee.AT_MOST_ONCE))
    consumer = await driver.open_consumer(
        topic, "g", ConsumerConfig(guarantee=Guarantee.AT_MOST_ONCE, ack_deadline=0.5)
    )
    assert await publish(producer, [(b"%d" % i, None, None) for i in range(10)]) is None
    got = await fetch_n(consumer, 10, settle="none")
    assert len(got) == 10
    await asyncio.sleep(1.0)  # past the ack deadline: nothing comes back
    assert await consumer.fetch(10, 0.3) == []
    # Acked as fetched: nothing is kept to hand back at close (the set grew for ever).
    assert not consumer._unsettled


async def test_private_group_is_removed_at_close(driver: Any) -> None:
    topic = _topic()
    producer = await driver.open_producer(topic, ProducerConfig())
    assert await publish(producer, [(b"old", None, None)]) is None
    consumer = await driver.open_consumer(topic, None, ConsumerConfig())
    assert [d.value for d in await fetch_n(consumer, 1)] == [b"old"]  # replay
    stream = driver._streams[topic][0]
    assert len(await driver.js.consumers_info(stream)) == 1
    await consumer.close(5)
    assert await driver.js.consumers_info(stream) == []


async def test_deliver_policy_new_starts_at_the_end(shared_nats: str) -> None:
    drv = await open_driver(shared_nats + "?deliver_policy=new")
    try:
        topic = _topic()
        producer = await drv.open_producer(topic, ProducerConfig())
        assert await publish(producer, [(b"before", None, None)]) is None
        consumer = await drv.open_consumer(topic, "g", ConsumerConfig())
        assert await publish(producer, [(b"after", None, None)]) is None
        assert [d.value for d in await fetch_n(consumer, 2, timeout=1.5)] == [b"after"]
    finally:
        await drop_streams(drv)


async def test_a_refused_message_is_reported_per_record(driver: Any) -> None:
    topic = _topic()
    producer = await driver.open_producer(topic, ProducerConfig())
    stream = driver._streams[topic][0]
    info = await driver.js.stream_info(stream)
    info.config.max_msg_size = 10
    await driver.js.update_stream(info.config)
    outcomes = await publish(producer, [(b"small", None, None), (b"x" * 100, None, None)])
    assert outcomes is not None
    assert outcomes[0] is None
    assert isinstance(outcomes[1], brokerkit.DeliveryError)
    assert "maximum" in str(outcomes[1]) or "size" in str(outcomes[1])


async def test_a_message_over_max_payload_is_a_delivery_error(driver: Any) -> None:
    topic = _topic()
    producer = await driver.open_producer(topic, ProducerConfig())
    too_big = b"x" * (driver.nc.max_payload + 1)
    with pytest.raises(brokerkit.DeliveryError, match="max_payload"):
        await producer.publish([(too_big, None, None)], 5)


# -- core NATS -----------------------------------------------------------------------------


async def test_core_nats_queue_groups_share_and_private_consumers_see_all(
    shared_nats: str,
) -> None:
    drv = await open_driver(shared_nats + "?jetstream=false")
    try:
        topic = _topic() + " with space"
        amo = ConsumerConfig(guarantee=Guarantee.AT_MOST_ONCE)
        m1 = await drv.open_consumer(topic, "g", amo)
        m2 = await drv.open_consumer(topic, "g", amo)
        alone = await drv.open_consumer(topic, None, amo)
        producer = await drv.open_producer(topic, ProducerConfig(guarantee=Guarantee.AT_MOST_ONCE))
        records = [(b"%d" % i, b"\xfe", {"h": "v"}) for i in range(200)]
        assert await publish(producer, records) is None
        got_alone = await fetch_n(alone, 200, settle="none")
        got_group = await fetch_n(m1, 200, timeout=1, settle="none")
        got_group += await fetch_n(m2, 200 - len(got_group), timeout=1, settle="none")
        assert [d.value for d in got_alone] == [r[0] for r in records]
        assert sorted(d.value for d in got_group) == sorted(r[0] for r in records)
        assert all(d.key == b"\xfe" and d.headers == {"h": "v"} for d in got_alone)
        assert drv.js is None  # no JetStream involved
    finally:
        await drv.close()


@pytest.mark.parametrize("direct", [True, False], ids=["read-loop", "callback"])
async def test_subscriptions_deliver_with_or_without_nats_py_s_future_path(
    shared_nats: str, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages, PubAcks and ack confirmations reach the driver from nats-py's read loop
    (its subscribe(future=...) path) where nats-py has it, through a callback where not."""
    from brokerkit.backends.nats import _driver

    if direct:
        assert _driver.DIRECT_DELIVERY  # the nats-py under test has the path: it is used
    monkeypatch.setattr(_driver, "DIRECT_DELIVERY", direct)
    for query in ("", "?jetstream=false"):
        drv = await open_driver(shared_nats + query)
        try:
            topic = _topic()
            guarantee = Guarantee.AT_MOST_ONCE if query else Guarantee.AT_LEAST_ONCE
            consumer = await drv.open_consumer(topic, "g", ConsumerConfig(guarantee=guarantee))
            producer = await drv.open_producer(topic, ProducerConfig(guarantee=guarantee))
            records = [(b"%d" % i, None, None) for i in range(50)]
            assert await publish(producer, records) is None
            got = await fetch_n(consumer, 50, settle="none" if query else "ack")
            assert [d.value for d in got] == [r[0] for r in records]
        finally:
            await drv.close()


# -- memphis:// ----------------------------------------------------------------------------


async def test_memphis_station_names_are_normalised_as_memphis_does(shared_nats: str) -> None:
    drv = await open_driver(shared_nats.replace("nats://", "memphis://"))
    try:
        station = f"{SESSION_PREFIX}Orders.EU"
        producer = await drv.open_producer(station, ProducerConfig())
        stream, subject = drv._streams[station]
        assert stream == station.lower().replace(".", "#")
        assert subject == stream + ".final"
        assert await publish(producer, [(b"x", None, None)]) is None
        # the same station, whatever the case
        consumer = await drv.open_consumer(station.upper(), "Billing.Team", ConsumerConfig())
        assert [d.value for d in await fetch_n(consumer, 1)] == [b"x"]
        infos = await drv.js.consumers_info(stream)
        assert [i.name for i in infos] == ["billing#team"]
        for bad in ("has space", "-dash-first", "x" * 129, "ünï"):
            with pytest.raises(brokerkit.ConfigurationError):
                await drv.open_producer(bad, ProducerConfig())
    finally:
        await drop_streams(drv)


@pytest.mark.parametrize(
    ("query", "field", "value"),
    [
        ("retention_type=message_age_sec&retention_value=3600", "max_age", 3600),
        ("retention_type=messages&retention_value=3", "max_msgs", 3),
        ("retention_type=bytes&retention_value=4096", "max_bytes", 4096),
        ("storage_type=memory", "storage", "memory"),
        ("idempotency_window_ms=1500", "duplicate_window", 1.5),
    ],
)
async def test_memphis_station_settings(
    shared_nats: str, query: str, field: str, value: Any
) -> None:
    drv = await open_driver(shared_nats.replace("nats://", "memphis://") + "?" + query)
    try:
        station = _topic()
        await drv.open_producer(station, ProducerConfig())
        info = await drv.js.stream_info(drv._streams[station][0])
        assert getattr(info.config, field) == value
    finally:
        await drop_streams(drv)


async def test_memphis_producer_headers_and_poison_messages_go_to_the_dls(
    shared_nats: str,
) -> None:
    drv = await open_driver(shared_nats.replace("nats://", "memphis://"), show_memphis_headers=True)
    try:
        station = _topic()
        producer = await drv.open_producer(
            station, ProducerConfig(options={"producer_name": "Svc"})
        )
        consumer = await drv.open_consumer(
            station, "grp", ConsumerConfig(options={"max_msg_deliveries": 2, "batch_size": 5})
        )
        assert (
            await publish(producer, [(b"poison", b"k", {"x": "1"}), (b"good", None, None)]) is None
        )
        seen: list[Any] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len([d for d in seen if d.value == b"good"]) < 1:
            batch = await fetch(consumer, 5, 0.3)
            seen.extend(batch)
            good = [d.token for d in batch if d.value == b"good"]
            bad = [(d.token, None) for d in batch if d.value != b"good"]
            await consumer.settle(good, bad, True)
        for _ in range(3):  # let the poison message come round again
            batch = await fetch(consumer, 5, 0.3)
            seen.extend(batch)
            await consumer.settle([], [(d.token, None) for d in batch], True)
        poison = [d for d in seen if d.value == b"poison"]
        assert [d.delivery_count for d in poison] == [1, 2]  # never a third time
        first = poison[0].headers
        assert first is not None
        assert first["$memphis_producedBy"] == "svc"
        assert first["$memphis_connectionId"] == drv.connection_id
        assert len(drv.connection_id) == 24
        dls = await drv.open_consumer(f"{station}-dls", "inspect", ConsumerConfig())
        [dead] = await fetch_n(dls, 1)
        assert (dead.value, dead.key) == (b"poison", b"k")
        assert dead.headers["brokerkit-dead-letter-reason"].startswith("delivered max_deliveries=2")
        assert dead.headers["brokerkit-original-topic"] == station
        assert dead.headers["brokerkit-delivery-count"] == "2"  # the deliveries made
        assert dead.headers["x"] == "1"
    finally:
        await drop_streams(drv)


# -- errors: broker down, silent, bad credentials, not NATS, no JetStream -------------------


async def test_nothing_listening_is_a_connection_error_naming_host_and_port() -> None:
    port = free_port()
    started = time.monotonic()
    with pytest.raises(brokerkit.BrokerConnectionError, match=f"127.0.0.1:{port}"):
        await open_driver(f"nats://127.0.0.1:{port}", connect_timeout=1)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("server_cls", [SilentServer, NotRedisServer])
async def test_a_silent_or_foreign_server_fails_within_connect_timeout(server_cls: Any) -> None:
    with server_cls() as server:
        started = time.monotonic()
        with pytest.raises(brokerkit.BrokerConnectionError, match=f"127.0.0.1:{server.port}"):
            await open_driver(f"nats://127.0.0.1:{server.port}", connect_timeout=1)
        assert time.monotonic() - started < 5


async def test_bad_credentials_never_show_the_password(tmp_path: Path) -> None:
    server = PrivateNats(tmp_path, "--user", "alice", "--pass", "s3cret-pw")
    server.start()
    try:
        port = server.port
        with pytest.raises(brokerkit.BrokerConnectionError) as info:
            await open_driver(f"nats://alice:wrong-pw@127.0.0.1:{port}", connect_timeout=3)
        text = str(info.value) + repr(info.value)
        assert f"127.0.0.1:{port}" in text
        assert "credentials" in text
        assert "wrong-pw" not in text
        drv = await open_driver(f"nats://alice:s3cret-pw@127.0.0.1:{port}")
        topic = _topic()
        producer = await drv.open_producer(topic, ProducerConfig())
        assert await publish(producer, [(b"x", None, None)]) is None
        await drv.close()
    finally:
        server.stop()


async def test_a_server_without_jetstream_says_so(tmp_path: Path) -> None:
    server = PrivateNats(tmp_path, jetstream=False)
    server.start()
    try:
        with pytest.raises(brokerkit.BrokerConnectionError, match="JetStream"):
            await open_driver(server.url())
        core = await open_driver(server.url(query="jetstream=false"))  # core NATS works
        await core.close()
    finally:
        server.stop()


async def test_every_timeout_is_kept_against_a_server_that_stops_answering(
    private_nats: PrivateNats,
) -> None:
    with Link(("127.0.0.1", private_nats.port)) as link:
        drv = await open_driver(f"nats://127.0.0.1:{link.port}?request_timeout=1")
        topic = _topic()
        producer = await drv.open_producer(topic, ProducerConfig())
        consumer = await drv.open_consumer(topic, "g", ConsumerConfig())
        assert await publish(producer, [(b"x", None, None)]) is None
        [held] = await fetch_n(consumer, 1, settle="none")
        link.drop_replies()
        started = time.monotonic()
        handle = await producer.publish([(b"y", None, None)], 1)
        with pytest.raises(brokerkit.TimeoutError):
            await producer.wait(handle, 1)
        assert await consumer.fetch(10, 1) == []
        with pytest.raises(brokerkit.TimeoutError):
            await consumer.settle([held.token], [], True)
        assert time.monotonic() - started < 6
        await asyncio.wait_for(consumer.close(1), 5)
        await asyncio.wait_for(producer.close(1), 5)
        await asyncio.wait_for(drv.close(), 15)


# -- TLS -------------------------------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    if shutil.which("openssl") is None:
        _unreachable("openssl is not installed")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = PrivateNats(tmp_path, "--tls", "--tlscert", str(cert), "--tlskey", str(key))
    server.start()
    try:
        url = server.url("tls", f"tls_ca_file={cert}")
        drv = await open_driver(url)
        topic = _topic()
        consumer = await drv.open_consumer(topic, "g", ConsumerConfig())
        producer = await drv.open_producer(topic, ProducerConfig())
        assert await publish(producer, [(b"over tls", None, {"h": "v"})]) is None
        assert [d.value for d in await fetch_n(consumer, 1)] == [b"over tls"]
        await drv.close()
        with pytest.raises(brokerkit.BrokerConnectionError, match=f"127.0.0.1:{server.port}"):
            await open_driver(server.url("tls"), connect_timeout=2)  # unknown CA
        insecure = await open_driver(server.url("tls", "tls_verify=false"))
        await insecure.close()
    finally:
        server.stop()


# -- connection loss: a restart of nats-server in the middle of a stream ---------------------


async def _stream_through_a_restart(server: PrivateNats, restart: Any) -> None:
    drv = await open_driver(server.url(query="ack_wait=2&reconnect_wait=0.1"))
    topic = _topic()
    producer = await drv.open_producer(topic, ProducerConfig())
    consumer = await drv.open_consumer(topic, "g", ConsumerConfig())
    stored: set[bytes] = set()
    acked: set[bytes] = set()
    received: set[bytes] = set()
    failed = 0
    n = 0
    restarting: Any = None
    after: int | None = None  # messages sent when the restart was over
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if n >= 1000 and restarting is None:
            # in a thread, while batches are in flight and fetches wait
            restarting = asyncio.get_running_loop().run_in_executor(None, restart)
        if restarting is not None and restarting.done() and after is None:
            after = n
        sending = after is None or n < after + 1000
        if sending:
            batch = [(b"%06d" % (n + i), None, None) for i in range(100)]
            n += 100
            try:
                outcomes = await publish(producer, batch, timeout=5)
            except brokerkit.BrokerError:
                failed += len(batch)
            else:
                for i, record in enumerate(batch):
                    if outcomes is None or outcomes[i] is None:
                        stored.add(record[0])
                    else:
                        failed += 1
        try:
            got = await fetch(consumer, 500, 0.05)
            received.update(d.value for d in got)
            await consumer.settle([d.token for d in got], [], True)
            acked.update(d.value for d in got)
        except brokerkit.BrokerError:
            pass
        if not sending and stored <= received:
            break
        await asyncio.sleep(0.01)
    assert restarting is not None
    await restarting
    assert after is not None
    assert {b"%06d" % i for i in range(after, after + 1000)} <= stored
    # the producer recovered by itself: everything sent after the restart was stored
    assert stored <= received, f"{len(stored - received)} stored messages never delivered"
    info = await drv.js.consumer_info(drv._streams[topic][0], "g")
    assert info.num_pending == 0  # nothing acked came back as pending
    await drv.close()


async def test_restart_of_nats_server_mid_stream(private_nats: PrivateNats) -> None:
    def restart() -> None:
        private_nats.stop()
        time.sleep(0.5)
        private_nats.start()

    await _stream_through_a_restart(private_nats, restart)


async def test_cut_connection_mid_stream(private_nats: PrivateNats) -> None:
    with Link(("127.0.0.1", private_nats.port)) as link:
        proxied = PrivateNats.__new__(PrivateNats)
        proxied.port = link.port
        proxied.dir = private_nats.dir
        await _stream_through_a_restart(proxied, link.cut)


# -- through the public API (sync through the portal, async) ------------------------------


def test_public_api_bad_credentials_and_nothing_listening(tmp_path: Path) -> None:
    server = PrivateNats(tmp_path, "--user", "alice", "--pass", "s3cret-pw")
    server.start()
    try:
        with pytest.raises(brokerkit.BrokerConnectionError) as info:
            brokerkit.connect(f"nats://alice:bad-pw@127.0.0.1:{server.port}", connect_timeout=3)
        assert "bad-pw" not in str(info.value)
        assert f"127.0.0.1:{server.port}" in str(info.value)
        with brokerkit.connect(f"nats://alice:s3cret-pw@127.0.0.1:{server.port}") as broker:
            assert "s3cret-pw" not in repr(broker)
    finally:
        server.stop()
    port = free_port()
    with pytest.raises(brokerkit.BrokerConnectionError, match=f"127.0.0.1:{port}"):
        brokerkit.connect(f"memphis://127.0.0.1:{port}", connect_timeout=1)


async def _api_restart_async(server: PrivateNats) -> tuple[set[bytes], set[bytes], int]:
    url = server.url(query="ack_wait=2&reconnect_wait=0.1")
    stored: set[bytes] = set()
    received: set[bytes] = set()
    failed = 0
    async with brokerkit.connect_async(url) as broker:
        consumer = await broker.consumer("api-restart", group="g", commit="sync")
        producer = await broker.producer("api-restart")
        loop = asyncio.get_running_loop()
        restarting: Any = None
        after: int | None = None
        n = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if n >= 1000 and restarting is None:
                restarting = loop.run_in_executor(None, server.restart)
            if restarting is not None and restarting.done() and after is None:
                after = n
            sending = after is None or n < after + 1000
            if sending:
                chunk = [b"%06d" % (n + i) for i in range(100)]
                n += 100
                try:
                    await producer.send_many(chunk)
                    await producer.flush(timeout=5)
                    stored.update(chunk)
                except brokerkit.BrokerError:
                    failed += len(chunk)
            with contextlib.suppress(brokerkit.BrokerError):
                for message in await consumer.receive_many(500, timeout=0.05):
                    received.add(message.value)
                    await message.ack()
            if not sending and stored <= received:
                break
            await asyncio.sleep(0.01)
        await restarting
        assert after is not None
        assert {b"%06d" % i for i in range(after, after + 1000)} <= stored
        with contextlib.suppress(brokerkit.BrokerError):
            await producer.close()
        await consumer.close()
    return stored, received, failed


def _api_restart_sync(server: PrivateNats) -> tuple[set[bytes], set[bytes], int]:
    import threading

    url = server.url(query="ack_wait=2&reconnect_wait=0.1")
    stored: set[bytes] = set()
    received: set[bytes] = set()
    failed = 0
    with brokerkit.connect(url) as broker:
        consumer = broker.consumer("api-restart", group="g", commit="sync")
        producer = broker.producer("api-restart")
        restarter = threading.Thread(target=server.restart)
        after: int | None = None
        n = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if n >= 1000 and not restarter.is_alive() and restarter.ident is None:
                restarter.start()
            if restarter.ident is not None and not restarter.is_alive() and after is None:
                after = n
            sending = after is None or n < after + 1000
            if sending:
                chunk = [b"%06d" % (n + i) for i in range(100)]
                n += 100
                try:
                    producer.send_many(chunk)
                    producer.flush(timeout=5)
                    stored.update(chunk)
                except brokerkit.BrokerError:
                    failed += len(chunk)
            with contextlib.suppress(brokerkit.BrokerError):
                for message in consumer.receive_many(500, timeout=0.05):
                    received.add(message.value)
                    message.ack()
            if not sending and stored <= received:
                break
            time.sleep(0.01)
        restarter.join()
        assert after is not None
        assert {b"%06d" % i for i in range(after, after + 1000)} <= stored
        with contextlib.suppress(brokerkit.BrokerError):
            producer.close()
        consumer.close()
    return stored, received, failed


@pytest.mark.parametrize("api", ["async", "sync"])
async def test_public_api_recovers_from_a_restart_mid_stream(
    private_nats: PrivateNats, api: str
) -> None:
    if api == "async":
        stored, received, _ = await _api_restart_async(private_nats)
    else:
        stored, received, _ = await asyncio.get_running_loop().run_in_executor(
            None, _api_restart_sync, private_nats
        )
    assert stored <= received, f"{len(stored - received)} confirmed messages never delivered"
    # nothing acked comes back, nothing confirmed is left behind
    async with (
        brokerkit.connect_async(private_nats.url()) as broker,
        broker.consumer("api-restart", group="g") as again,
    ):
        assert await again.receive_many(100, timeout=3) == []


async def test_a_deleted_stream_and_group_are_made_again(driver: Any) -> None:
    topic = _topic()
    consumer = await driver.open_consumer(topic, "g", ConsumerConfig())
    producer = await driver.open_producer(topic, ProducerConfig())
    assert await publish(producer, [(b"before", None, None)]) is None
    assert [d.value for d in await fetch_n(consumer, 1)] == [b"before"]
    await driver.js.delete_stream(driver._streams[topic][0])
    outcomes = await publish(producer, [(b"lost", None, None)])
    assert outcomes is not None
    assert isinstance(outcomes[0], brokerkit.DeliveryError)
    assert "no JetStream stream" in str(outcomes[0])
    assert await publish(producer, [(b"after", None, None)]) is None  # the stream is back
    assert [d.value for d in await fetch_n(consumer, 1, timeout=10)] == [b"after"]


# -- the batch publish path (_wire.Publisher) -------------------------------------------------


async def test_header_blocks_are_what_nats_py_sends(shared_nats: str) -> None:
    """A header block made once per producer reads back as nats-py's own encoding of the
    same headers does (names stripped, CR/LF in values made spaces); a bad name is
    refused as nats-py refuses it."""
    from brokerkit.backends.nats._wire import Publisher, header_block

    nc = await nats.connect(shared_nats)
    try:
        subject = f"{SESSION_PREFIX}wire.{uuid.uuid4().hex[:8]}"
        got: list[Any] = []

        async def collect(msg: Any) -> None:
            got.append(msg)

        sub = await nc.subscribe(subject, cb=collect)
        headers = {" Name ": "svc ", "$memphis_connectionId": "ab12", "multi": "a\r\nb"}
        await nc.publish(subject, b"by nats-py", headers=headers)
        publisher = Publisher(nc, subject)
        assert publisher.fast
        assert publisher.ready()
        block = header_block(headers)
        await publisher.send(publisher.commands([b"by brokerkit"], block), 1, 12)
        await nc.flush()
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert [m.data for m in got] == [b"by nats-py", b"by brokerkit"]
        assert got[0].headers == got[1].headers
        assert got[1].headers == {"Name": "svc", "$memphis_connectionId": "ab12", "multi": "a  b"}
        await sub.unsubscribe()
        with pytest.raises(nats.errors.BadHeaderError):
            header_block({"bad name": "x"})
    finally:
        await nc.close()


@pytest.mark.parametrize("scheme", ["nats", "memphis"])
async def test_at_most_once_batches_take_the_one_pass_path(shared_nats: str, scheme: str) -> None:
    """An at-most-once producer's batch of plain values goes out in one pass (the client's
    out_msgs counter moves by the batch, no per-message publish() runs), arrives whole and
    in order with the producer's own headers, and a batch with keys takes nats-py's
    publish() per message and arrives the same way."""
    url = shared_nats.replace("nats://", f"{scheme}://")
    drv = await open_driver(url, show_memphis_headers=True) if scheme == "memphis" else None
    drv = drv or await open_driver(url)
    try:
        topic = _topic()
        consumer = await drv.open_consumer(
            topic, None, ConsumerConfig(guarantee=Guarantee.AT_MOST_ONCE)
        )
        producer = await drv.open_producer(topic, ProducerConfig(guarantee=Guarantee.AT_MOST_ONCE))
        assert producer._publisher.ready()
        calls = 0
        real = producer._nc.publish

        async def counting(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            await real(*args, **kwargs)

        producer._nc.publish = counting
        before = producer._nc.stats["out_msgs"]
        values = [b"v%d" % i for i in range(300)]
        assert await publish(producer, [(v, None, None) for v in values]) is None
        assert producer._nc.stats["out_msgs"] - before == 300
        assert calls == 0
        keyed = [(b"k%d" % i, b"key", None) for i in range(5)]
        assert await publish(producer, keyed) is None
        assert calls == 5
        got = await fetch_n(consumer, 305)
        assert [d.value for d in got] == values + [v for v, _, _ in keyed]
        assert [d.key for d in got[300:]] == [b"key"] * 5
        if scheme == "memphis":
            assert {d.headers["$memphis_connectionId"] for d in got} == {drv.connection_id}
    finally:
        await drop_streams(drv)


@pytest.mark.parametrize("wait", [False, True])
async def test_a_batch_of_acks_goes_out_in_one_pass(driver: Any, wait: bool) -> None:
    """A settle's acks are appended to nats-py's outgoing buffer at once (no publish()
    per ack; the client's out_msgs counter moves by the batch), and the server takes
    every one: nothing is left pending, nothing comes back."""
    topic = _topic()
    consumer = await driver.open_consumer(topic, "g", ConsumerConfig())
    producer = await driver.open_producer(topic, ProducerConfig())
    assert await publish(producer, [(b"%d" % i, None, None) for i in range(40)]) is None
    got: list[Any] = []
    deadline = time.monotonic() + 10
    while len(got) < 40 and time.monotonic() < deadline:
        got.extend(await fetch(consumer, 40 - len(got), 1))
    assert len(got) == 40
    nc = consumer._nc
    calls = 0
    real = nc.publish

    async def counting(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        await real(*args, **kwargs)

    nc.publish = counting
    before = nc.stats["out_msgs"]
    try:
        await consumer.settle([d.token for d in got], [], wait)
        await nc.flush()
    finally:
        nc.publish = real
    assert calls == 0
    assert nc.stats["out_msgs"] - before == 40
    # Unconfirmed acks (wait=False) are applied by the server after it answers the flush's
    # PING: look until they are, for a few seconds.
    deadline = time.monotonic() + 5
    while True:
        info = await driver.js.consumer_info(driver._streams[topic][0], "g")
        if info.num_ack_pending == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 40
    await consumer.close(5)
    again = await driver.open_consumer(topic, "g", ConsumerConfig())
    assert await again.fetch(10, 0.3) == []
