"""Kafka-specific behaviour of the kafka:// backend, against Tansu (a Kafka-protocol broker
the tests start themselves, see CONTRIBUTING/DEVELOPERS) or the cluster named by
``BROKERKIT_TEST_KAFKA_URL``.

These tests open the driver directly (the seam: publish/wait, fetch/settle) and play the
core's part with its own OffsetTracker, so they pin the driver's contract. Tests that cut
connections start their own Tansu behind a loopback proxy (never a restart: Tansu here
keeps its log in memory).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tcp_faults import Link, SilentServer

import brokerkit
from brokerkit._options import COMMON_OPTIONS
from brokerkit._policy.acks import OffsetTracker
from brokerkit._spec import ConsumerConfig, ProducerConfig
from brokerkit._types import Commit, Delivery, Guarantee
from brokerkit._url import make_url
from brokerkit.testing import SESSION_PREFIX

ck = pytest.importorskip("confluent_kafka")

from brokerkit.backends.kafka import KAFKA, spec  # noqa: E402
from brokerkit.backends.kafka._async.driver import AsyncKafkaDriver  # noqa: E402
from brokerkit.backends.kafka._sync.driver import SyncKafkaDriver  # noqa: E402
from brokerkit.backends.kafka._tansu import ENV_URL, tansu  # noqa: E402

pytestmark = pytest.mark.kafka

#: Small broker-level timeouts keep the failure tests short.
FAST = "session_timeout=2&request_timeout=3&connect_timeout=3&delivery_timeout=20"


def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a skipped backend is a failed run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_url() -> Iterator[str]:
    """The session's Kafka: BROKERKIT_TEST_KAFKA_URL, else a Tansu started here."""
    env = os.environ.get(ENV_URL)
    if env:
        yield env
        return
    try:
        with spec_setup() as url:
            assert url is not None
            yield url
    except FileNotFoundError as exc:
        _unreachable(str(exc))


def spec_setup() -> Any:
    from brokerkit._spec import resolve_object

    return resolve_object(spec.test_setup)("kafka")


def _options(url: str, **overrides: Any) -> tuple[Any, dict[str, Any]]:
    parsed = make_url(url)
    query = parsed.query_dict
    opts = COMMON_OPTIONS.extend(*spec.options).resolve(query, overrides, context="kafka")
    return parsed, opts


def sync_driver(url: str, **overrides: Any) -> SyncKafkaDriver:
    parsed, opts = _options(url, **overrides)
    driver = SyncKafkaDriver(parsed, opts, KAFKA)
    driver.connect(opts["connect_timeout"])
    return driver


async def async_driver(url: str, **overrides: Any) -> AsyncKafkaDriver:
    parsed, opts = _options(url, **overrides)
    driver = AsyncKafkaDriver(parsed, opts, KAFKA)
    await driver.connect(opts["connect_timeout"])
    return driver


def with_query(url: str, query: str) -> str:
    """``url`` with the options of ``query`` set (replacing the URL's own)."""
    base, _, own = url.partition("?")
    items = dict(item.partition("=")[::2] for item in own.split("&") if item)
    items.update(item.partition("=")[::2] for item in query.split("&"))
    return base + "?" + "&".join(f"{k}={v}" for k, v in items.items())


@pytest.fixture
def topic() -> str:
    return f"{SESSION_PREFIX}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def group() -> str:
    """A group name of this test's own (a group shared between tests would see the
    others' members come and go)."""
    return f"{SESSION_PREFIX}g-{uuid.uuid4().hex[:8]}"


def records(n: int, start: int = 0, keys: int = 0) -> list[Any]:
    return [
        (f"m{i}".encode(), f"k{i % keys}".encode() if keys else None, {"n": str(i)})
        for i in range(start, start + n)
    ]


class Member:
    """Plays the core's consumer part for one driver consumer: an OffsetTracker, acking
    what it fetched, settling positions."""

    def __init__(self, drv: Any, topic: str, group: str | None, **config: Any) -> None:
        self.offsets = OffsetTracker()
        self.consumer = drv.open_consumer(
            topic, group, ConsumerConfig(offsets=self.offsets, **config)
        )
        self.seen: list[Any] = []

    def take(self, n: int, timeout: float) -> list[Any]:
        got = [Delivery._make(d) for d in self.consumer.fetch(n, timeout)]
        for d in got:
            self.offsets.delivered(*d.token)
        self.seen.extend(got)
        return got

    def ack(self, deliveries: list[Any], wait: bool = True) -> None:
        for d in deliveries:
            self.offsets.ack(*d.token)
        self.consumer.settle(list(self.offsets.positions().items()), (), wait)


def drain(member: Member, want: int, timeout: float = 30.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        batch = member.take(want - len(got), 1.0)
        member.ack(batch)
        got.extend(batch)
    return got


# -- registration, options, capabilities (no broker needed) --------------------------


def test_registered_by_its_spec_alone() -> None:
    assert "kafka" in brokerkit.available()
    from brokerkit._registry import PLANNED_BACKENDS, get_backend

    assert get_backend("kafka") is spec
    assert "kafka" not in PLANNED_BACKENDS
    assert spec.capabilities(make_url("kafka://h:1"), {}) == KAFKA
    assert KAFKA.cumulative_ack
    assert not KAFKA.nack_delay
    assert not KAFKA.native_dead_letter


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(brokerkit.ConfigurationError, match="partitions"):
        _options("kafka://h:1?partitions=zero")
    with pytest.raises(brokerkit.ConfigurationError, match="sasl_mechanism"):
        _options("kafka://h:1?sasl_mechanism=GSSAPI")
    parsed, opts = _options("kafka://h:1", client_options={"enable.auto.commit": True})
    with pytest.raises(brokerkit.ConfigurationError, match=r"enable\.auto\.commit"):
        SyncKafkaDriver(parsed, opts, KAFKA)


def test_unknown_librdkafka_setting_is_a_configuration_error(kafka_url: str) -> None:
    parsed, opts = _options(kafka_url, client_options={"no.such.setting": 1})
    with pytest.raises(brokerkit.ConfigurationError, match=r"no\.such\.setting"):
        SyncKafkaDriver(parsed, opts, KAFKA).connect(3)


# -- producing and consuming ------------------------------------------------------------


def test_round_trip_keys_headers_order_sync(group: str, kafka_url: str, topic: str) -> None:
    drv = sync_driver(kafka_url)
    try:
        producer = drv.open_producer(topic, ProducerConfig())
        handles = [producer.publish(records(500, i, keys=5), 5) for i in range(0, 2000, 500)]
        assert all(producer.wait(h, 10) is None for h in handles)
        member = Member(drv, topic, group)
        got = drain(member, 2000)
        assert sorted(int(d.value[1:]) for d in got) == list(range(2000))
        per_key: dict[bytes, list[int]] = {}
        for d in got:
            assert d.headers == {"n": d.value[1:].decode()}
            assert d.delivery_count == 1
            assert d.timestamp is not None
            assert d.id == f"{d.token[0]}:{d.token[1]}"
            per_key.setdefault(d.key, []).append(int(d.value[1:]))
        assert all(v == sorted(v) for v in per_key.values()), "order per key"
        member.consumer.close(5)
        producer.close(5)
    finally:
        drv.close()


async def test_round_trip_async_and_committed_offsets(
    group: str, kafka_url: str, topic: str
) -> None:
    drv = await async_driver(kafka_url)
    try:
        producer = await drv.open_producer(topic, ProducerConfig())
        handle = await producer.publish(records(1000, keys=3), 5)
        assert await producer.wait(handle, 10) is None
        offsets = OffsetTracker()
        consumer = await drv.open_consumer(topic, group, ConsumerConfig(offsets=offsets))
        got: list[Any] = []
        while len(got) < 1000:
            batch = [Delivery._make(d) for d in await consumer.fetch(256, 5)]
            assert batch, "messages stopped coming"
            for d in batch:
                offsets.delivered(*d.token)
                offsets.ack(*d.token)
            await consumer.settle(list(offsets.positions().items()), (), False)
            got.extend(batch)
        await consumer.settle(list(offsets.positions().items()), (), True)
        assert len({d.value for d in got}) == 1000
        await consumer.close(5)
        # a new member of the group has nothing left: every offset was committed
        again = await drv.open_consumer(topic, group, ConsumerConfig(offsets=OffsetTracker()))
        assert await again.fetch(10, 4) == []
        await again.close(5)
        await producer.close(5)
    finally:
        await drv.close()


def test_at_most_once_producer_and_consumer(group: str, kafka_url: str, topic: str) -> None:
    drv = sync_driver(kafka_url)
    try:
        producer = drv.open_producer(topic, ProducerConfig(guarantee=Guarantee.AT_MOST_ONCE))
        assert producer.publish(records(20), 5) is None
        producer.close(5)
        consumer = drv.open_consumer(topic, group, ConsumerConfig(guarantee=Guarantee.AT_MOST_ONCE))
        got: list[Any] = []
        deadline = time.monotonic() + 20
        while len(got) < 20 and time.monotonic() < deadline:
            got.extend(consumer.fetch(20, 1))
        assert len(got) == 20
        consumer.close(5)  # nothing acked, yet nothing comes again: committed on fetch
        again = drv.open_consumer(topic, group, ConsumerConfig(guarantee=Guarantee.AT_MOST_ONCE))
        assert again.fetch(10, 4) == []
        again.close(5)
    finally:
        drv.close()


def test_commit_never_passes_an_unacked_message(group: str, kafka_url: str, topic: str) -> None:
    """Acks out of order: the committed offset stops at the first unacked message, and a
    new member of the group starts there (and gets everything after it too)."""
    drv = sync_driver(with_query(kafka_url, "partitions=1"))
    try:
        producer = drv.open_producer(topic, ProducerConfig())
        assert producer.wait(producer.publish(records(10), 5), 10) is None
        first = Member(drv, topic, group, commit=Commit.SYNC)
        got: list[Any] = []
        while len(got) < 10:
            got.extend(first.take(10 - len(got), 5))
        first.ack([d for d in got if d.token[1] != 3][::-1])  # all but offset 3, reversed
        first.consumer.close(5)
        second = Member(drv, topic, group)
        again = drain(second, 7)
        assert [d.token[1] for d in again] == list(range(3, 10))
        second.consumer.close(5)
        producer.close(5)
    finally:
        drv.close()


def test_nack_redelivers_it_and_the_later_ones_with_counts(
    group: str, kafka_url: str, topic: str
) -> None:
    drv = sync_driver(with_query(kafka_url, "partitions=1"))
    try:
        producer = drv.open_producer(topic, ProducerConfig())
        assert producer.wait(producer.publish(records(5), 5), 10) is None
        member = Member(drv, topic, group)
        got: list[Any] = []
        while len(got) < 5:
            got.extend(member.take(5 - len(got), 5))
        member.ack(got[:2])
        member.consumer.settle([], [(got[2].token, None)], True)
        again: list[Any] = []
        deadline = time.monotonic() + 10
        while len(again) < 3 and time.monotonic() < deadline:
            again.extend(Delivery._make(d) for d in member.consumer.fetch(10, 1))
        assert [d.token[1] for d in again] == [2, 3, 4]
        assert [d.delivery_count for d in again] == [2, 2, 2]
        assert again[0].value == got[2].value
        member.consumer.close(5)
        producer.close(5)
    finally:
        drv.close()


async def test_refused_message_is_reported_per_record(kafka_url: str, topic: str) -> None:
    drv = await async_driver(kafka_url, client_options={"message.max.bytes": 2000})
    try:
        producer = await drv.open_producer(topic, ProducerConfig())
        batch = [(b"ok-1", None, None), (b"x" * 5000, None, None), (b"ok-2", None, None)]
        outcomes = await producer.wait(await producer.publish(batch, 5), 10)
        assert outcomes is not None
        assert outcomes[0] is None
        assert outcomes[2] is None
        assert isinstance(outcomes[1], brokerkit.DeliveryError)
        assert "too large" in str(outcomes[1]).lower()
        assert producer.max_message_bytes == 2000
        await producer.close(5)
    finally:
        await drv.close()


# -- connection errors, silent brokers, credentials --------------------------------------


def test_nothing_listening_is_a_connection_error_naming_host_and_port() -> None:
    with SilentServer() as silent:
        port = silent.port
    with pytest.raises(brokerkit.BrokerConnectionError, match=f"127.0.0.1:{port}"):
        sync_driver(f"kafka://127.0.0.1:{port}?{FAST}", connect_timeout=2)


async def test_silent_broker_connect_fails_within_connect_timeout() -> None:
    with SilentServer() as silent:
        start = time.monotonic()
        with pytest.raises(brokerkit.BrokerConnectionError, match=str(silent.port)):
            await async_driver(f"kafka://127.0.0.1:{silent.port}?{FAST}", connect_timeout=2)
        assert time.monotonic() - start < 2 + 2.5  # the timeout, plus slack for a busy box


def test_bad_credentials_are_a_connection_error_without_the_password() -> None:
    """Tansu with --authentication and no users: every login is refused."""
    import subprocess

    from brokerkit.backends.kafka._tansu import binary, free_port

    port = free_port()
    proc = subprocess.Popen(
        [binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{port}",
         "--advertised-listener-url", f"tcp://127.0.0.1:{port}", "--authentication"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        url = f"kafka://alice:Sup3rSecret@127.0.0.1:{port}?sasl_mechanism=SCRAM-SHA-512&{FAST}"
        with pytest.raises(brokerkit.BrokerConnectionError) as info:
            sync_driver(url, connect_timeout=3)
        text = str(info.value) + repr(info.value) + str(info.value.__cause__)
        assert "rejected the credentials" in str(info.value)
        assert f"127.0.0.1:{port}" in str(info.value)
        assert "Sup3rSecret" not in text
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def proxied() -> Iterator[tuple[str, Link]]:
    """A private Tansu whose advertised listener is a loopback proxy the test can cut."""
    from brokerkit.backends.kafka._tansu import free_port

    port = free_port()
    with Link(("127.0.0.1", port)) as link, tansu(port=port, advertised_port=link.port):
        yield f"kafka://127.0.0.1:{link.port}?{FAST}", link


def test_silent_broker_after_connect_every_timeout_is_kept(
    group: str, proxied: tuple[str, Link], topic: str
) -> None:
    url, link = proxied
    drv = sync_driver(url)
    try:
        producer = drv.open_producer(topic, ProducerConfig())
        assert producer.wait(producer.publish(records(5), 5), 10) is None
        member = Member(drv, topic, group, commit=Commit.SYNC)
        got = drain(member, 5, timeout=20)
        assert len(got) == 5
        link.drop_replies()  # every open connection goes silent
        handle = producer.publish(records(5, 5), 1)
        start = time.monotonic()
        with pytest.raises(brokerkit.TimeoutError):
            producer.wait(handle, 1.0)
        assert time.monotonic() - start < 3
        start = time.monotonic()
        assert member.consumer.fetch(10, 1.0) == []
        assert time.monotonic() - start < 3
        start = time.monotonic()
        member.consumer.close(2)
        producer.close(2)
        assert time.monotonic() - start < 2 * 2 + 3
    finally:
        drv.close()


# -- connection loss and rebalances ----------------------------------------------------


def test_connection_loss_mid_stream_recovers(
    group: str, proxied: tuple[str, Link], topic: str
) -> None:
    """Cut every client connection three times while a producer sends and a consumer acks:
    both recover by themselves; every confirmed message arrives; nothing acked is lost."""
    url, link = proxied
    drv = sync_driver(url)
    total = 3000
    try:
        producer = drv.open_producer(topic, ProducerConfig())
        member = Member(drv, topic, group, commit=Commit.SYNC)
        confirmed: set[bytes] = set()
        received: set[bytes] = set()
        errors: list[BaseException] = []

        def produce() -> None:
            try:
                for start in range(0, total, 100):
                    batch = records(100, start)
                    outcomes = producer.wait(producer.publish(batch, 10), 30)
                    for i, rec in enumerate(batch):
                        if outcomes is None or outcomes[i] is None:
                            confirmed.add(rec[0])
                    time.sleep(0.01)
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        thread = threading.Thread(target=produce)
        thread.start()
        cuts = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                got = member.take(500, 0.5)
                member.ack(got)
            except (brokerkit.BrokerConnectionError, brokerkit.TimeoutError):
                continue  # a commit cut in flight: its messages may come again
            received.update(d.value for d in got)
            if cuts < 3 and len(received) > (cuts + 1) * total // 4:
                cuts += 1
                assert link.cut() > 0
            if not thread.is_alive() and confirmed <= received:
                break
        thread.join(30)
        assert not errors, errors
        assert cuts == 3
        assert len(confirmed) == total
        assert confirmed <= received
        member.consumer.close(5)
        producer.close(5)
        # nothing acked is lost, nothing unacked was committed past: a new member of the
        # group finds nothing left.
        again = Member(drv, topic, group)
        assert again.take(10, 3) == []
        again.consumer.close(5)
    finally:
        drv.close()


async def test_two_members_join_and_leave_mid_stream(
    group: str, kafka_url: str, topic: str
) -> None:
    """A second member joins, then the first leaves, while messages flow: every message is
    delivered (nothing skipped) and the group's committed offsets end at the log's end
    (no acked message lost)."""
    drv = await async_driver(with_query(kafka_url, "partitions=4"))
    total = 4000
    try:
        producer = await drv.open_producer(topic, ProducerConfig())
        seen: dict[str, set[bytes]] = {"a": set(), "b": set()}

        async def member(name: str, stop: asyncio.Event) -> None:
            offsets = OffsetTracker()
            consumer = await drv.open_consumer(topic, group, ConsumerConfig(offsets=offsets))
            try:
                while not stop.is_set():
                    batch = [Delivery._make(d) for d in await consumer.fetch(100, 0.2)]
                    for d in batch:
                        offsets.delivered(*d.token)
                        offsets.ack(*d.token)
                        seen[name].add(d.value)
                    await consumer.settle(list(offsets.positions().items()), (), False)
                await consumer.settle(list(offsets.positions().items()), (), True)
            finally:
                await consumer.close(10)

        stop_a, stop_b = asyncio.Event(), asyncio.Event()
        task_a = asyncio.create_task(member("a", stop_a))
        task_b = None
        for start in range(0, total, 100):
            assert await producer.wait(await producer.publish(records(100, start), 5), 10) is None
            if start == total // 4:
                task_b = asyncio.create_task(member("b", stop_b))
            if start == total // 2:
                await asyncio.sleep(3)  # let b take its share
                stop_a.set()
                await task_a
            await asyncio.sleep(0.02)
        assert task_b is not None
        want = {f"m{i}".encode() for i in range(total)}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not want <= seen["a"] | seen["b"]:
            await asyncio.sleep(0.2)
        stop_b.set()
        await task_b
        assert want <= seen["a"] | seen["b"], len(want - (seen["a"] | seen["b"]))
        assert seen["a"], "both members had a share"
        assert seen["b"], "both members had a share"
        consumer = await drv.open_consumer(topic, group, ConsumerConfig(offsets=OffsetTracker()))
        assert await consumer.fetch(10, 4) == [], "the group's offsets are at the end"
        await consumer.close(5)
        await producer.close(5)
    finally:
        await drv.close()


async def test_rebalance_mid_stream_through_the_api_drops_what_was_prefetched(
    caplog: pytest.LogCaptureFixture, group: str, kafka_url: str, topic: str
) -> None:
    """Members join and leave a group while messages flow, through the public API, each
    acking what it receives. Fetches are one message each (prefetch_bytes=1), so a
    receive_many() may hold fetched messages not yet handed out when a rebalance takes
    their partition away. Every message is handed out (nothing skipped), and exactly once: the
    revoked member's prefetched messages were dropped (never handed out after the
    revocation; the next owner got them), and what was acked was committed on revocation
    (the next owner resumed right after it); no member hands out a message of a partition
    it does not own. The group's committed offsets end at the log's end."""
    caplog.set_level(logging.DEBUG, logger="brokerkit")
    url = with_query(kafka_url, "partitions=4")
    total = 4000  # sent first; more while the members come and go
    sent = [0]
    enough = asyncio.Event()
    handed: dict[str, list[bytes]] = {}
    foreign: list[tuple[str, str]] = []
    async with brokerkit.connect_async(url) as broker:
        producer = await broker.producer(topic)

        async def member(name: str, stop: asyncio.Event) -> None:
            got = handed.setdefault(name, [])
            async with broker.consumer(topic, group, prefetch_bytes=1) as consumer:
                drv: Any = consumer._drv
                while not stop.is_set():
                    for msg in await consumer.receive_many(50, timeout=0.2):
                        if int(msg.id.partition(":")[0]) not in drv._assigned:
                            foreign.append((name, msg.id))
                        got.append(msg.value)
                        await msg.ack()
                        await asyncio.sleep(0.001)  # slower than the producer: a backlog

        async def produce() -> None:
            while not enough.is_set():
                start = sent[0]
                await producer.send_many(f"m{i}".encode() for i in range(start, start + 50))
                await producer.flush()
                sent[0] += 50
                await asyncio.sleep(0.03)

        async def share(name: str) -> None:
            """Wait until ``name`` has joined (the rebalance is over): it hands out."""
            deadline = time.monotonic() + 30
            while not handed.get(name) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

        # A backlog first, so that librdkafka's queue holds messages whenever the group
        # rebalances: the revocation then comes in the middle of a receive_many().
        await producer.send_many(f"m{i}".encode() for i in range(total))
        await producer.flush()
        sent[0] = total
        stops = {name: asyncio.Event() for name in ("a", "b", "c")}
        sending = asyncio.create_task(produce())
        tasks = {"a": asyncio.create_task(member("a", stops["a"]))}
        await share("a")
        tasks["b"] = asyncio.create_task(member("b", stops["b"]))  # a -> a + b
        await share("b")
        stops["a"].set()  # a leaves mid-stream: b takes everything
        await tasks["a"]
        tasks["c"] = asyncio.create_task(member("c", stops["c"]))  # b -> b + c
        await share("c")

        def dropped() -> list[logging.LogRecord]:
            return [r for r in caplog.records if "prefetched message(s) dropped" in r.message]

        for extra in range(3):  # until a rebalance met a fetch holding messages (timing)
            if dropped():
                break
            name = f"d{extra}"
            stops[name] = asyncio.Event()
            tasks[name] = asyncio.create_task(member(name, stops[name]))
            await share(name)
            stops[name].set()
            await tasks[name]
        enough.set()
        await sending
        want = {f"m{i}".encode() for i in range(sent[0])}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not want <= set().union(*handed.values()):
            await asyncio.sleep(0.2)
        for name in ("b", "c"):
            stops[name].set()
            await tasks[name]
        assert all(task.done() for task in tasks.values())
        everything = [v for got in handed.values() for v in got]
        assert want <= set(everything), f"{len(want - set(everything))} message(s) skipped"
        for name, got in handed.items():
            assert len(got) == len(set(got)), f"{name} handed out a message twice"
        assert len(everything) == len(set(everything)), "a message went to two members"
        assert not foreign, f"handed out from a partition the member did not own: {foreign}"
        assert all(handed.values()), "every member had a share"
        # Whether a rebalance met a fetch holding messages is timing (librdkafka serves
        # the revocation mostly in a fetch that holds none yet); the next test makes it so.
        async with broker.consumer(topic, group) as consumer:
            assert await consumer.receive(timeout=4.0) is None, "the offsets are at the end"
        await producer.close()


async def test_revocation_drops_the_prefetched_messages_and_commits_the_acked(
    group: str, kafka_url: str, topic: str
) -> None:
    """The driver's rebalance callback, called as librdkafka calls it when the group takes
    a partition away while the consumer holds prefetched messages of it: the core drops
    them (the old owner never hands them out after the revocation), and the offset
    committed for the partition is the first message not acked, so the next owner
    resumes there (nothing skipped, nothing acked comes again)."""
    url = with_query(kafka_url, "partitions=1")
    async with brokerkit.connect_async(url) as broker:
        async with broker.producer(topic) as producer:
            await producer.send_many(f"m{i}".encode() for i in range(300))
        consumer = await broker.consumer(topic, group, commit="async")
        got = [await consumer.receive(timeout=30.0) for _ in range(5)]
        assert all(m is not None for m in got)
        for msg in got[:3]:
            assert msg is not None
            await msg.ack()  # acked 0..2; 3 and 4 handed out, not acked
        assert consumer._buf, "the rest of the fetch is prefetched"
        drv: Any = consumer._drv

        def revoke() -> None:  # what librdkafka does in a rebalance: the callback, then
            drv._on_revoke(drv._consumer, [ck.TopicPartition(topic, 0)])
            drv._consumer.unassign()  # the unassign confluent-kafka does after it

        await asyncio.get_running_loop().run_in_executor(drv._pool, revoke)
        # nothing of the revoked partition is handed out any more by this member
        assert await consumer.receive(timeout=0.5) is None
        assert not consumer._buf
        committed = drv._consumer.committed([ck.TopicPartition(topic, 0)], timeout=10)
        assert committed[0].offset == 3, "the first message not acked"
        await consumer.close()
        async with broker.consumer(topic, group) as again:
            msg = await again.receive(timeout=30.0)
            assert msg is not None
            assert msg.value == b"m3", "the next owner resumes at the first message not acked"


async def test_lost_deliveries_are_reported_per_record(
    proxied: tuple[str, Link], topic: str
) -> None:
    """The broker stops answering: after delivery_timeout every record of the batch is
    reported refused (DeliveryError), each at its own index, none as stored."""
    url, link = proxied
    drv = await async_driver(url, delivery_timeout=1.5)
    try:
        producer = await drv.open_producer(topic, ProducerConfig())
        assert await producer.wait(await producer.publish(records(3), 5), 10) is None
        link.drop_replies()
        batch = [(b"same", b"k", None), (b"other", None, {"h": "v"}), (b"same", b"k", None)]
        outcomes = await producer.wait(await producer.publish(batch, 5), 20)
        assert outcomes is not None
        assert len(outcomes) == 3
        assert all(isinstance(o, brokerkit.DeliveryError) for o in outcomes), outcomes
        assert "timed out" in str(outcomes[0]).lower()
        await producer.close(1)
    finally:
        await drv.close()


def test_close_from_another_thread_ends_a_blocked_fetch(
    group: str, kafka_url: str, topic: str
) -> None:
    """Sync API: a fetch without deadline in one thread, close() in another: the fetch
    returns (within a poll slice) and the client is released after it, not under it."""
    drv = sync_driver(kafka_url)
    try:
        consumer = drv.open_consumer(topic, group, ConsumerConfig(offsets=OffsetTracker()))
        got: list[Any] = []
        thread = threading.Thread(target=lambda: got.append(consumer.fetch(10, None)))
        thread.start()
        time.sleep(0.5)
        consumer.close(5)
        thread.join(5)
        assert not thread.is_alive()
        assert got == [[]]
        with pytest.raises(brokerkit.ClosedError):
            consumer.fetch(1, 0.1)
    finally:
        drv.close()


def test_session_cleanup_deletes_the_prefixed_topics(kafka_url: str) -> None:
    from brokerkit.backends.kafka._tansu import cleanup

    prefix = f"{SESSION_PREFIX}cleanup-{uuid.uuid4().hex[:6]}-"
    drv = sync_driver(kafka_url)
    try:
        for name in ("a", "b"):
            producer = drv.open_producer(prefix + name, ProducerConfig())
            assert producer.wait(producer.publish(records(1), 5), 10) is None
            producer.close(5)
    finally:
        drv.close()
    cleanup(kafka_url, prefix)
    admin = ck.admin.AdminClient({"bootstrap.servers": make_url(kafka_url).endpoints()[0]})
    assert not [t for t in admin.list_topics(timeout=5).topics if t.startswith(prefix)]


def test_client_options_reach_librdkafka(group: str, kafka_url: str, topic: str) -> None:
    """Any librdkafka setting passes through (here: lz4 compression on the producer, a
    client.id the broker sees), and messages still round-trip."""
    drv = sync_driver(
        kafka_url, client_options={"compression.type": "lz4", "client.id": "bk-test-client"}
    )
    try:
        producer = drv.open_producer(topic, ProducerConfig())
        assert producer.wait(producer.publish(records(50), 5), 10) is None
        member = Member(drv, topic, group)
        assert sorted(d.value for d in drain(member, 50)) == sorted(v for v, _, _ in records(50))
        member.consumer.close(5)
        producer.close(5)
    finally:
        drv.close()


@pytest.mark.parametrize("api", ["sync", "async"])
def test_connection_loss_through_the_api(
    api: str, group: str, proxied: tuple[str, Link], topic: str
) -> None:
    """The same through brokerkit's API: a producer sending in batches and a consumer
    acking (SYNC commits) while every client connection is cut three times. Every
    message whose send_many()+flush() returned is received; after the consumer closes,
    a new member of the group finds nothing left (no acked message lost)."""
    url, link = proxied
    total = 2000
    confirmed: set[bytes] = set()
    received: set[bytes] = set()
    errors: list[BaseException] = []

    def produce(broker: Any) -> None:
        try:
            with broker.producer(topic) as producer:
                for start in range(0, total, 100):
                    batch = [b"m%d" % i for i in range(start, start + 100)]
                    try:
                        producer.send_many(batch)
                        producer.flush()
                    except brokerkit.BrokerError:
                        continue  # not confirmed: not counted
                    confirmed.update(batch)
                    time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    def consume(broker: Any) -> int:
        cuts = 0
        with broker.consumer(topic, group=group, commit="sync", commit_every=50) as consumer:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    for msg in consumer.receive_many(max_messages=200, timeout=0.5):
                        received.add(msg.value)
                        msg.ack()
                except (brokerkit.BrokerConnectionError, brokerkit.TimeoutError):
                    continue
                if cuts < 3 and len(received) > (cuts + 1) * total // 4:
                    cuts += 1
                    link.cut()
                if not thread.is_alive() and confirmed <= received:
                    break
        return cuts

    with brokerkit.connect(url) as broker:
        if api == "async":
            # the async API's producer on its own loop, the consumer through the sync API
            def produce_async() -> None:
                async def run() -> None:
                    async with (
                        brokerkit.connect_async(url) as abroker,
                        abroker.producer(topic) as producer,
                    ):
                        for start in range(0, total, 100):
                            batch = [b"m%d" % i for i in range(start, start + 100)]
                            try:
                                await producer.send_many(batch)
                                await producer.flush()
                            except brokerkit.BrokerError:
                                continue
                            confirmed.update(batch)
                            await asyncio.sleep(0.01)

                try:
                    asyncio.run(run())
                except BaseException as exc:
                    errors.append(exc)

            thread = threading.Thread(target=produce_async)
        else:
            thread = threading.Thread(target=produce, args=(broker,))
        thread.start()
        cuts = consume(broker)
        thread.join(60)
        assert not errors, errors
        assert cuts == 3
        assert len(confirmed) >= total * 0.9, "sends kept failing after the cuts"
        assert confirmed <= received, f"lost: {len(confirmed - received)}"
        with broker.consumer(topic, group=group) as again:
            assert again.receive(timeout=3.0) is None, "an acked message came back"


def test_tls_options_are_the_shared_ones(tmp_path: Any) -> None:
    """tls_ca_file / tls_cert_file / tls_key_file / tls_verify, spelled as on every other
    backend, become librdkafka's ssl.* settings with tls=true; without it they are refused,
    and files that cannot be read are said at once."""
    from brokerkit.backends.kafka._common import ErrorMapper, base_config

    ca = tmp_path / "ca.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(tmp_path / "key.pem"), "-out", str(ca), "-subj", "/CN=test-ca"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    parsed, opts = _options("kafka://broker:9093?tls=true", tls_ca_file=str(ca), tls_verify=False)
    conf = base_config(parsed, opts, ErrorMapper("broker:9093", None))
    assert conf["security.protocol"] == "SSL"
    assert conf["ssl.ca.location"] == str(ca)
    assert conf["enable.ssl.certificate.verification"] is False
    assert conf["ssl.endpoint.identification.algorithm"] == "none"
    parsed, opts = _options("kafka://broker:9093", tls_ca_file=str(ca))
    with pytest.raises(brokerkit.ConfigurationError, match="applies with tls=true only"):
        base_config(parsed, opts, ErrorMapper("broker:9093", None))
    parsed, opts = _options("kafka://broker:9093?tls=true", tls_ca_file=str(tmp_path / "no.pem"))
    with pytest.raises(brokerkit.ConfigurationError, match="cannot load the TLS files"):
        base_config(parsed, opts, ErrorMapper("broker:9093", None))


def test_producers_connect_to_every_broker_at_once_unless_told() -> None:
    """A producer connects to the brokers it learns at once (an idempotent producer then
    finds one up when it first asks for its id, instead of waiting for librdkafka's 500 ms
    retry timer); client_options can turn sparse connections back on."""
    from brokerkit.backends.kafka._common import ErrorMapper, base_config, producer_config

    for guarantee in Guarantee:
        parsed, opts = _options("kafka://broker:9092")
        base = base_config(parsed, opts, ErrorMapper("broker:9092", None))
        assert producer_config(base, opts, guarantee)["enable.sparse.connections"] is False
    parsed, opts = _options(
        "kafka://broker:9092", client_options={"enable.sparse.connections": True}
    )
    base = base_config(parsed, opts, ErrorMapper("broker:9092", None))
    conf = producer_config(base, opts, Guarantee.AT_LEAST_ONCE)
    assert conf["enable.sparse.connections"] is True
