"""Redis-specific behaviour of the redis:// backend, against real Redis servers.

The shared server on 127.0.0.1:6379 (DEVELOPERS.md) is used for most tests; tests that
need a password or a restart start their own ``redis-server`` on a free port.
Unreachable Redis: skip on a laptop, fail with CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import brokerkit
from brokerkit.backends.redis._codec import (
    MAGIC,
    decode_entries,
    decode_frame,
    encode_frame,
    entry_fields,
)

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.redis

URL = os.environ.get("BROKERKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PUBSUB_URL = URL + ("&" if "?" in URL else "?") + "mode=pubsub"
ROOT = Path(__file__).resolve().parent.parent.parent


def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a skipped backend is a failed run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def raw() -> Iterator[Any]:
    """A plain redis-py client on the shared server, for looking behind brokerkit's back."""
    url = brokerkit.make_url(URL)
    client = redis.Redis(
        host=url.host, port=url.port or 6379, db=int(url.path or 0), password=url.password
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        _unreachable(f"Redis at {URL} is not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture
def topic(raw: Any) -> Iterator[str]:
    """A unique topic; every key whose name starts with it is deleted afterwards."""
    name = f"bk-test-{uuid.uuid4().hex}"
    yield name
    keys = list(raw.scan_iter(match=f"{name}*"))
    if keys:
        raw.delete(*keys)


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def _receive_all(consumer: Any, n: int, timeout: float, ack: bool = True) -> list[Any]:
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for msg in consumer.receive_many(n - len(out), timeout=0.5):
            out.append(msg)
            if ack:
                msg.ack()
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server this test owns (never the shared one), with AOF fsync'd per write."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unreachable("redis-server is not installed")
        self.binary = binary or "redis-server"
        self.port = _free_port()
        self.dir = tmp
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(self.dir),
            "--save", "",
            *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def private_redis(tmp_path: Path, raw: Any) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()


# -- field layout and framing ----------------------------------------------------------------

AWKWARD_HEADERS = {
    "v": "not the value",
    "k": "not the key",
    "h:v": "a header that looks like a header field",
    "": "empty name",
    "brokerkit": "almost reserved",
    "ünï\x00cödé": "välue\x00\udcff",
    "x" * 300: "long",
}
AWKWARD_VALUES = [b"", b"\x00\xff", MAGIC, MAGIC + b"rest", b"v", "✓".encode() * 1000]


def test_codec_round_trip_without_server() -> None:
    for value in AWKWARD_VALUES:
        for key in (None, b"", b"\x00k\xff", b"k"):
            for headers in (None, {}, AWKWARD_HEADERS):
                fields = entry_fields(value, key, headers)
                assert fields[:2] == (b"v", value)
                [(_, _, v, k, h, ts, count)] = decode_entries([[b"1700000000123-4", list(fields)]])
                assert (v, k, h or {}, ts, count) == (value, key, headers or {}, 1700000000.123, 1)
                assert decode_frame(encode_frame(value, key, headers)) == (
                    value,
                    key,
                    headers or None,
                )
    assert encode_frame(b"plain", None, None) == b"plain"  # plain subscribers see the value


def test_stream_entry_layout_round_trips_through_redis(raw: Any, topic: str) -> None:
    with brokerkit.connect(URL) as broker:
        consumer = broker.consumer(topic, group="g")
        with broker.producer(topic) as producer:
            producer.send(b"\x00\xff", key=b"k\x00", headers=AWKWARD_HEADERS)
            producer.send_many([(value, b"k", AWKWARD_HEADERS) for value in AWKWARD_VALUES])
            producer.send(b"plain")
        msgs = _receive_all(consumer, 2 + len(AWKWARD_VALUES), timeout=5)
        consumer.close()
    assert [m.value for m in msgs] == [b"\x00\xff", *AWKWARD_VALUES, b"plain"]
    assert msgs[0].key == b"k\x00"
    assert msgs[0].headers == AWKWARD_HEADERS
    assert all(m.headers == AWKWARD_HEADERS and m.key == b"k" for m in msgs[1:-1])
    assert msgs[-1].key is None
    assert msgs[-1].headers == {}
    # The layout behind brokerkit's back: v, k, then one h:<name> field per header.
    [(entry_id, fields)] = raw.xrange(topic, count=1)
    assert list(fields)[:2] == [b"v", b"k"]
    assert {f for f in fields if f.startswith(b"h:")} == {
        b"h:" + n.encode("utf-8", "surrogatepass") for n in AWKWARD_HEADERS
    }
    assert msgs[0].id == entry_id.decode()
    assert msgs[0].timestamp == int(entry_id.split(b"-")[0]) / 1000
    # A foreign entry (not written by brokerkit) still decodes: no value field -> b"".
    raw.xadd(topic, {"other": "x"})


async def test_async_round_trip_and_pubsub_framing(topic: str) -> None:
    async with brokerkit.connect_async(URL) as broker:
        consumer = await broker.consumer(topic, group="g", commit="sync")
        async with broker.producer(topic) as producer:
            await producer.send("text", key="k", headers={"v": "1"})
        msg = await consumer.receive(timeout=5)
        assert msg is not None
        assert (msg.value, msg.key, msg.headers, msg.delivery_count) == (
            b"text",
            b"k",
            {"v": "1"},
            1,
        )
        await msg.ack()
        await consumer.close()
    async with brokerkit.connect_async(PUBSUB_URL) as broker:
        subs = [await broker.consumer(topic, guarantee="at-most-once") for _ in range(2)]
        async with broker.producer(topic, guarantee="at-most-once") as producer:
            for value in AWKWARD_VALUES:
                await producer.send(value, key=b"k", headers=AWKWARD_HEADERS)
            await producer.send_many([b"plain", MAGIC])
        for sub in subs:  # every subscriber gets every message
            got: list[Any] = []
            while len(got) < len(AWKWARD_VALUES) + 2:
                batch = await sub.receive_many(100, timeout=5)
                assert batch, f"only {len(got)} pub/sub messages arrived"
                got += batch
            assert [m.value for m in got] == [*AWKWARD_VALUES, b"plain", MAGIC]
            assert all(m.headers == AWKWARD_HEADERS for m in got[: len(AWKWARD_VALUES)])
            assert got[-1].key is None
            assert got[-1].headers == {}
            await sub.close()


# -- capabilities and unsupported requests ---------------------------------------------------


def test_capabilities_per_variant(raw: Any, topic: str) -> None:
    with brokerkit.connect(URL) as broker:
        caps = broker.capabilities
        assert caps.consumer_groups
        assert caps.at_least_once
        assert caps.at_most_once
        assert caps.delivery_count
        assert caps.nack_delay
        assert caps.headers
        assert caps.replay
        assert not caps.native_dead_letter
        assert not caps.idempotent_produce
    # group_start=latest: no replay, and it is true: a new group misses earlier messages.
    with brokerkit.connect(URL + "?group_start=latest") as broker:
        assert broker.capabilities.replay is False
        with broker.producer(topic) as producer:
            producer.send(b"before")
        consumer = broker.consumer(topic, group="late")
        with broker.producer(topic) as producer:
            producer.send(b"after")
        assert [m.value for m in _receive_all(consumer, 2, timeout=1.5)] == [b"after"]
        consumer.close()
    with brokerkit.connect(URL) as broker:  # replay: a new group sees both
        consumer = broker.consumer(topic, group="early")
        assert [m.value for m in _receive_all(consumer, 2, timeout=5)] == [b"before", b"after"]
        consumer.close()


def test_pubsub_capabilities_and_unsupported_requests(topic: str) -> None:
    with brokerkit.connect(PUBSUB_URL) as broker:
        caps = broker.capabilities
        assert not caps.at_least_once
        assert caps.at_most_once
        assert not caps.consumer_groups
        assert not caps.delivery_count
        assert not caps.nack_delay
        assert not caps.persistent
        assert not caps.replay
        assert caps.headers
        with pytest.raises(brokerkit.UnsupportedError) as info:
            broker.producer(topic)  # at-least-once by default
        assert info.value.capability == "at_least_once"
        with pytest.raises(brokerkit.UnsupportedError) as info:
            broker.consumer(topic)
        assert info.value.capability == "at_least_once"
        with pytest.raises(brokerkit.UnsupportedError) as info:
            broker.consumer(topic, group="billing", guarantee="at-most-once")
        assert info.value.capability == "consumer_groups"
        consumer = broker.consumer(topic, guarantee="at-most-once")
        with broker.producer(topic, guarantee="at-most-once") as producer:
            producer.send(b"x")
        msg = consumer.receive(timeout=5)
        assert msg is not None
        assert msg.value == b"x"
        with pytest.raises(brokerkit.UnsupportedError):
            msg.nack()
        consumer.close()


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(brokerkit.ConfigurationError, match="mode"):
        brokerkit.connect(URL + "?mode=queue")
    with pytest.raises(brokerkit.ConfigurationError, match="database number"):
        brokerkit.connect("redis://127.0.0.1:6379/zero")
    with pytest.raises(brokerkit.ConfigurationError, match="one server"):
        brokerkit.connect("redis://127.0.0.1:6379,127.0.0.1:6380/0")


# -- groups ------------------------------------------------------------------------------------


def test_groups_private_groups_and_at_most_once(raw: Any, topic: str) -> None:
    with brokerkit.connect(URL) as broker:
        private = broker.consumer(topic)
        billing = broker.consumer(topic, group="billing")
        other = broker.consumer(topic + "-other", group="billing")  # same name, other topic
        once = broker.consumer(topic, group="once", guarantee="at-most-once")
        with broker.producer(topic) as producer:
            producer.send_many([b"1", b"2", b"3"])
        for consumer in (private, billing, once):
            assert [m.value for m in _receive_all(consumer, 3, timeout=5)] == [b"1", b"2", b"3"]
        assert other.receive(timeout=0.3) is None
        groups = {g["name"] for g in raw.xinfo_groups(topic)}
        assert {b"billing", b"once"} <= groups
        assert len(groups) == 3
        assert raw.xpending(topic, "once")["pending"] == 0  # NOACK: never pending
        private.close()
        assert {g["name"] for g in raw.xinfo_groups(topic)} == {b"billing", b"once"}
        for consumer in (billing, once, other):
            consumer.close()
        assert raw.xinfo_consumers(topic, "billing") == []  # closed members are removed


def test_maxlen_trims_approximately(raw: Any, topic: str) -> None:
    with brokerkit.connect(URL, maxlen=100) as broker, broker.producer(topic) as producer:
        for _ in range(10):
            producer.send_many([b"x"] * 100)
    assert 100 <= raw.xlen(topic) < 1000


# -- redelivery: nack, close, crash --------------------------------------------------------------


def test_nack_redelivers_at_once_with_delivery_count(topic: str) -> None:
    with brokerkit.connect(URL) as broker:
        consumer = broker.consumer(topic, group="g", commit="sync")
        with broker.producer(topic) as producer:
            producer.send(b"again")
        for expected in (1, 2, 3):
            msg = consumer.receive(timeout=3)
            assert msg is not None
            assert msg.value == b"again"
            assert msg.delivery_count == expected
            if expected < 3:
                msg.nack()
            else:
                msg.ack()
        assert consumer.receive(timeout=0.5) is None
        consumer.close()


@pytest.mark.parametrize("visibility_timeout", [5.0, 0.5])
def test_nack_delay(topic: str, visibility_timeout: float) -> None:
    """A delay shorter than the visibility timeout (idle time set on the entry) and one
    longer (kept by the member until then) both hold."""
    with brokerkit.connect(URL, visibility_timeout=visibility_timeout) as broker:
        consumer = broker.consumer(topic, group="g", commit="sync")
        with broker.producer(topic) as producer:
            producer.send(b"later")
        msg = consumer.receive(timeout=3)
        assert msg is not None
        start = time.monotonic()
        msg.nack(delay=1.5)
        again = consumer.receive(timeout=5)
        elapsed = time.monotonic() - start
        assert again is not None
        assert again.value == b"later"
        assert again.delivery_count == 2
        assert 1.4 <= elapsed < 3.5, elapsed
        again.ack()
        consumer.close()


def test_close_hands_unacked_messages_back_promptly(topic: str) -> None:
    with brokerkit.connect(URL) as broker:  # visibility_timeout: the default 30 s
        first = broker.consumer(topic, group="g")
        second = broker.consumer(topic, group="g")
        with broker.producer(topic) as producer:
            producer.send_many([b"%d" % i for i in range(10)])
        held = _receive_all(first, 10, timeout=5, ack=False)
        assert len(held) == 10
        held[0].ack()
        start = time.monotonic()
        first.close()
        back = _receive_all(second, 9, timeout=10)
        assert sorted(m.value for m in back) == sorted(m.value for m in held[1:])
        assert all(m.delivery_count == 2 for m in back)
        assert time.monotonic() - start < 5  # seconds, not the 30 s visibility timeout
        second.close()


CRASHING_CONSUMER = """
import os, sys, brokerkit
broker = brokerkit.connect(sys.argv[1])
consumer = broker.consumer(sys.argv[2], group="g")
got = 0
while got < 5:
    got += len(consumer.receive_many(5 - got, timeout=5))
print(got, flush=True)
os._exit(0)  # dies holding 5 unacked messages: no close(), no acks
"""


def test_messages_of_a_dead_consumer_are_claimed_after_visibility_timeout(
    raw: Any, topic: str
) -> None:
    with brokerkit.connect(URL, visibility_timeout=1.0) as broker:
        survivor = broker.consumer(topic, group="g", commit="sync")
        with broker.producer(topic) as producer:
            producer.send_many([b"%d" % i for i in range(5)])
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", CRASHING_CONSUMER, URL, topic],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.stdout.strip() == "5", done.stderr
        assert raw.xpending(topic, "g")["pending"] == 5
        start = time.monotonic()
        back = _receive_all(survivor, 5, timeout=10)
        assert sorted(m.value for m in back) == [b"%d" % i for i in range(5)]
        assert all(m.delivery_count == 2 for m in back)
        assert 0.9 <= time.monotonic() - start < 5
        _wait_for(lambda: raw.xpending(topic, "g")["pending"] == 0, 5, "the acks")
        survivor.close()


def test_max_deliveries_dead_letters_using_pending_counts(topic: str) -> None:
    dlq = topic + "-dlq"
    with brokerkit.connect(URL) as broker:
        consumer = broker.consumer(
            topic, group="g", commit="sync", max_deliveries=2, dead_letter_topic=dlq
        )
        dead = broker.consumer(dlq, group="g")
        with broker.producer(topic) as producer:
            producer.send(b"poison", headers={"a": "b"})
        for _ in range(2):
            msg = consumer.receive(timeout=3)
            assert msg is not None
            msg.nack()
        assert consumer.receive(timeout=1.5) is None
        moved = dead.receive(timeout=3)
        assert moved is not None
        assert moved.value == b"poison"
        assert moved.headers["a"] == "b"
        assert moved.headers["brokerkit-delivery-count"] == "3"
        assert moved.headers["brokerkit-original-topic"] == topic
        moved.ack()
        consumer.close()
        dead.close()


# -- errors --------------------------------------------------------------------------------------


def test_nothing_listening_is_a_connection_error_naming_host_and_port() -> None:
    port = _free_port()
    start = time.monotonic()
    with pytest.raises(brokerkit.BrokerConnectionError) as info:
        brokerkit.connect(f"redis://127.0.0.1:{port}/0", connect_timeout=2)
    assert f"127.0.0.1:{port}" in str(info.value)
    assert time.monotonic() - start < 2.5
    assert not isinstance(info.value, redis.RedisError)


async def test_nothing_listening_async() -> None:
    port = _free_port()
    with pytest.raises(brokerkit.BrokerConnectionError, match=f"127.0.0.1:{port}"):
        await brokerkit.connect_async(f"redis://127.0.0.1:{port}/0", connect_timeout=2)


def test_wrong_password_never_shows_the_password(tmp_path: Path, raw: Any) -> None:
    server = PrivateRedis(tmp_path, "--requirepass", "right-secret-1")
    server.start()
    try:
        secret = "wr0ng-p4ss-XYZ"
        url = f"redis://:{secret}@127.0.0.1:{server.port}/0"
        with pytest.raises(brokerkit.BrokerConnectionError) as info:
            brokerkit.connect(url, connect_timeout=3)
        err = info.value
        assert f"127.0.0.1:{server.port}" in str(err)
        for text in (str(err), repr(err), str(err.args), str(err.__dict__)):
            assert secret not in text
        with pytest.raises(brokerkit.BrokerConnectionError):
            brokerkit.connect(f"redis://127.0.0.1:{server.port}/0", connect_timeout=3)
        with brokerkit.connect(f"redis://:right-secret-1@127.0.0.1:{server.port}/0") as broker:
            assert "right-secret-1" not in repr(broker)
    finally:
        server.kill()


async def test_refused_commands_are_delivery_errors(raw: Any, topic: str) -> None:
    raw.set(topic, b"a string, not a stream")
    with brokerkit.connect(URL) as broker, broker.producer(topic) as producer:
        with pytest.raises(brokerkit.DeliveryError, match="WRONGTYPE"):
            producer.send(b"x")
        with pytest.raises(brokerkit.DeliveryError) as info:
            producer.send_many([b"a", b"b"])
        assert [value for value, _ in info.value.failures] == [b"a", b"b"]
    async with brokerkit.connect_async(URL) as abroker:
        aproducer = await abroker.producer(topic)
        with pytest.raises(brokerkit.DeliveryError, match="WRONGTYPE"):
            await aproducer.send(b"x")
        with pytest.raises(brokerkit.DeliveryError):
            await abroker.consumer(topic, group="g")  # XGROUP CREATE on a string
        await aproducer.close()


# -- connection loss -----------------------------------------------------------------------------


def _kill_clients(raw: Any, name: str) -> int:
    killed = 0
    for client in raw.client_list():
        if client.get("name") == name:
            try:
                raw.client_kill_filter(_id=client["id"])
                killed += 1
            except redis.ResponseError:
                pass
    return killed


def _run_stream(url: str, topic: str, total: int, disrupt: Callable[[], None], **opts: Any) -> None:
    """Produce ``total`` messages from a thread while consuming them here; ``disrupt`` runs
    mid-stream. Checks that every message whose send succeeded arrives at least once."""
    sent: list[bytes] = []
    errors: list[BaseException] = []
    with brokerkit.connect(url, **opts) as broker:
        consumer = broker.consumer(topic, group="g", commit="sync", commit_every=20)

        def produce() -> None:
            with brokerkit.connect(url, **opts) as pbroker, pbroker.producer(topic) as producer:
                for i in range(total):
                    value = b"%06d" % i
                    try:
                        if i % 50 == 0:
                            producer.send_many([value])
                        else:
                            producer.send(value)
                    except brokerkit.BrokerError as exc:  # not sent: not expected
                        errors.append(exc)
                        continue
                    sent.append(value)
                    time.sleep(0.001)

        thread = threading.Thread(target=produce)
        thread.start()
        received: set[bytes] = set()
        disrupted = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for msg in consumer.receive_many(100, timeout=0.2):
                received.add(msg.value)
                msg.ack()
            if not disrupted and len(received) > total // 4:
                disrupt()
                disrupted = True
            if not thread.is_alive() and received >= set(sent):
                break
        thread.join()
        consumer.close()
    assert disrupted
    assert len(sent) >= total * 0.5, errors[:3]
    missing = set(sent) - received
    assert not missing, f"{len(missing)} sent messages never arrived, e.g. {sorted(missing)[:5]}"


def test_client_kill_mid_stream_recovers(raw: Any, topic: str) -> None:
    name = f"bk-kill-{uuid.uuid4().hex[:8]}"

    def disrupt() -> None:
        killed = 0
        for _ in range(3):
            killed += _kill_clients(raw, name)
            time.sleep(0.15)
        assert killed >= 2  # producer and consumer connections

    # visibility_timeout: a fetch whose reply died with its connection comes back then.
    _run_stream(URL, topic, 1500, disrupt, client_id=name, visibility_timeout=1.0)


def test_private_server_restart_mid_stream_recovers(private_redis: PrivateRedis) -> None:
    def disrupt() -> None:
        private_redis.kill()
        time.sleep(1.0)
        private_redis.start()

    _run_stream(
        private_redis.url, f"bk-restart-{uuid.uuid4().hex}", 1500, disrupt, visibility_timeout=1.0
    )


async def test_client_kill_mid_stream_recovers_async(raw: Any, topic: str) -> None:
    import asyncio

    name = f"bk-akill-{uuid.uuid4().hex[:8]}"
    total = 1000
    sent: list[bytes] = []
    received: set[bytes] = set()
    async with brokerkit.connect_async(URL, client_id=name, visibility_timeout=1.0) as broker:
        consumer = await broker.consumer(topic, group="g", commit="sync", commit_every=20)

        async def produce() -> None:
            async with broker.producer(topic) as producer:
                for i in range(total):
                    value = b"%06d" % i
                    if i % 50 == 0:
                        await producer.send_many([value])
                    else:
                        await producer.send(value)
                    sent.append(value)
                    await asyncio.sleep(0.001)

        task = asyncio.ensure_future(produce())
        killed = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for msg in await consumer.receive_many(100, timeout=0.2):
                received.add(msg.value)
                await msg.ack()
            if killed < 2 and len(received) > total // 4:
                killed += _kill_clients(raw, name)
            if task.done() and received >= set(sent):
                break
        await task
        await consumer.close()
    assert killed >= 2
    assert len(sent) == total
    assert not set(sent) - received
