"""Redis-specific behaviour of the redis:// backend, against real Redis servers.

The shared server on 127.0.0.1:6379 (CONTRIBUTING.md) is used for most tests; tests that
need a password, a memory limit or a restart start their own ``redis-server`` on a free
port. Unreachable Redis: skip on a laptop, fail with CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from tcp_faults import Link, NotRedisServer, SilentServer, free_port, through, wait_for_port

import brokerkit
from brokerkit.backends.redis._codec import (
    MAGIC,
    decode_entries,
    decode_frame,
    encode_frame,
    entry_fields,
)
from brokerkit.testing import SESSION_PREFIX

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
    name = f"{SESSION_PREFIX}{uuid.uuid4().hex}"
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


class PrivateRedis:
    """A redis-server this test owns (never the shared one), with AOF fsync'd per write."""

    def __init__(self, tmp: Path, *extra: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            _unreachable("redis-server is not installed")
        self.binary = binary or "redis-server"
        self.port = free_port()
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
        wait_for_port(self.port, what="the private redis-server")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save (the AOF, fsync'd per write, is all there is)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: Any) -> Any:
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)


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
        got = _receive_all(consumer, 1, timeout=10)
        got += consumer.receive_many(10, timeout=0.5)  # and nothing else comes
        assert [m.value for m in got] == [b"after"]
        consumer.close()
    with brokerkit.connect(URL) as broker:  # replay: a new group sees both
        consumer = broker.consumer(topic, group="early")
        assert [m.value for m in _receive_all(consumer, 2, timeout=5)] == [b"before", b"after"]
        consumer.close()


@pytest.mark.parametrize(
    ("url", "replay", "at_least_once"),
    [
        ("redis://h/0", True, True),
        ("rediss://h/0", True, True),
        ("redis://h/0?group_start=latest", False, True),
        ("rediss://h/0?mode=pubsub", False, False),
    ],
)
def test_capability_rows_per_url_variant(url: str, replay: bool, at_least_once: bool) -> None:
    """The row docs/backends/redis.md shows for each URL form (no server needed)."""
    from brokerkit.backends.redis import OPTIONS, capabilities

    parsed = brokerkit.make_url(url)
    caps = capabilities(parsed, OPTIONS.resolve(parsed.query_dict, {}, context="redis"))
    assert caps.replay is replay
    assert caps.at_least_once is at_least_once
    assert caps.consumer_groups is at_least_once
    assert caps.delivery_count is at_least_once
    assert caps.nack_delay is at_least_once
    assert caps.persistent is at_least_once
    assert caps.at_most_once
    assert caps.headers
    assert caps.ordered
    assert not caps.idempotent_produce
    assert not caps.native_dead_letter


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


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_max_age_trims_entries_older_than_it(raw: Any, topic: str, api: str) -> None:
    """?max_age=S: each XADD drops (whole nodes of) entries older than about S seconds."""
    if api == "sync":
        with brokerkit.connect(URL + "?max_age=0.5") as broker, broker.producer(topic) as p:
            p.send_many([b"old"] * 300)
            p.flush()
            await asyncio.sleep(0.7)
            p.send(b"new")
    else:
        async with (
            brokerkit.connect_async(URL, max_age=0.5) as abroker,
            abroker.producer(topic) as ap,
        ):
            await ap.send_many([b"old"] * 300)
            await ap.flush()
            await asyncio.sleep(0.7)
            await ap.send(b"new")
    assert raw.xlen(topic) <= 101  # approximate: a partly old node may stay
    last = raw.xrevrange(topic, count=1)[0][1]
    assert last[b"v"] == b"new"


def test_maxlen_and_max_age_together_are_refused() -> None:
    with pytest.raises(brokerkit.ConfigurationError, match="maxlen or max_age, not both"):
        brokerkit.connect(URL + "?maxlen=10&max_age=60")


def _calls(server: PrivateRedis, command: str) -> int:
    with server.client() as client:
        stats = client.info("commandstats").get(f"cmdstat_{command}", {})
        calls: int = stats.get("calls", 0)
        return calls


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_acks_are_sent_in_one_xack_per_commit_batch(
    private_redis: PrivateRedis, api: str
) -> None:
    """300 acks with commit_every=100 are 3 XACKs of 100 ids each (counted by the server),
    with commit="async" and commit="sync" alike."""
    topic = f"{SESSION_PREFIX}xack-{uuid.uuid4().hex}"
    values = [b"%03d" % i for i in range(300)]
    for commit in (brokerkit.Commit.ASYNC, brokerkit.Commit.SYNC):
        # by count only, however slow
        batching: brokerkit.ConsumerOptions = {
            "commit": commit,
            "commit_every": 100,
            "commit_interval": 60.0,
        }
        group = f"g-{commit}"
        before = _calls(private_redis, "xack")
        if api == "sync":
            with brokerkit.connect(private_redis.url) as broker:
                consumer = broker.consumer(topic, group=group, **batching)
                with broker.producer(topic) as producer:
                    producer.send_many(values)
                got = _receive_all(consumer, 300, timeout=10)
                consumer.close()
        else:
            async with brokerkit.connect_async(private_redis.url) as abroker:
                aconsumer = await abroker.consumer(topic, group=group, **batching)
                async with abroker.producer(topic) as aproducer:
                    await aproducer.send_many(values)
                got = []
                deadline = time.monotonic() + 10
                while len(got) < 300 and time.monotonic() < deadline:
                    for msg in await aconsumer.receive_many(300, timeout=0.5):
                        got.append(msg)
                        await msg.ack()
                await aconsumer.close()
        assert sorted(m.value for m in got) == values
        assert _calls(private_redis, "xack") - before == 3, commit
        with private_redis.client() as check:
            assert check.xpending(topic, group)["pending"] == 0


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
        assert elapsed >= 1.4, elapsed  # not before the delay (and it came: receive waited 5 s)
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
        assert time.monotonic() - start < 20  # handed back, not after the 30 s visibility timeout
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
        assert time.monotonic() - start >= 0.9  # not before the visibility timeout
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
        assert moved.headers["brokerkit-delivery-count"] == "2"  # the deliveries made
        assert moved.headers["brokerkit-original-topic"] == topic
        moved.ack()
        consumer.close()
        dead.close()


def test_max_deliveries_counts_deliveries_lost_to_closed_members(topic: str) -> None:
    """Never nacked, only handed back by close(): the third delivery (count 3 in XPENDING)
    goes to the dead-letter topic, recording the 2 deliveries the application saw."""
    dlq = topic + "-dlq"
    opts: dict[str, Any] = {"group": "g", "max_deliveries": 2, "dead_letter_topic": dlq}
    with brokerkit.connect(URL) as broker:
        dead = broker.consumer(dlq, group="g")
        with broker.producer(topic) as producer:
            producer.send(b"poison")
        for n in (1, 2):
            with broker.consumer(topic, **opts) as member:
                msg = member.receive(timeout=3)
                assert msg is not None
                assert msg.delivery_count == n
        with broker.consumer(topic, **opts) as member:
            assert member.receive(timeout=1.5) is None
        moved = dead.receive(timeout=3)
        assert moved is not None
        assert moved.value == b"poison"
        assert moved.headers["brokerkit-delivery-count"] == "2"
        moved.ack()
        dead.close()


# -- errors --------------------------------------------------------------------------------------
#
# Every redis-py exception is mapped in one place (_common.error_table). These tests check
# the exact brokerkit type (never a subclass of a redis-py class), that the server is named
# and that no password shows up anywhere: message, repr, args, the chained traceback, logs.

SECRET = "s3cr3t-Pa55-QZX"


def _assert_error(
    err: BaseException, cls: type[brokerkit.BrokerError], where: str, *secrets: str
) -> None:
    assert type(err) is cls, f"{type(err).__module__}.{type(err).__qualname__}: {err}"
    assert not isinstance(err, redis.RedisError)
    assert where in str(err)
    # BrokerError.url: the URL the error is about, with the password masked.
    assert err.url is not None, f"no .url on {err!r}"
    assert where in err.url
    texts = [str(err), repr(err), repr(err.args), repr(err.__dict__)]
    texts.append("".join(traceback.format_exception(err)))  # with the chained redis-py error
    for secret in secrets:
        for text in texts:
            assert secret not in text


def _no_secret_logged(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in repr(record.args)


def test_nothing_listening_is_a_connection_error_naming_host_and_port() -> None:
    port = free_port()
    with pytest.raises(brokerkit.BrokerError) as info:
        brokerkit.connect(f"redis://:{SECRET}@127.0.0.1:{port}/0", connect_timeout=2)
    _assert_error(info.value, brokerkit.BrokerConnectionError, f"127.0.0.1:{port}", SECRET)


async def test_nothing_listening_async() -> None:
    port = free_port()
    with pytest.raises(brokerkit.BrokerError) as info:
        await brokerkit.connect_async(f"redis://:{SECRET}@127.0.0.1:{port}/0", connect_timeout=2)
    _assert_error(info.value, brokerkit.BrokerConnectionError, f"127.0.0.1:{port}", SECRET)


@pytest.mark.parametrize("silent", [SilentServer, NotRedisServer], ids=["silent", "not-redis"])
def test_rediss_against_a_server_without_tls_hints_at_tls(silent: type[SilentServer]) -> None:
    """rediss:// to a plain-text port used to fail with "Timeout connecting to server"
    and nothing more: the error now says that TLS may be the cause, sync and async."""
    with silent() as server:
        where = f"127.0.0.1:{server.port}"
        url = f"rediss://:{SECRET}@{where}/0"
        with pytest.raises(brokerkit.BrokerError) as info:
            brokerkit.connect(url, connect_timeout=1)
        _assert_error(info.value, brokerkit.BrokerConnectionError, where, SECRET)
        assert "TLS" in str(info.value)
        assert "redis://" in str(info.value)
        with pytest.raises(brokerkit.BrokerError) as info:
            asyncio.run(_connect_and_close(url))
        _assert_error(info.value, brokerkit.BrokerConnectionError, where, SECRET)
        assert "TLS" in str(info.value)


def test_rediss_against_the_plain_text_redis_port_hints_at_tls(raw: Any) -> None:
    url = brokerkit.make_url(URL)
    where = f"{url.host}:{url.port or 6379}"
    with pytest.raises(brokerkit.BrokerConnectionError) as info:
        brokerkit.connect(f"rediss://{where}/0", connect_timeout=2, tls_verify=False)
    assert "TLS" in str(info.value), str(info.value)
    assert where in str(info.value)


def test_nothing_listening_gives_no_tls_hint() -> None:
    with pytest.raises(brokerkit.BrokerConnectionError) as info:
        brokerkit.connect(f"rediss://127.0.0.1:{free_port()}/0", connect_timeout=2)
    assert "TLS" not in str(info.value), "a refused connection is not a TLS problem"


async def _connect_and_close(url: str) -> None:
    async with brokerkit.connect_async(url, connect_timeout=1):
        pass


def test_unknown_host_is_a_connection_error_naming_it() -> None:
    with pytest.raises(brokerkit.BrokerError) as info:
        brokerkit.connect(f"redis://:{SECRET}@no-such-host.invalid:6390/0", connect_timeout=2)
    _assert_error(info.value, brokerkit.BrokerConnectionError, "no-such-host.invalid:6390", SECRET)


@pytest.mark.parametrize("server_class", [SilentServer, NotRedisServer])
async def test_a_server_that_does_not_answer_like_redis_fails_within_connect_timeout(
    server_class: type[SilentServer | NotRedisServer],
) -> None:
    """Reachable but silent, or not speaking RESP: BrokerConnectionError within
    connect_timeout (1 s here; the default is 10 s, so the loose bound below catches a
    connect that ignores it), sync and async."""
    with server_class() as server:
        url = f"redis://:{SECRET}@127.0.0.1:{server.port}/0"
        where = f"127.0.0.1:{server.port}"
        start = time.monotonic()
        with pytest.raises(brokerkit.BrokerError) as info:
            brokerkit.connect(url, connect_timeout=1)
        _assert_error(info.value, brokerkit.BrokerConnectionError, where, SECRET)
        with pytest.raises(brokerkit.BrokerError) as info:
            await brokerkit.connect_async(url, connect_timeout=1)
        _assert_error(info.value, brokerkit.BrokerConnectionError, where, SECRET)
        assert time.monotonic() - start < 9
        assert server.accepted >= 2


def test_bad_credentials_never_show_the_password(
    tmp_path: Path, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = "right-Secret-1"
    alice = ("--user", "alice", "on", ">alice-Pw-77", "~*", "&*", "+@all")
    server = PrivateRedis(tmp_path, "--requirepass", good, *alice)
    server.start()
    try:
        where = f"127.0.0.1:{server.port}"
        for url in (
            f"redis://:{SECRET}@{where}/0",  # wrong password
            f"redis://alice:{SECRET}@{where}/0",  # wrong password for a real user
            f"redis://mallory:{SECRET}@{where}/0",  # no such user
            f"redis://{where}/0",  # no password at all (NOAUTH)
        ):
            with pytest.raises(brokerkit.BrokerError) as info:
                brokerkit.connect(url, connect_timeout=3)
            _assert_error(info.value, brokerkit.BrokerConnectionError, where, SECRET, good)
        with brokerkit.connect(f"redis://:{good}@{where}/0") as broker:
            assert "***" in repr(broker)
            assert good not in repr(broker)
            assert good not in str(broker.url)
        with brokerkit.connect(f"redis://alice:alice-Pw-77@{where}/0") as broker:
            assert "alice-Pw-77" not in repr(broker)
        _no_secret_logged(caplog, SECRET, good, "alice-Pw-77")
    finally:
        server.kill()


async def test_bad_credentials_async(
    tmp_path: Path, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = PrivateRedis(tmp_path, "--requirepass", "right-Secret-2")
    server.start()
    try:
        where = f"127.0.0.1:{server.port}"
        with pytest.raises(brokerkit.BrokerError) as info:
            await brokerkit.connect_async(f"redis://:{SECRET}@{where}/0", connect_timeout=3)
        _assert_error(info.value, brokerkit.BrokerConnectionError, where, SECRET)
        async with brokerkit.connect_async(f"redis://:right-Secret-2@{where}/0") as broker:
            assert "right-Secret-2" not in repr(broker)
        _no_secret_logged(caplog, SECRET, "right-Secret-2")
    finally:
        server.kill()


def test_bad_database_number_is_a_connection_error() -> None:
    with pytest.raises(brokerkit.BrokerError) as info:
        brokerkit.connect(URL.rsplit("/", 1)[0] + "/99999", connect_timeout=3)
    _assert_error(info.value, brokerkit.BrokerConnectionError, "127.0.0.1:6379")
    assert "DB index" in str(info.value)


async def test_refused_commands_are_delivery_errors(raw: Any, topic: str) -> None:
    """WRONGTYPE: the stream key holds a string."""
    raw.set(topic, b"a string, not a stream")
    where = "127.0.0.1:6379"
    with brokerkit.connect(URL) as broker, broker.producer(topic) as producer:
        with pytest.raises(brokerkit.BrokerError) as info:
            producer.send(b"x", wait=True)
        _assert_error(info.value, brokerkit.DeliveryError, where)
        assert "WRONGTYPE" in str(info.value)
        producer.send_many([b"a", b"b"])  # buffered: the refusal comes from flush()
        with pytest.raises(brokerkit.BrokerError) as info:
            producer.flush()
        _assert_error(info.value, brokerkit.DeliveryError, where)
        assert "WRONGTYPE" in str(info.value)
        assert [value for value, _ in info.value.failures] == [b"a", b"b"]  # type: ignore[attr-defined]
        with pytest.raises(brokerkit.BrokerError) as info:
            broker.consumer(topic, group="g")  # XGROUP CREATE on a string
        _assert_error(info.value, brokerkit.DeliveryError, where)
    async with brokerkit.connect_async(URL) as abroker:
        aproducer = await abroker.producer(topic)
        with pytest.raises(brokerkit.BrokerError) as info:
            await aproducer.send(b"x", wait=True)
        _assert_error(info.value, brokerkit.DeliveryError, where)
        await aproducer.send_many([b"a"])
        with pytest.raises(brokerkit.BrokerError) as info:
            await aproducer.flush()
        _assert_error(info.value, brokerkit.DeliveryError, where)
        with pytest.raises(brokerkit.BrokerError) as info:
            await abroker.consumer(topic, group="g")
        _assert_error(info.value, brokerkit.DeliveryError, where)
        await aproducer.close()


async def test_out_of_memory_refusals_are_delivery_errors(tmp_path: Path, raw: Any) -> None:
    """maxmemory with noeviction: Redis refuses XADD with OOM; nothing is stored silently."""
    server = PrivateRedis(tmp_path, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
    server.start()
    topic = f"{SESSION_PREFIX}oom-{uuid.uuid4().hex}"
    where = f"127.0.0.1:{server.port}"
    chunk = b"x" * 64 * 1024
    try:
        with brokerkit.connect(server.url) as broker, broker.producer(topic) as producer:
            accepted = 0
            refusal: BaseException | None = None
            for _ in range(1000):  # 64 MiB: far more than 4 MiB
                try:
                    producer.send(chunk, wait=True)
                except brokerkit.BrokerError as exc:
                    refusal = exc
                    break
                accepted += 1
            assert refusal is not None
            _assert_error(refusal, brokerkit.DeliveryError, where)
            assert "OOM" in str(refusal)
            batch = [b"small", chunk, chunk]
            producer.send_many(batch)
            with pytest.raises(brokerkit.BrokerError) as info:
                producer.flush()
            _assert_error(info.value, brokerkit.DeliveryError, where)
            failures = info.value.failures  # type: ignore[attr-defined]
            assert failures  # (the small one may fit: Redis counts the big query buffers)
            assert all(value in batch and "OOM" in reason for value, reason in failures)
            with server.client() as check:  # stored: every send that returned, and the rest
                assert check.xlen(topic) == accepted + len(batch) - len(failures)
        async with brokerkit.connect_async(server.url) as abroker:
            aproducer = await abroker.producer(topic)
            with pytest.raises(brokerkit.BrokerError) as info:
                await aproducer.send(chunk, wait=True)
            _assert_error(info.value, brokerkit.DeliveryError, where)
            await aproducer.send_many([chunk, chunk])
            with pytest.raises(brokerkit.BrokerError) as info:
                await aproducer.flush()
            _assert_error(info.value, brokerkit.DeliveryError, where)
            await aproducer.close()
    finally:
        server.kill()


async def test_broker_down_after_connect_then_back(private_redis: PrivateRedis) -> None:
    """The server dies under open producers and consumers: every operation raises
    BrokerConnectionError naming it once reconnect_timeout is spent; when it is back, the
    same objects work again without any manual step. Sync, then async."""
    topic = f"{SESSION_PREFIX}down-{uuid.uuid4().hex}"
    where = f"127.0.0.1:{private_redis.port}"
    with brokerkit.connect(private_redis.url, reconnect_timeout=0.3) as broker:
        consumer = broker.consumer(topic, group="g", commit="sync")
        producer = broker.producer(topic)
        # confirmed before the kill (else its reply may be lost with the connection and it
        # is reported unconfirmed, rightly, from the next send)
        producer.send(b"before", wait=True)
        first = consumer.receive(timeout=5)
        assert first is not None
        private_redis.kill()
        calls: list[Callable[[], Any]] = [
            lambda: producer.send(b"lost", wait=True),
            lambda: consumer.receive(timeout=0.5),
            first.ack,
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(brokerkit.BrokerError) as info:
                call()
            # reconnect_timeout (0.3 s) bounds each call, a sync commit's retries included
            assert time.monotonic() - started < 0.5 + 2.0
            _assert_error(info.value, brokerkit.BrokerConnectionError, where)
        producer.send_many([b"lost", b"lost"])  # buffered; flush() says they were not stored
        with pytest.raises(brokerkit.BrokerError) as info:
            producer.flush()
        _assert_error(info.value, brokerkit.DeliveryError, where)
        assert isinstance(info.value.__cause__, brokerkit.BrokerConnectionError)
        assert [v for v, _ in info.value.failures] == [b"lost", b"lost"]  # type: ignore[attr-defined]
        private_redis.start()
        producer.send(b"after")
        got = _receive_all(consumer, 1, timeout=5)
        assert b"after" in [m.value for m in got]
        producer.close()
        consumer.close()
    async with brokerkit.connect_async(private_redis.url, reconnect_timeout=0.3) as abroker:
        aconsumer = await abroker.consumer(topic, group="g2", commit="sync")
        aproducer = await abroker.producer(topic)
        private_redis.kill()
        acalls: list[Callable[[], Awaitable[Any]]] = [
            lambda: aproducer.send(b"lost", wait=True),
            lambda: aconsumer.receive(timeout=0.5),
        ]
        for acall in acalls:
            with pytest.raises(brokerkit.BrokerError) as info:
                await acall()
            _assert_error(info.value, brokerkit.BrokerConnectionError, where)
        private_redis.start()
        await aproducer.send(b"again")
        values: list[bytes] = []
        deadline = time.monotonic() + 5
        while b"again" not in values and time.monotonic() < deadline:
            for msg in await aconsumer.receive_many(100, timeout=0.5):
                values.append(msg.value)
                await msg.ack()
        assert b"again" in values
        await aproducer.close()
        await aconsumer.close()


# -- connection loss mid-stream ------------------------------------------------------------------
#
# A producer sends TOTAL numbered messages while a consumer (commit="sync": an ack() that
# returns is confirmed by Redis) receives and acks them; mid-stream the connections are cut
# (CLIENT KILL) or the server is killed and restarted. The application code retries a send
# that raised (and counts it); nothing else is done by hand: the same producer and consumer
# objects carry on. Checked (Ledger.check): every send that returned was delivered; no
# message (stream entry, by id) was delivered again after its ack() returned; messages
# flowed after the disruption; nothing is left pending in the group. A value may be stored
# twice (an XADD retried after its reply was lost: at-least-once); those are two entries.
# visibility_timeout is 300 s, longer than the test may run: recovery must not wait for
# messages to be claimed.

TOTAL = 1200
RUN_LIMIT = 60.0
NO_CLAIMS = 300.0


class Ledger:
    """What the application saw during a disrupted run."""

    def __init__(self) -> None:
        self.confirmed: list[bytes] = []  # send()/send_many() returned without error
        self.send_errors: list[BaseException] = []
        self.deliveries: Counter[bytes] = Counter()  # by value
        self.entries: Counter[str] = Counter()  # by message id (stream entry)
        self.acked: set[str] = set()  # ids whose ack() returned
        self.after_ack: list[str] = []  # ids delivered again although their ack() had returned
        self.confirmed_at_disruption: int | None = None
        self.delivered_at_disruption = 0
        self.producer_done = False

    @staticmethod
    def batches() -> Iterator[list[bytes]]:
        """TOTAL numbered values, mostly one per send(), every 20th a send_many() of 10."""
        i = 0
        while i < TOTAL:
            n = 10 if i % 200 == 0 else 1
            yield [b"%06d" % j for j in range(i, min(i + n, TOTAL))]
            i += n

    def sent(self, values: list[bytes]) -> None:
        self.confirmed.extend(values)

    def failed(self, exc: BaseException) -> None:
        assert type(exc) in (brokerkit.BrokerConnectionError, brokerkit.TimeoutError), repr(exc)
        self.send_errors.append(exc)

    def delivered(self, msg: Any) -> None:
        if msg.id in self.acked:
            self.after_ack.append(msg.id)
        self.deliveries[msg.value] += 1
        self.entries[msg.id] += 1

    def should_disrupt(self) -> bool:
        return self.confirmed_at_disruption is None and len(self.deliveries) > TOTAL // 4

    def disrupting(self) -> None:
        self.confirmed_at_disruption = len(self.confirmed)
        self.delivered_at_disruption = len(self.deliveries)

    def finished(self) -> bool:
        return self.producer_done and all(v in self.deliveries for v in self.confirmed)

    def check(self, pending: int) -> None:
        redelivered = sum(n - 1 for n in self.entries.values())
        print(  # shown with pytest -s
            f"sent {len(self.confirmed)} ({len(self.send_errors)} sends raised and were "
            f"retried), delivered {len(self.deliveries)} distinct values in "
            f"{len(self.entries)} entries ({len(self.entries) - len(self.deliveries)} stored "
            f"twice by a retried XADD), {redelivered} entries redelivered; disrupted after "
            f"{self.confirmed_at_disruption} sends"
        )
        assert self.confirmed_at_disruption is not None, "the disruption never happened"
        assert sorted(set(self.confirmed)) == [b"%06d" % i for i in range(TOTAL)]
        missing = sorted(set(self.confirmed) - set(self.deliveries))
        assert not missing, f"{len(missing)} confirmed sends never delivered: {missing[:5]}"
        assert not self.after_ack, f"delivered again after ack: {self.after_ack[:5]}"
        assert self.confirmed_at_disruption < TOTAL, "nothing was sent after the disruption"
        assert len(self.deliveries) > self.delivered_at_disruption
        assert pending == 0, f"{pending} messages left pending in the group"


def _produce(url: str, topic: str, ledger: Ledger, opts: dict[str, Any]) -> None:
    """The sync application's producer: retries a send that raised."""
    deadline = time.monotonic() + RUN_LIMIT
    with brokerkit.connect(url, **opts) as broker, broker.producer(topic) as producer:
        for values in Ledger.batches():
            while time.monotonic() < deadline:
                try:
                    if len(values) == 1:
                        producer.send(values[0])
                    else:
                        producer.send_many(values)
                except brokerkit.BrokerError as exc:
                    ledger.failed(exc)
                    continue
                ledger.sent(values)
                break
            time.sleep(0.001)  # pace: the stream spans the disruption
    ledger.producer_done = True


def _run_disrupted(url: str, topic: str, disrupt: Callable[[], None], **opts: Any) -> Ledger:
    ledger = Ledger()
    opts.setdefault("visibility_timeout", NO_CLAIMS)
    with brokerkit.connect(url, **opts) as broker:
        consumer = broker.consumer(topic, group="g", commit="sync")
        thread = threading.Thread(target=_produce, args=(url, topic, ledger, opts))
        thread.start()
        try:
            deadline = time.monotonic() + RUN_LIMIT
            while not ledger.finished() and time.monotonic() < deadline:
                for msg in consumer.receive_many(100, timeout=0.2):
                    ledger.delivered(msg)
                    msg.ack()
                    ledger.acked.add(msg.id)
                if ledger.should_disrupt():
                    ledger.disrupting()
                    disrupt()
            for msg in consumer.receive_many(100, timeout=0.5):  # nothing acked comes back
                ledger.delivered(msg)
                msg.ack()
        finally:
            thread.join()
        consumer.close()
    return ledger


async def _run_disrupted_async(
    url: str, topic: str, disrupt: Callable[[], Awaitable[None]], **opts: Any
) -> Ledger:
    ledger = Ledger()
    opts.setdefault("visibility_timeout", NO_CLAIMS)

    async def produce() -> None:
        deadline = time.monotonic() + RUN_LIMIT
        async with brokerkit.connect_async(url, **opts) as broker, broker.producer(topic) as p:
            for values in Ledger.batches():
                while time.monotonic() < deadline:
                    try:
                        if len(values) == 1:
                            await p.send(values[0])
                        else:
                            await p.send_many(values)
                    except brokerkit.BrokerError as exc:
                        ledger.failed(exc)
                        continue
                    ledger.sent(values)
                    break
                await asyncio.sleep(0.001)
        ledger.producer_done = True

    async with brokerkit.connect_async(url, **opts) as broker:
        consumer = await broker.consumer(topic, group="g", commit="sync")
        task = asyncio.create_task(produce())
        try:
            deadline = time.monotonic() + RUN_LIMIT
            while not ledger.finished() and time.monotonic() < deadline:
                for msg in await consumer.receive_many(100, timeout=0.2):
                    ledger.delivered(msg)
                    await msg.ack()
                    ledger.acked.add(msg.id)
                if ledger.should_disrupt():
                    ledger.disrupting()
                    await disrupt()
            for msg in await consumer.receive_many(100, timeout=0.5):
                ledger.delivered(msg)
                await msg.ack()
        finally:
            await task
        await consumer.close()
    return ledger


def _kill_clients(raw: Any, name: str) -> int:
    killed = 0
    for client in raw.client_list():
        if client.get("name") == name:
            try:
                raw.client_kill_filter(_id=client["id"])
                killed += 1
            except redis.ResponseError:
                pass  # gone already
    return killed


def _cut(raw: Any, name: str) -> int:
    """CLIENT KILL every connection named ``name``, three times 0.15 s apart, so that
    connections in different states (blocked in XREADGROUP, mid-send, reconnecting) die."""
    killed = 0
    for _ in range(3):
        killed += _kill_clients(raw, name)
        time.sleep(0.15)
    return killed


def _pending(client: Any, topic: str) -> int:
    count: int = client.xpending(topic, "g")["pending"]
    return count


def test_client_kill_mid_stream_recovers(raw: Any, topic: str) -> None:
    name = f"bk-kill-{uuid.uuid4().hex[:8]}"
    killed: list[int] = []
    ledger = _run_disrupted(URL, topic, lambda: killed.append(_cut(raw, name)), client_id=name)
    assert killed[0] >= 2  # the producer's and the consumer's connections at least
    ledger.check(_pending(raw, topic))


async def test_client_kill_mid_stream_recovers_async(raw: Any, topic: str) -> None:
    name = f"bk-akill-{uuid.uuid4().hex[:8]}"
    killed: list[int] = []

    async def disrupt() -> None:
        killed.append(await asyncio.to_thread(_cut, raw, name))

    ledger = await _run_disrupted_async(URL, topic, disrupt, client_id=name)
    assert killed[0] >= 2
    ledger.check(_pending(raw, topic))


def _restart(server: PrivateRedis) -> None:
    """SIGKILL the server, leave it down for a moment (sends and fetches hit the outage and
    retry), then start it again on the same port from its AOF."""
    server.kill()
    time.sleep(0.5)
    server.start()


def test_private_server_restart_mid_stream_recovers(private_redis: PrivateRedis) -> None:
    topic = f"{SESSION_PREFIX}restart-{uuid.uuid4().hex}"
    pids: list[int] = []

    def disrupt() -> None:
        assert private_redis.proc is not None
        pids.append(private_redis.proc.pid)
        _restart(private_redis)

    ledger = _run_disrupted(private_redis.url, topic, disrupt)
    assert private_redis.proc is not None
    assert private_redis.proc.pid != pids[0]  # a new server process
    with private_redis.client() as check:
        ledger.check(_pending(check, topic))


async def test_private_server_restart_mid_stream_recovers_async(
    private_redis: PrivateRedis,
) -> None:
    topic = f"{SESSION_PREFIX}arestart-{uuid.uuid4().hex}"
    pids: list[int] = []

    async def disrupt() -> None:
        assert private_redis.proc is not None
        pids.append(private_redis.proc.pid)
        await asyncio.to_thread(_restart, private_redis)

    ledger = await _run_disrupted_async(private_redis.url, topic, disrupt)
    assert private_redis.proc is not None
    assert private_redis.proc.pid != pids[0]  # a new server process
    with private_redis.client() as check:
        ledger.check(_pending(check, topic))


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_a_lost_read_reply_is_read_back_at_once(raw: Any, topic: str, api: str) -> None:
    """The connection dies after XREADGROUP handed entries over but before its reply
    arrived: the entries sit in the member's pending list. After reconnecting, the next
    fetch reads them back from there at once (delivery count 2: Redis counts the lost
    delivery), not after the visibility timeout (300 s here).

    How: the consumer talks to Redis through a Link. With two entries waiting, the link
    starts swallowing replies and the consumer fetches: its XREADGROUP takes both entries
    (claim_interval is long, so nothing else is sent first) and waits for a reply that
    never comes; once both are pending, the link cuts the connections.
    """
    opts: dict[str, Any] = {"visibility_timeout": NO_CLAIMS, "claim_interval": NO_CLAIMS}

    def break_the_link(link: Link) -> None:
        try:
            _wait_for(lambda: _pending(raw, topic) == 2, 10, "XREADGROUP to take the entries")
        finally:
            link.cut()

    values: list[bytes] = []
    counts: list[int] = []
    with Link(("127.0.0.1", 6379)) as link:
        url = f"redis://127.0.0.1:{link.port}/0"
        breaker = threading.Thread(target=break_the_link, args=(link,))
        if api == "sync":
            with brokerkit.connect(url, **opts) as broker:
                consumer = broker.consumer(topic, group="g", commit="sync")
                assert consumer.receive(timeout=0.1) is None  # the first fetch claims
                raw.xadd(topic, {"v": "warm-up"})  # a first batch shows the message size,
                warm = consumer.receive(timeout=5)  # so the next fetch takes both entries
                assert warm is not None
                warm.ack()
                raw.xadd(topic, {"v": "lost-1"})
                raw.xadd(topic, {"v": "lost-2"})
                link.drop_replies()
                breaker.start()
                for msg in _receive_all(consumer, 2, timeout=15):
                    values.append(msg.value)
                    counts.append(msg.delivery_count)
                consumer.close()
        else:
            async with brokerkit.connect_async(url, **opts) as abroker:
                aconsumer = await abroker.consumer(topic, group="g", commit="sync")
                assert await aconsumer.receive(timeout=0.1) is None
                raw.xadd(topic, {"v": "warm-up"})
                awarm = await aconsumer.receive(timeout=5)
                assert awarm is not None
                await awarm.ack()
                raw.xadd(topic, {"v": "lost-1"})
                raw.xadd(topic, {"v": "lost-2"})
                link.drop_replies()
                breaker.start()
                deadline = time.monotonic() + 15
                while len(values) < 2 and time.monotonic() < deadline:
                    for amsg in await aconsumer.receive_many(2, timeout=0.5):
                        values.append(amsg.value)
                        counts.append(amsg.delivery_count)
                        await amsg.ack()
                await aconsumer.close()
        breaker.join()
    assert sorted(values) == [b"lost-1", b"lost-2"]
    assert counts == [2, 2]
    assert _pending(raw, topic) == 0


# -- pub/sub: large messages and connection loss ------------------------------------------------


def _pubsub_via(link: Link) -> str:
    return f"redis://127.0.0.1:{link.port}/0?mode=pubsub"


def test_pubsub_message_arriving_in_pieces_is_not_lost(topic: str) -> None:
    """Regression: the sync client read a partly arrived 1 MiB message with a 0 s socket
    timeout, counted the timeout as a lost connection, reconnected and dropped the
    message. Through a link that delivers it in 32 KiB pieces 10 ms apart, it arrives
    whole, in order, on the same connection."""
    big = os.urandom(1 << 20)
    with (
        Link(("127.0.0.1", 6379), gap=0.01) as link,
        brokerkit.connect(_pubsub_via(link)) as sub_broker,
        brokerkit.connect(PUBSUB_URL) as pub_broker,
    ):
        consumer = sub_broker.consumer(topic, guarantee="at-most-once")
        connections = link.accepted
        with pub_broker.producer(topic, guarantee="at-most-once") as producer:
            producer.send(b"", key=b"empty")
            producer.send(big, key=b"big")
            producer.send(b"after", key=b"after")
        got = _receive_all(consumer, 3, timeout=20, ack=False)
        assert [m.key for m in got] == [b"empty", b"big", b"after"]
        assert got[1].value == big
        assert link.accepted == connections  # the subscription never reconnected
        consumer.close()


async def test_pubsub_message_arriving_in_pieces_is_not_lost_async(topic: str) -> None:
    big = os.urandom(1 << 20)
    with Link(("127.0.0.1", 6379), gap=0.01) as link:
        async with (
            brokerkit.connect_async(_pubsub_via(link)) as sub_broker,
            brokerkit.connect_async(PUBSUB_URL) as pub_broker,
        ):
            consumer = await sub_broker.consumer(topic, guarantee="at-most-once")
            connections = link.accepted
            async with pub_broker.producer(topic, guarantee="at-most-once") as producer:
                await producer.send(b"", key=b"empty")
                await producer.send(big, key=b"big")
                await producer.send(b"after", key=b"after")
            got: list[Any] = []
            deadline = time.monotonic() + 20
            while len(got) < 3 and time.monotonic() < deadline:
                got += await consumer.receive_many(3 - len(got), timeout=0.5)
            assert [m.key for m in got] == [b"empty", b"big", b"after"]
            assert got[1].value == big
            assert link.accepted == connections
            await consumer.close()


def _publish_until_received(
    publish: Callable[[bytes], None], receive: Callable[[], Any], reported: bool = False
) -> None:
    """Publish until the subscriber gets one; on the way, it says once (a
    BrokerConnectionError from receive) that the cut lost what was published meanwhile,
    unless that was ``reported`` already."""
    deadline = time.monotonic() + 10
    said = 0
    expected = 0 if reported else 1
    while time.monotonic() < deadline:
        publish(b"ping")
        try:
            msg = receive()
        except brokerkit.BrokerConnectionError as exc:
            said += "lost" in str(exc)  # a report without "lost" fails the count below
            continue
        if msg is not None:
            assert msg.value == b"ping"
            assert said == expected, "the cut was not reported (or more than once)"
            return
    raise AssertionError("the subscriber did not come back after its connection was killed")


def test_pubsub_subscriber_resubscribes_after_client_kill(raw: Any, topic: str) -> None:
    """At-most-once: what is published while the connection is down is lost, but the
    subscriber reconnects and subscribes again by itself."""
    name = f"bk-pskill-{uuid.uuid4().hex[:8]}"
    with brokerkit.connect(PUBSUB_URL, client_id=name) as broker:
        consumer = broker.consumer(topic, guarantee="at-most-once")
        assert _kill_clients(raw, name) >= 1
        with broker.producer(topic, guarantee="at-most-once") as producer:
            _publish_until_received(producer.send, lambda: consumer.receive(timeout=0.2))
        consumer.close()


async def test_pubsub_subscriber_resubscribes_after_client_kill_async(raw: Any, topic: str) -> None:
    name = f"bk-apskill-{uuid.uuid4().hex[:8]}"
    async with brokerkit.connect_async(PUBSUB_URL, client_id=name) as broker:
        consumer = await broker.consumer(topic, guarantee="at-most-once")
        assert _kill_clients(raw, name) >= 1
        async with broker.producer(topic, guarantee="at-most-once") as producer:
            deadline = time.monotonic() + 10
            said = 0
            while True:
                assert time.monotonic() < deadline, "the subscriber did not come back"
                await producer.send(b"ping")
                try:
                    msg = await consumer.receive(timeout=0.2)
                except brokerkit.BrokerConnectionError as exc:
                    said += "lost" in str(exc)
                    continue
                if msg is not None:
                    assert msg.value == b"ping"
                    assert said == 1
                    break
        await consumer.close()


# -- Pub/Sub: a slow subscriber cut off by Redis is not silent ---------------------------------

SLOW_LIMIT = ("--client-output-buffer-limit", "pubsub 262144 131072 60")
#: Messages of 8 KiB sent while the subscriber does not read: 40 MB, far more than the
#: loopback socket buffers and the 256 KiB limit hold together.
FLOOD = 5000


def _flood(server: PrivateRedis, channel: str, count: int, size: int) -> None:
    client = server.client()
    try:
        payload = encode_frame(b"f" * size, None, None)
        pipe = client.pipeline(transaction=False)
        for _ in range(count):
            pipe.publish(channel, payload)
        pipe.execute()
    finally:
        client.close()


def _drain_until_cut(receive: Callable[[], Any], deadline: float) -> tuple[int, Any]:
    got = 0
    while time.monotonic() < deadline:
        try:
            msg = receive()
        except brokerkit.BrokerConnectionError as exc:
            return got, exc
        if msg is not None:
            got += 1
    raise AssertionError(f"received {got} messages and no word of the cut")


def test_pubsub_slow_subscriber_cut_by_redis_is_reported(
    tmp_path: Path, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis cuts a subscriber that falls behind at its output-buffer limit (256 KiB here;
    32 MiB by default): the loss is logged at WARNING with what may be lost, and the
    next receive() raises BrokerConnectionError saying so; the one after goes on."""
    caplog.set_level(logging.WARNING, logger="brokerkit")
    server = PrivateRedis(tmp_path, *SLOW_LIMIT)
    server.start()
    try:
        url = server.url + "?mode=pubsub"
        with brokerkit.connect(url) as broker:
            consumer = broker.consumer("slow", guarantee="at-most-once")
            _flood(server, "slow", FLOOD, 8192)  # 40 MB while nobody reads
            got, exc = _drain_until_cut(
                lambda: consumer.receive(timeout=0.5), time.monotonic() + 15
            )
            assert got < FLOOD
            assert exc.url is not None
            assert "'slow'" in str(exc)
            assert "262,144 bytes" in str(exc)
            warned = [r for r in caplog.records if r.levelno == logging.WARNING]
            losses = [r for r in warned if "are lost" in r.getMessage()]
            assert len(losses) == 1  # the loss, once (reconnect attempts log their own)
            with broker.producer("slow", guarantee="at-most-once") as producer:
                _publish_until_received(
                    producer.send, lambda: consumer.receive(timeout=0.2), reported=True
                )
            consumer.close()
    finally:
        server.kill()


async def test_pubsub_slow_subscriber_cut_by_redis_is_reported_async(
    tmp_path: Path, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="brokerkit")
    server = PrivateRedis(tmp_path, *SLOW_LIMIT)
    server.start()
    try:
        async with brokerkit.connect_async(server.url + "?mode=pubsub") as broker:
            consumer = await broker.consumer("slow", guarantee="at-most-once")
            await asyncio.to_thread(_flood, server, "slow", FLOOD, 8192)
            deadline = time.monotonic() + 15
            got = 0
            while True:
                assert time.monotonic() < deadline, f"got {got} and no word of the cut"
                try:
                    msg = await consumer.receive(timeout=0.5)
                except brokerkit.BrokerConnectionError as exc:
                    cut = exc
                    break
                got += msg is not None
            assert "lost" in str(cut)
            assert got < FLOOD
            losses = [r for r in caplog.records if "are lost" in r.getMessage()]
            assert len(losses) == 1  # the loss, once (reconnect attempts log their own)
            async with broker.producer("slow", guarantee="at-most-once") as producer:
                for _ in range(100):
                    await producer.send(b"after")
                    msg = await consumer.receive(timeout=0.2)
                    if msg is not None:
                        break
                assert msg is not None
                assert msg.value == b"after"
            await consumer.close()
    finally:
        server.kill()


# -- slow handlers, short visibility timeouts: prefetching never causes a redelivery -------------

SLOW_COUNT = 100
SLOW_WORK = 0.03  # seconds per message: 3 s of work for the lot, three visibility timeouts


def _slow_group_sync(url: str, topic: str, members: int, **options: Any) -> Counter[bytes]:
    seen: Counter[bytes] = Counter()
    lock = threading.Lock()
    with brokerkit.connect(url, visibility_timeout=1.0, claim_interval=0.1) as broker:
        consumers = [broker.consumer(topic, group="g", **options) for _ in range(members)]
        with broker.producer(topic) as producer:
            producer.send_many([b"%04d" % i for i in range(SLOW_COUNT)])
        stop = time.monotonic() + 30

        def run(consumer: Any) -> None:
            while time.monotonic() < stop:
                msg = consumer.receive(timeout=0.2)  # also sends the acks that are due
                if msg is None:
                    with lock:
                        if len(seen) == SLOW_COUNT:
                            return
                    continue
                time.sleep(SLOW_WORK)
                with lock:
                    seen[msg.value] += 1
                msg.ack()

        threads = [threading.Thread(target=run, args=(c,)) for c in consumers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(1.5)  # past the visibility timeout: nothing acked may come again
        for consumer in consumers:
            for msg in consumer.receive_many(SLOW_COUNT, timeout=0.5):
                seen[msg.value] += 1
            consumer.close()
    return seen


async def _slow_group_async(url: str, topic: str, members: int, **options: Any) -> Counter[bytes]:
    seen: Counter[bytes] = Counter()
    async with brokerkit.connect_async(url, visibility_timeout=1.0, claim_interval=0.1) as broker:
        consumers = [await broker.consumer(topic, group="g", **options) for _ in range(members)]
        async with broker.producer(topic) as producer:
            await producer.send_many([b"%04d" % i for i in range(SLOW_COUNT)])
        stop = time.monotonic() + 30

        async def run(consumer: Any) -> None:
            while time.monotonic() < stop:
                msg = await consumer.receive(timeout=0.2)  # also sends the acks that are due
                if msg is None:
                    if len(seen) == SLOW_COUNT:
                        return
                    continue
                await asyncio.sleep(SLOW_WORK)
                seen[msg.value] += 1
                await msg.ack()

        await asyncio.gather(*(run(c) for c in consumers))
        await asyncio.sleep(1.5)
        for consumer in consumers:
            for msg in await consumer.receive_many(SLOW_COUNT, timeout=0.5):
                seen[msg.value] += 1
            await consumer.close()
    return seen


@pytest.mark.parametrize("api", ["sync", "async"])
@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("commit", ["async", "sync"])
async def test_slow_handlers_never_get_a_message_twice_by_prefetching(
    raw: Any, topic: str, api: str, members: int, commit: str
) -> None:
    """Visibility timeout 1 s, 30 ms of work per message, default prefetch: every
    message is handled exactly once, with one member (whose own pending acks must not be
    claimed back) and with two (which must not claim what the other holds in its
    prefetch buffer), sync and async."""
    if api == "sync":
        seen = await asyncio.to_thread(_slow_group_sync, URL, topic, members, commit=commit)
    else:
        seen = await _slow_group_async(URL, topic, members, commit=commit)
    twice = {v: n for v, n in seen.items() if n > 1}
    assert len(seen) == SLOW_COUNT
    assert not twice, f"{len(twice)} messages handled more than once"


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_slow_handlers_never_dead_letter_good_messages(
    raw: Any, topic: str, api: str
) -> None:
    """The same with max_deliveries=1: a message handled and acked once is never
    dead-lettered because another member claimed it while it waited."""
    dlq = topic + "-dlq"
    options = {"max_deliveries": 1, "dead_letter_topic": dlq}
    raw.xgroup_create(dlq, "ops", id="0", mkstream=True)
    if api == "sync":
        seen = await asyncio.to_thread(_slow_group_sync, URL, topic, 2, **options)
    else:
        seen = await _slow_group_async(URL, topic, 2, **options)
    assert raw.xlen(dlq) == 0, f"{raw.xlen(dlq)} good messages were dead-lettered"
    assert len(seen) == SLOW_COUNT
    assert max(seen.values()) == 1


def _members(raw: Any, topic: str, group: str) -> dict[bytes, int]:
    return {c["name"]: c["pending"] for c in raw.xinfo_consumers(topic, group)}


def test_the_handback_member_goes_once_it_holds_nothing(raw: Any, topic: str) -> None:
    """close() hands unacked messages to the member brokerkit-handback; once they are
    all taken (by a live member, or by the next one to join when none was left) the
    hand-back member is removed from the group, not left behind in every group."""
    handback = b"brokerkit-handback"
    with brokerkit.connect(URL, claim_interval=0.1) as broker:
        with broker.producer(topic) as producer:
            producer.send_many([b"a", b"b", b"c"])
        first = broker.consumer(topic, group="g")
        held = first.receive_many(3, timeout=3)
        assert len(held) == 3
        first.close()  # no other member: the three wait with the hand-back member
        assert _members(raw, topic, "g") == {handback: 3}
        second = broker.consumer(topic, group="g", commit="sync")
        got = _receive_all(second, 3, timeout=5)
        assert sorted(m.value for m in got) == [b"a", b"b", b"c"]
        assert handback not in _members(raw, topic, "g")
        # and with a live member taking them over
        third = broker.consumer(topic, group="g", commit="sync")
        with broker.producer(topic) as producer:
            producer.send_many([b"d", b"e"])
        mine = _receive_all(second, 2, timeout=5, ack=False)
        assert len(mine) == 2
        second.close()
        again = _receive_all(third, 2, timeout=5)
        assert sorted(m.value for m in again) == [b"d", b"e"]
        _wait_for(
            lambda: handback not in _members(raw, topic, "g"), 5, "the hand-back member to go"
        )
        third.close()


# -- a broker that stops answering: every blocking call keeps its bound --------------------------
#
# A Link holds every byte both ways (the connections stay open, nothing answers, new ones
# hang after the TCP accept): receive(timeout=t) returns or raises within about t plus
# connect_timeout, even with an ASYNC commit pending, and close() within close_timeout.
# Measured before: 32 s for receive(timeout=1) (61 s with the pending commit), 64-129 s
# for close(). The bounds below are loose on purpose (a busy machine); the faults they
# catch are tens of seconds.

CLOSE_TIMEOUT = 2.0
SILENT: brokerkit.ConnectOptions = {
    "connect_timeout": 1.0,
    "socket_timeout": 1.0,
    "close_timeout": CLOSE_TIMEOUT,
}
SLACK = 2.0


@pytest.mark.parametrize("commit", ["async", "sync"])
def test_receive_and_close_keep_their_bounds_against_a_silent_broker(
    raw: Any, topic: str, commit: Literal["async", "sync"]
) -> None:
    link = Link(("127.0.0.1", 6379))
    with link, brokerkit.connect(through(URL, link), **SILENT) as broker:
        consumer = broker.consumer(topic, group="g", commit=commit)
        with broker.producer(topic) as producer:
            producer.send_many([b"1", b"2"])
        got = _receive_all(consumer, 2, timeout=5)  # acked; with "async", not sent yet
        assert len(got) == 2
        time.sleep(0.3)  # the pending acks are due
        link.hold()
        start = time.monotonic()
        with contextlib.suppress(brokerkit.BrokerConnectionError, brokerkit.TimeoutError):
            assert consumer.receive(timeout=1.0) is None
        took = time.monotonic() - start
        assert took < 1.0 + SILENT["connect_timeout"] + SLACK, f"receive took {took:.1f} s"
        start = time.monotonic()
        with contextlib.suppress(brokerkit.BrokerError):
            consumer.close()
        took = time.monotonic() - start
        assert took < CLOSE_TIMEOUT + SLACK, f"close took {took:.1f} s"
        link.resume()


@pytest.mark.parametrize("commit", ["async", "sync"])
async def test_receive_and_close_keep_their_bounds_against_a_silent_broker_async(
    raw: Any, topic: str, commit: Literal["async", "sync"]
) -> None:
    link = Link(("127.0.0.1", 6379))
    with link:
        async with brokerkit.connect_async(through(URL, link), **SILENT) as broker:
            consumer = await broker.consumer(topic, group="g", commit=commit)
            async with broker.producer(topic) as producer:
                await producer.send_many([b"1", b"2"])
            got: list[Any] = []
            deadline = time.monotonic() + 5
            while len(got) < 2 and time.monotonic() < deadline:
                for msg in await consumer.receive_many(2, timeout=0.5):
                    await msg.ack()
                    got.append(msg)
            await asyncio.sleep(0.3)
            link.hold()
            start = time.monotonic()
            with contextlib.suppress(brokerkit.BrokerConnectionError, brokerkit.TimeoutError):
                assert await consumer.receive(timeout=1.0) is None
            took = time.monotonic() - start
            assert took < 1.0 + SILENT["connect_timeout"] + SLACK, f"receive took {took:.1f} s"
            start = time.monotonic()
            with contextlib.suppress(brokerkit.BrokerError):
                await consumer.close()
            took = time.monotonic() - start
            assert took < CLOSE_TIMEOUT + SLACK, f"close took {took:.1f} s"
            link.resume()


# -- the first fetch honours prefetch_bytes ---------------------------------------------------


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_the_first_fetch_honours_prefetch_bytes(raw: Any, topic: str, api: str) -> None:
    """A new group's first receive() used to pull `prefetch` entries whatever their size
    (10 entries of 50 MiB: 365 MiB in one reply). Now the first fetch takes one entry, and
    every later one about prefetch_bytes' worth."""
    big = b"B" * (1 << 20)
    raw.xgroup_create(topic, "g", id="0", mkstream=True)
    for _ in range(10):
        raw.xadd(topic, {"v": big})

    def held() -> int:
        return int(raw.xpending(topic, "g")["pending"])

    if api == "sync":
        with brokerkit.connect(URL) as broker:
            consumer = broker.consumer(topic, group="g", prefetch_bytes=2 << 20)
            first = consumer.receive(timeout=5)
            assert first is not None
            assert held() == 1
            first.ack()
            second = consumer.receive(timeout=5)
            assert second is not None
            assert held() <= 1 + 2 + 1  # about prefetch_bytes' worth
            consumer.close()
    else:
        async with brokerkit.connect_async(URL) as abroker:
            aconsumer = await abroker.consumer(topic, group="g", prefetch_bytes=2 << 20)
            afirst = await aconsumer.receive(timeout=5)
            assert afirst is not None
            assert held() == 1
            await afirst.ack()
            asecond = await aconsumer.receive(timeout=5)
            assert asecond is not None
            assert held() <= 1 + 2 + 1
            await aconsumer.close()


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_close_with_pending_acks_keeps_close_timeout_against_a_silent_broker(
    raw: Any, topic: str, api: str
) -> None:
    """close() sends the pending acks, but gives up at close_timeout when the broker does
    not answer (the messages come back after the visibility timeout: at-least-once)."""
    lazy: brokerkit.ConsumerOptions = {
        "commit": "async",
        "commit_every": 1000,
        "commit_interval": 60.0,
    }
    link = Link(("127.0.0.1", 6379))
    with link:
        if api == "sync":
            with brokerkit.connect(through(URL, link), **SILENT) as broker:
                consumer = broker.consumer(topic, group="g", **lazy)
                with broker.producer(topic) as producer:
                    producer.send(b"1")
                assert len(_receive_all(consumer, 1, timeout=5)) == 1  # acked, not sent
                link.hold()
                start = time.monotonic()
                with contextlib.suppress(brokerkit.BrokerError):
                    consumer.close()
                took = time.monotonic() - start
        else:
            async with brokerkit.connect_async(through(URL, link), **SILENT) as abroker:
                aconsumer = await abroker.consumer(topic, group="g", **lazy)
                async with abroker.producer(topic) as aproducer:
                    await aproducer.send(b"1")
                msg = await aconsumer.receive(timeout=5)
                assert msg is not None
                await msg.ack()
                link.hold()
                start = time.monotonic()
                with contextlib.suppress(brokerkit.BrokerError):
                    await aconsumer.close()
                took = time.monotonic() - start
        link.resume()
    assert took < CLOSE_TIMEOUT + SLACK, f"close took {took:.1f} s"


# -- TLS: the same tls_* options as every other backend ------------------------------------


def test_rediss_with_a_ca_file_and_a_client_certificate(tmp_path: Path) -> None:
    """A private redis-server with TLS only, requiring a client certificate: the shared
    tls_ca_file / tls_cert_file / tls_key_file options get through, and each missing
    piece gives the error that says so."""
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("openssl") is None:
        _unreachable("needs redis-server and openssl to start a private TLS server")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    openssl = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
        "-addext", "subjectAltName=IP:127.0.0.1",
    ]  # fmt: skip
    subprocess.run(openssl, check=True, capture_output=True, timeout=60)
    port = free_port()
    # --tls-ca-cert-file: clients must show a certificate it signed
    command = [
        binary or "redis-server", "--port", "0", "--tls-port", str(port),
        "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path),
        "--tls-cert-file", str(cert), "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, what="the private TLS redis-server")
        url = f"rediss://127.0.0.1:{port}/0"
        files = {"tls_ca_file": str(cert), "tls_cert_file": str(cert), "tls_key_file": str(key)}
        topic = f"{SESSION_PREFIX}tls-{uuid.uuid4().hex[:8]}"
        with brokerkit.connect(url, connect_timeout=5, **files) as broker:  # type: ignore[arg-type]
            consumer = broker.consumer(topic, group="g")
            with broker.producer(topic) as producer:
                producer.send(b"over tls", wait=True)
            msg = consumer.receive(timeout=5)
            assert msg is not None
            assert msg.value == b"over tls"
            msg.ack()
            consumer.close()
        # no client certificate: the server ends the handshake
        with pytest.raises(brokerkit.BrokerConnectionError, match=str(port)):
            brokerkit.connect(url, connect_timeout=5, tls_ca_file=str(cert)).close()
        # the system's CAs do not know this certificate
        with pytest.raises(brokerkit.BrokerConnectionError, match=str(port)):
            brokerkit.connect(
                url, connect_timeout=5, tls_cert_file=str(cert), tls_key_file=str(key)
            ).close()
        with pytest.raises(brokerkit.ConfigurationError, match="cannot load the TLS files"):
            brokerkit.connect(url, tls_ca_file=str(tmp_path / "missing.pem")).close()
        with pytest.raises(brokerkit.ConfigurationError, match="applies to rediss://"):
            brokerkit.connect(f"redis://127.0.0.1:{port}/0", tls_ca_file=str(cert)).close()
    finally:
        proc.kill()
        proc.wait()
