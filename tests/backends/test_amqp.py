"""RabbitMQ-specific behaviour of the amqp:// backend, against the real broker.

Driver-level: the driver is opened directly (publish/wait, fetch/settle), as the core
will. The shared broker on 127.0.0.1:5672 (guest/guest) is used; the tests that cut a
connection cut only their own (found by its client-provided connection name), and a
broker that stops answering is simulated by the loopback proxy in tcp_faults.py.
Unreachable RabbitMQ: skip on a laptop, fail with CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tcp_faults import Link, SilentServer, free_port

import brokerkit
from brokerkit._async.driver import Delivery
from brokerkit._options import COMMON_OPTIONS, CONSUMER_OPTIONS, PRODUCER_OPTIONS
from brokerkit._registry import get_backend
from brokerkit._spec import ConsumerConfig, ProducerConfig, resolve_object
from brokerkit.backends.amqp._testing import cleanup
from brokerkit.backends.amqp.driver import (
    AsyncAmqpConsumer,
    AsyncAmqpDriver,
    AsyncAmqpProducer,
)
from brokerkit.backends.toolkit import SettleLostError
from brokerkit.testing import SESSION_PREFIX

aio_pika = pytest.importorskip("aio_pika")

pytestmark = pytest.mark.amqp

URL = os.environ.get("BROKERKIT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
HOST, PORT = "127.0.0.1", 5672


def _unreachable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a skipped backend is a failed run)")
    pytest.skip(reason)


def _reachable() -> bool:
    try:
        socket.create_connection((HOST, PORT), 2).close()
    except OSError:
        return False
    return True


@pytest.fixture(autouse=True)
def _need_broker() -> None:
    if not _reachable():
        _unreachable(f"no RabbitMQ at {HOST}:{PORT}")


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    """At the end, delete the exchanges and queues these tests made (SESSION_PREFIX)."""
    yield
    if _reachable():
        cleanup(URL, SESSION_PREFIX)


def _name(what: str = "t") -> str:
    return f"{SESSION_PREFIX}-amqp-{what}-{uuid.uuid4().hex[:8]}"


def _driver(url: str = URL, **options: Any) -> AsyncAmqpDriver:
    spec = get_backend("amqp")
    parsed = brokerkit.make_url(url)
    schema = COMMON_OPTIONS.extend(*spec.options)
    opts = schema.resolve(parsed.query_dict, options, context="amqp")
    caps = spec.capabilities(parsed, opts)
    driver: AsyncAmqpDriver = resolve_object(spec.async_driver)(parsed.without_query(), opts, caps)
    return driver


def _pconfig(guarantee: str = "at-least-once", **options: Any) -> ProducerConfig:
    spec = get_backend("amqp")
    opts = PRODUCER_OPTIONS.extend(*spec.producer_options).resolve(
        {}, {"guarantee": guarantee, **options}, context="amqp producer"
    )
    g = opts.pop("guarantee")
    return ProducerConfig(guarantee=g, options={k: v for k, v in opts.items() if v is not None})


def _cconfig(
    guarantee: str = "at-least-once", prefetch: int = 64, **options: Any
) -> ConsumerConfig:
    spec = get_backend("amqp")
    opts = CONSUMER_OPTIONS.extend(*spec.consumer_options).resolve(
        {}, {"guarantee": guarantee, **options}, context="amqp consumer"
    )
    backend = {k: opts[k] for k in opts if k in spec.consumer_options}
    return ConsumerConfig(guarantee=opts["guarantee"], prefetch=prefetch, options=backend)


@pytest.fixture
async def driver() -> AsyncIterator[AsyncAmqpDriver]:
    drv = _driver(client_id=_name("conn"), request_timeout=5, reconnect_interval=0.2)
    await drv.connect(5)
    try:
        yield drv
    finally:
        await drv.close()


@pytest.fixture
async def raw() -> AsyncIterator[Any]:
    """A plain aio-pika channel, for looking behind brokerkit's back."""
    connection = await aio_pika.connect(URL, timeout=5)
    try:
        yield await connection.channel()
    finally:
        await connection.close()


class PrivateNode:
    """A RabbitMQ node of this test session alone (own node name, ports and data), for
    stop_app/start_app and a TLS listener; the shared broker is never touched."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.name = f"bk{os.getpid()}amqp@localhost"
        self.port = free_port()
        self.tls_port = free_port()
        self.dist_port = free_port()
        self.ca_file = base / "ca.pem"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.tls_url = f"amqps://guest:guest@localhost:{self.tls_port}/"

    def _certificates(self) -> None:
        b = self.base

        def run(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=b, check=True, capture_output=True, timeout=60)

        run(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=brokerkit-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        )
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        )
        (b / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        run(
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        )

        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=brokerkit-client",
            "-keyout", "client.key", "-out", "client.csr")  # fmt: skip
        run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "client.pem")  # fmt: skip

    def start(self, timeout: float = 60) -> None:
        b = self.base
        (b / "mnesia").mkdir()
        (b / "log").mkdir()
        self._certificates()
        (b / "enabled_plugins").write_text("[].\n")
        (b / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            f"listeners.ssl.local = 127.0.0.1:{self.tls_port}\n"
            f"ssl_options.cacertfile = {b / 'ca.pem'}\n"
            f"ssl_options.certfile = {b / 'server.pem'}\n"
            f"ssl_options.keyfile = {b / 'server.key'}\n"
            "ssl_options.verify = verify_peer\n"
            "ssl_options.fail_if_no_peer_cert = true\n"
            "loopback_users = none\n"
        )
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(b)], check=False, timeout=30)
        env = dict(
            os.environ,
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(b / "mnesia"),
            RABBITMQ_LOG_BASE=str(b / "log"),
            RABBITMQ_CONFIG_FILE=str(b / "rabbitmq"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(b / "enabled_plugins"),
            RABBITMQ_PID_FILE=str(b / "pid"),
        )
        subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, timeout=60)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.tls_port), 1).close()
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"the private RabbitMQ node did not start within {timeout} s")

    def ctl(self, *args: str) -> None:
        subprocess.run(
            ["rabbitmqctl", "-n", self.name, "-q", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self) -> None:
        subprocess.run(
            ["rabbitmqctl", "-n", self.name, "-q", "stop"], capture_output=True, timeout=60
        )


@pytest.fixture(scope="module")
def private_node() -> Iterator[PrivateNode]:
    if shutil.which("rabbitmq-server") is None or shutil.which("openssl") is None:
        _unreachable("needs rabbitmq-server and openssl to start a private RabbitMQ node")
    # Not under pytest's tmp_path: its 0700 parent is closed to the rabbitmq user.
    base = Path(tempfile.mkdtemp(prefix="bk-amqp-node-"))
    base.chmod(0o755)
    node = PrivateNode(base)
    try:
        node.start()
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        node.stop()
        _unreachable(f"cannot start a private RabbitMQ node: {exc}")
    try:
        yield node
    finally:
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


async def _send(producer: AsyncAmqpProducer, records: Sequence[Any]) -> Any:
    handle = await producer.publish(list(records), 5)
    return await producer.wait(handle, 10)


async def _take(consumer: AsyncAmqpConsumer, n: int, timeout: float = 5) -> list[Delivery]:
    got: list[Delivery] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got.extend(await consumer.fetch(n - len(got), 0.2))
    return got


async def _quiet(consumer: AsyncAmqpConsumer, wait: float = 0.5) -> list[Delivery]:
    return list(await consumer.fetch(100, wait))


# -- producing and consuming -------------------------------------------------------------


async def test_round_trip_value_key_headers_id(driver: AsyncAmqpDriver) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig())
    producer = await driver.open_producer(topic, _pconfig())
    assert await _send(producer, [(b"v1", b"k1", {"h": "1"}), (b"v2", None, None)]) is None
    got = await _take(consumer, 2)
    assert [(d.value, d.key, d.headers) for d in got] == [
        (b"v1", b"k1", {"h": "1"}),
        (b"v2", None, None),
    ]
    # headers named like RabbitMQ's are the application's when they are strings
    own = {"x-delivery-count": "7", "x-death": "", "x-first-death-queue": "q"}
    assert await _send(producer, [(b"v3", None, own)]) is None
    [d3] = await _take(consumer, 1)
    assert (d3.headers, d3.delivery_count) == (own, 1)
    got.append(d3)
    assert all(d.id and d.delivery_count == 1 for d in got)
    await consumer.settle([d.token for d in got], [], True)
    await consumer.close(5)
    again = await driver.open_consumer(topic, "g", _cconfig())
    assert await _quiet(again) == []
    await again.close(5)
    await producer.close(5)


async def test_large_and_empty_payloads(driver: AsyncAmqpDriver) -> None:
    """Bodies larger than a frame are split into several content frames."""
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig())
    producer = await driver.open_producer(topic, _pconfig())
    big = bytes(range(256)) * 1200  # 300 KiB: more than frame_max (128 KiB)
    assert await _send(producer, [(big, None, None), (b"", b"k", None), (b"s", None, None)]) is None
    got = await _take(consumer, 3)
    assert [d.value for d in got] == [big, b"", b"s"]
    await consumer.settle([d.token for d in got], [], True)
    await consumer.close(5)
    await producer.close(5)


async def test_refusals_are_reported_per_message(driver: AsyncAmqpDriver, raw: Any) -> None:
    """In one batch, the routable messages are stored and the unroutable ones refused."""
    exchange_name = _name("ex")
    exchange = await raw.declare_exchange(exchange_name, "topic", auto_delete=True)
    queue = await raw.declare_queue(_name("q"), exclusive=True)
    await queue.bind(exchange, routing_key="ok.*")
    producer = await driver.open_producer(exchange_name, _pconfig(declare=False))
    keys = [b"ok.1", b"bad.1", b"ok.2", b"bad.2"]
    outcomes = await _send(producer, [(k, k, None) for k in keys])
    assert outcomes is not None
    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "DeliveryError",
        "NoneType",
        "DeliveryError",
    ]
    assert "bad.1" in str(outcomes[1])
    assert (await queue.get(timeout=5)).body == b"ok.1"
    assert (await queue.get(timeout=5)).body == b"ok.2"
    await producer.close(5)


async def test_every_group_gets_every_message_members_share(driver: AsyncAmqpDriver) -> None:
    topic = _name()
    a1 = await driver.open_consumer(topic, "a", _cconfig(prefetch=5))
    a2 = await driver.open_consumer(topic, "a", _cconfig(prefetch=5))
    b = await driver.open_consumer(topic, "b", _cconfig())
    producer = await driver.open_producer(topic, _pconfig())
    values = [b"%d" % i for i in range(40)]
    assert await _send(producer, [(v, None, None) for v in values]) is None
    got_b = await _take(b, 40)
    assert sorted(d.value for d in got_b) == sorted(values)
    shared: list[Delivery] = []
    deadline = time.monotonic() + 5
    while len(shared) < 40 and time.monotonic() < deadline:
        for member in (a1, a2):
            batch = await member.fetch(10, 0.1)
            shared.extend(batch)
            await member.settle([d.token for d in batch], [], False)
    assert sorted(d.value for d in shared) == sorted(values)
    for c in (a1, a2, b):
        await c.close(5)
    await producer.close(5)


async def test_multiple_acks_with_gaps_never_ack_an_unacked_message(
    driver: AsyncAmqpDriver,
) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig(prefetch=20))
    producer = await driver.open_producer(topic, _pconfig())
    await _send(producer, [(b"%d" % i, None, None) for i in range(10)])
    got = await _take(consumer, 10)
    by = {int(d.value): d for d in got}
    await consumer.settle([by[i].token for i in (0, 1, 2, 3, 4)], [], False)  # multiple=True
    await consumer.settle([by[7].token], [], False)  # single: 5 and 6 are pending
    await consumer.settle([by[5].token, by[8].token], [], True)  # 5 multiple, 8 single
    await consumer.close(5)
    again = await driver.open_consumer(topic, "g", _cconfig())
    back = await _take(again, 2)
    assert sorted(int(d.value) for d in back) == [6, 9]
    assert await _quiet(again) == []
    await again.close(5)
    await producer.close(5)


async def test_nack_requeues_and_quorum_counts_deliveries(driver: AsyncAmqpDriver) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig(queue_type="quorum"))
    producer = await driver.open_producer(topic, _pconfig())
    await _send(producer, [(b"again", b"k", {"a": "b"})])
    counts = []
    for _ in range(3):
        [d] = await _take(consumer, 1)
        counts.append(d.delivery_count)
        await consumer.settle([], [(d.token, None)], True)
    assert counts == [1, 2, 3]
    [d] = await _take(consumer, 1)
    assert (d.value, d.key, d.headers) == (b"again", b"k", {"a": "b"})
    await consumer.settle([d.token], [], True)
    await consumer.close(5)
    await producer.close(5)


async def test_nack_with_delay_does_not_block_the_queue(driver: AsyncAmqpDriver) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig(queue_type="quorum"))
    producer = await driver.open_producer(topic, _pconfig())
    await _send(producer, [(b"later", b"lk", {"x": "y"})])
    [d] = await _take(consumer, 1)
    started = time.monotonic()
    await consumer.settle([], [(d.token, 0.8)], True)
    await _send(producer, [(b"meanwhile", None, None)])
    [m] = await _take(consumer, 1)
    assert m.value == b"meanwhile"
    assert time.monotonic() - started < 0.8, "the delayed message held the queue up"
    await consumer.settle([m.token], [], False)
    [back] = await _take(consumer, 1, timeout=10)
    assert time.monotonic() - started >= 0.75
    assert (back.value, back.key, back.headers) == (b"later", b"lk", {"x": "y"})
    assert back.id == d.id
    assert back.delivery_count == 2
    await consumer.settle([back.token], [], True)
    assert await _quiet(consumer) == []
    await consumer.close(5)
    await producer.close(5)


async def test_at_most_once_no_confirms_no_redelivery(driver: AsyncAmqpDriver) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig("at-most-once"))
    producer = await driver.open_producer(topic, _pconfig("at-most-once"))
    handle = await producer.publish([(b"once", None, None)], 5)
    assert handle is None
    assert await producer.wait(handle, 1) is None
    [d] = await _take(consumer, 1)
    assert d.value == b"once"
    await consumer.close(5)  # not acked: at-most-once never redelivers
    again = await driver.open_consumer(topic, "g", _cconfig())
    assert await _quiet(again) == []
    await again.close(5)
    await producer.close(5)


async def test_private_consumer_queue_is_removed_on_close(
    driver: AsyncAmqpDriver, raw: Any
) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, None, _cconfig())
    queue = consumer._queue
    producer = await driver.open_producer(topic, _pconfig())
    await _send(producer, [(b"p", None, None)])
    assert [d.value for d in await _take(consumer, 1)] == [b"p"]
    await consumer.close(5)
    with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
        await raw.declare_queue(queue, passive=True)
    await producer.close(5)


# -- refusals ------------------------------------------------------------------------------


async def test_unroutable_with_mandatory_is_a_delivery_error(driver: AsyncAmqpDriver) -> None:
    topic = _name()
    producer = await driver.open_producer(topic, _pconfig(mandatory=True))
    outcomes = await _send(producer, [(b"nobody", None, None)])
    assert outcomes is not None
    [err] = outcomes
    assert isinstance(err, brokerkit.DeliveryError)
    assert "unroutable" in str(err)
    assert topic in str(err)
    # default (declare=true): a topic without groups drops, like a topic without replay
    quiet = await driver.open_producer(topic, _pconfig())
    assert await _send(quiet, [(b"dropped", None, None)]) is None
    await producer.close(5)
    await quiet.close(5)


async def test_broker_nack_is_a_delivery_error(driver: AsyncAmqpDriver, raw: Any) -> None:
    """A queue over its length limit with overflow=reject-publish nacks the publish."""
    exchange_name = _name("ex")
    exchange = await raw.declare_exchange(exchange_name, "fanout", auto_delete=True)
    queue = await raw.declare_queue(
        _name("q"), exclusive=True, arguments={"x-max-length": 1, "x-overflow": "reject-publish"}
    )
    await queue.bind(exchange)
    producer = await driver.open_producer(exchange_name, _pconfig(declare=False))
    outcomes = await _send(producer, [(b"fits", None, None), (b"refused", None, None)])
    assert outcomes is not None
    assert outcomes[0] is None
    assert isinstance(outcomes[1], brokerkit.DeliveryError)
    assert "nacked" in str(outcomes[1])
    await producer.close(5)


async def test_missing_exchange_fails_the_batch_and_the_producer_carries_on(
    driver: AsyncAmqpDriver, raw: Any
) -> None:
    name = _name("ex")
    producer = await driver.open_producer(name, _pconfig(declare=False))
    outcomes = await _send(producer, [(b"a", None, None), (b"b", None, None)])
    assert outcomes is not None
    assert all(isinstance(e, brokerkit.DeliveryError) for e in outcomes)
    assert "no exchange" in str(outcomes[0]) or "NOT_FOUND" in str(outcomes[0])
    exchange = await raw.declare_exchange(name, "fanout", auto_delete=True)
    queue = await raw.declare_queue(_name("q"), exclusive=True)
    await queue.bind(exchange)
    # the broker closed the channel; aio-pika opened a new one and the producer goes on
    deadline = time.monotonic() + 10
    while True:
        outcomes = await _send(producer, [(b"c", None, None)])
        if outcomes is None or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert outcomes is None
    msg = await queue.get(timeout=5)
    assert msg.body == b"c"
    await producer.close(5)


async def test_mismatched_declaration_is_a_configuration_error(
    driver: AsyncAmqpDriver, raw: Any
) -> None:
    topic = _name()
    first = await driver.open_consumer(topic, "g", _cconfig())  # classic queue
    with pytest.raises(brokerkit.ConfigurationError, match="PRECONDITION_FAILED") as info:
        await driver.open_consumer(topic, "g", _cconfig(queue_type="quorum"))
    assert "x-queue-type" in str(info.value)
    other = _name("ex")
    await raw.declare_exchange(other, "topic", auto_delete=True)
    with pytest.raises(brokerkit.ConfigurationError, match="exchange"):
        await driver.open_producer(other, _pconfig())  # fanout wanted, topic exists
    # the connection is fine and the first consumer still works
    producer = await driver.open_producer(topic, _pconfig())
    await _send(producer, [(b"still", None, None)])
    assert [d.value for d in await _take(first, 1)] == [b"still"]
    await first.close(5)
    await producer.close(5)


async def test_existing_topology_without_declaring(driver: AsyncAmqpDriver, raw: Any) -> None:
    """The aioamqp world: exchange_declare, queue_declare, queue_bind with routing keys."""
    exchange_name, queue_name = _name("orders"), _name("billing")
    exchange = await raw.declare_exchange(exchange_name, "topic", durable=True)
    queue = await raw.declare_queue(queue_name, durable=True)
    await queue.bind(exchange, routing_key="order.created")
    consumer = await driver.open_consumer(
        "ignored-topic", "g", _cconfig(declare=False, queue=queue_name)
    )
    producer = await driver.open_producer(exchange_name, _pconfig(declare=False))
    assert await _send(producer, [(b"new", b"order.created", None)]) is None
    outcomes = await _send(producer, [(b"lost", b"order.deleted", None)])
    assert outcomes is not None, "declare=false publishes are mandatory: unroutable raises"
    assert isinstance(outcomes[0], brokerkit.DeliveryError)
    fixed = await driver.open_producer(
        exchange_name, _pconfig(declare=False, routing_key="order.created")
    )
    assert await _send(fixed, [(b"fixed", b"whatever", None)]) is None
    got = await _take(consumer, 2)
    assert [(d.value, d.key) for d in got] == [(b"new", b"order.created"), (b"fixed", b"whatever")]
    await consumer.settle([d.token for d in got], [], True)
    with pytest.raises(brokerkit.ConfigurationError, match="NOT_FOUND"):
        await driver.open_consumer("t", "g", _cconfig(declare=False, queue=_name("nope")))
    for p in (producer, fixed):
        await p.close(5)
    await consumer.close(5)
    await raw.queue_delete(queue_name)
    await raw.exchange_delete(exchange_name)


async def test_topic_exchange_with_binding_keys(raw: Any) -> None:
    drv = _driver(exchange_type="topic", request_timeout=5)
    await drv.connect(5)
    try:
        topic = _name()
        eu = await drv.open_consumer(topic, "eu", _cconfig(binding_key="eu.*"))
        everything = await drv.open_consumer(topic, "all", _cconfig())
        producer = await drv.open_producer(topic, _pconfig())
        await _send(producer, [(b"1", b"eu.fr", None), (b"2", b"us.ny", None)])
        assert [d.value for d in await _take(eu, 1)] == [b"1"]
        assert sorted(d.value for d in await _take(everything, 2)) == [b"1", b"2"]
        assert await _quiet(eu) == []
        for c in (eu, everything):
            await c.close(5)
        await producer.close(5)
    finally:
        await drv.close()


async def test_binding_key_needs_a_topic_or_direct_exchange(driver: AsyncAmqpDriver) -> None:
    with pytest.raises(brokerkit.ConfigurationError, match="binding_key"):
        await driver.open_consumer(_name(), "g", _cconfig(binding_key="a.*"))


async def test_priority_and_ttl_options(driver: AsyncAmqpDriver) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig(max_priority=9, prefetch=1))
    await consumer.close(5)  # the queue stays, filled while nobody consumes
    low = await driver.open_producer(topic, _pconfig(priority=1))
    high = await driver.open_producer(topic, _pconfig(priority=9))
    short = await driver.open_producer(topic, _pconfig(ttl=0.05))
    await _send(low, [(b"low", None, None)])
    await _send(high, [(b"high", None, None)])
    await _send(short, [(b"expired", None, None)])
    await asyncio.sleep(0.3)
    consumer = await driver.open_consumer(topic, "g", _cconfig(max_priority=9, prefetch=1))
    got = []
    for _ in range(2):  # basic.qos is prefetch (1): one unacked message at a time
        [one] = await _take(consumer, 1)
        got.append(one)
        await consumer.settle([one.token], [], True)
    assert [d.value for d in got] == [b"high", b"low"]
    assert await _quiet(consumer) == []
    with pytest.raises(brokerkit.ConfigurationError, match="max_priority"):
        await driver.open_consumer(topic, "q", _cconfig(max_priority=3, queue_type="quorum"))
    for p in (low, high, short):
        await p.close(5)
    await consumer.close(5)


async def test_exclusive_and_auto_delete_queues(driver: AsyncAmqpDriver, raw: Any) -> None:
    topic = _name()
    exclusive = await driver.open_consumer(topic, "x", _cconfig(exclusive=True))
    other = _driver(request_timeout=5)
    await other.connect(5)
    try:
        with pytest.raises(brokerkit.ConfigurationError, match="RESOURCE_LOCKED"):
            await other.open_consumer(topic, "x", _cconfig(exclusive=True))
    finally:
        await other.close()
    auto = await driver.open_consumer(topic, "auto", _cconfig(auto_delete=True))
    name = auto._queue
    assert await auto.fetch(1, 0.1) == []  # consuming starts with the first fetch
    await auto.close(5)
    await asyncio.sleep(0.2)
    with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
        await raw.declare_queue(name, passive=True)
    await exclusive.close(5)


# -- the broker cancels, closes, goes away ---------------------------------------------------


async def test_consumer_cancelled_by_the_broker_is_a_clear_error(
    driver: AsyncAmqpDriver, raw: Any
) -> None:
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig())
    producer = await driver.open_producer(topic, _pconfig())
    await _send(producer, [(b"before", None, None)])
    [d] = await _take(consumer, 1)
    await consumer.settle([d.token], [], True)
    await raw.queue_delete(consumer._queue)

    async def fetch_until_it_raises() -> None:
        for _ in range(50):
            await consumer.fetch(10, 0.1)

    with pytest.raises(brokerkit.ClosedError, match="cancelled the consumer") as info:
        await fetch_until_it_raises()
    assert consumer._queue in str(info.value)
    await consumer.close(5)
    await producer.close(5)


async def test_unknown_delivery_tag_closes_the_channel_and_the_consumer_carries_on(
    driver: AsyncAmqpDriver,
) -> None:
    """A channel error (here an ack the broker refuses) is survived on a new channel."""
    topic = _name()
    consumer = await driver.open_consumer(topic, "g", _cconfig())
    producer = await driver.open_producer(topic, _pconfig())
    await _send(producer, [(b"1", None, None)])
    [d] = await _take(consumer, 1)
    await consumer.settle([d.token], [], True)
    forged = (d.token[0], d.token[1] + 1000, d.token[2])
    with pytest.raises(brokerkit.BrokerConnectionError, match="unknown delivery tag"):
        await consumer.settle([forged], [], True)
    # the channel error may take the connection down with it (aiormq answers the broker's
    # Channel.Close racing a pending request): then the send is refused, not lost; retry
    deadline = time.monotonic() + 10
    while await _send(producer, [(b"2", None, None)]) is not None:
        assert time.monotonic() < deadline, "the producer did not recover"
        await asyncio.sleep(0.1)
    got = await _take(consumer, 1, timeout=10)
    assert [m.value for m in got] == [b"2"]
    await consumer.settle([got[0].token], [], True)
    await consumer.close(5)
    await producer.close(5)


def _connection_pids(name: str) -> list[str]:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl is not installed")
    out = subprocess.run(
        [ctl, "-q", "list_connections", "--no-table-headers", "pid", "client_properties"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [
        line.split("\t", 1)[0]
        for line in out.splitlines()
        if f'{{"connection_name","{name}"}}' in line
    ]


def _close_connection(name: str) -> int:
    pids = _connection_pids(name)
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "-q", "close_connection", pid, "brokerkit test: cut"],
            capture_output=True,
            timeout=30,
            check=True,
        )
    return len(pids)


async def _stream_through(
    drv: AsyncAmqpDriver, queue_type: str, disrupt: Callable[[], int]
) -> None:
    """Produce and consume 3000 messages while ``disrupt()`` (run in a thread at 1/3 and
    2/3 of the stream) breaks the connection; then check that the producer and consumer
    recovered by themselves, that every confirmed message arrived at least once, and that
    no acked message comes back (and so that none was lost)."""
    topic = _name()
    consumer = await drv.open_consumer(topic, "g", _cconfig(queue_type=queue_type))
    producer = await drv.open_producer(topic, _pconfig())
    confirmed: set[bytes] = set()
    acked: set[bytes] = set()
    seen: set[bytes] = set()
    disruptions = 0
    confirmed_after: set[bytes] = set()

    async def produce() -> None:
        nonlocal disruptions
        for i in range(60):
            batch = [(b"m%04d-%d" % (i, j), None, None) for j in range(50)]
            try:
                outcomes = await _send(producer, batch)
            except brokerkit.BrokerError:
                outcomes = [brokerkit.BrokerConnectionError("batch")] * len(batch)
            for (value, _, _), err in zip(batch, outcomes or [None] * len(batch), strict=True):
                if err is None:
                    confirmed.add(value)
                    if disruptions >= 2:
                        confirmed_after.add(value)
            if i in (20, 40):
                disruptions += await asyncio.to_thread(disrupt)
            await asyncio.sleep(0.01)

    async def consume() -> None:
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 3 or not producing.done():
            try:
                batch = await consumer.fetch(200, 0.2)
                if batch:
                    idle_since = time.monotonic()
                    seen.update(d.value for d in batch)
                    await consumer.settle([d.token for d in batch], [], True)
                    acked.update(d.value for d in batch)
            except brokerkit.BrokerError:
                await asyncio.sleep(0.1)  # acks lost with the channel: redelivered

    producing = asyncio.ensure_future(produce())
    await asyncio.gather(producing, consume())
    assert disruptions >= 2, "the test did not break its connection"
    assert confirmed_after, "the producer did not recover: nothing confirmed after"
    missing = confirmed - seen
    assert not missing, f"{len(missing)} confirmed messages never arrived"
    assert confirmed_after <= acked, "the consumer did not recover"
    await consumer.close(5)
    after = await drv.open_consumer(topic, "g", _cconfig(queue_type=queue_type))
    leftovers = {d.value for d in await _take(after, 10_000, timeout=2)}
    assert not (leftovers & acked), "an acked message came back"
    await after.close(5)
    await producer.close(5)


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
async def test_connection_cut_mid_stream_recovers_without_losing_messages(
    queue_type: str,
) -> None:
    """``rabbitmqctl close_connection`` on this test's own connection, twice mid-stream."""
    name = _name("cut")
    drv = _driver(client_id=name, request_timeout=5, reconnect_interval=0.2)
    await drv.connect(5)
    try:
        await _stream_through(drv, queue_type, lambda: _close_connection(name))
    finally:
        await drv.close()


async def test_broker_stop_app_start_app_mid_stream(private_node: PrivateNode) -> None:
    """``rabbitmqctl stop_app`` / ``start_app`` of a private RabbitMQ node, twice mid-stream
    (durable queues and persistent messages survive it)."""
    drv = _driver(private_node.url, request_timeout=5, reconnect_interval=0.2, reconnect_timeout=30)
    await drv.connect(5)

    def restart() -> int:
        private_node.ctl("stop_app")
        time.sleep(0.5)
        private_node.ctl("start_app")
        return 1

    try:
        await _stream_through(drv, "classic", restart)
    finally:
        await drv.close()


async def test_tls_with_ca_file_and_a_client_certificate(private_node: PrivateNode) -> None:
    """The private node's TLS listener verifies the client's certificate (mutual TLS)."""
    base = private_node.base
    client = {
        "tls_cert_file": str(base / "client.pem"),
        "tls_key_file": str(base / "client.key"),
    }
    drv = _driver(private_node.tls_url, tls_ca_file=str(private_node.ca_file), **client)
    await drv.connect(10)
    try:
        topic = _name()
        consumer = await drv.open_consumer(topic, "g", _cconfig())
        producer = await drv.open_producer(topic, _pconfig())
        assert await _send(producer, [(b"secret", b"k", None)]) is None
        [d] = await _take(consumer, 1)
        assert (d.value, d.key) == (b"secret", b"k")
        await consumer.settle([d.token], [], True)
        await consumer.close(5)
        await producer.close(5)
    finally:
        await drv.close()
    # the system's CAs do not know the test CA
    untrusted = _driver(private_node.tls_url, **client)
    with pytest.raises(brokerkit.BrokerConnectionError, match=str(private_node.tls_port)):
        await untrusted.connect(5)
    # no client certificate: the broker refuses the handshake
    anonymous = _driver(private_node.tls_url, tls_ca_file=str(private_node.ca_file))
    with pytest.raises(brokerkit.BrokerConnectionError, match=str(private_node.tls_port)):
        await anonymous.connect(5)
    insecure = _driver(private_node.tls_url, tls_verify=False, **client)
    await insecure.connect(5)
    await insecure.close()


# -- errors: down, silent, bad credentials ----------------------------------------------------


async def test_broker_down_is_a_connection_error_naming_host_and_port() -> None:
    port = free_port()
    drv = _driver(f"amqp://guest:s3cret-pw@127.0.0.1:{port}/")
    started = time.monotonic()
    with pytest.raises(brokerkit.BrokerConnectionError) as info:
        await drv.connect(3)
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "s3cret-pw" not in str(info.value)
    assert "s3cret-pw" not in repr(info.value)


async def test_bad_credentials_are_a_connection_error_without_the_password() -> None:
    drv = _driver(f"amqp://guest:wrong-pw-123@{HOST}:{PORT}/")
    with pytest.raises(brokerkit.BrokerConnectionError, match="credentials") as info:
        await drv.connect(5)
    assert f"{HOST}:{PORT}" in str(info.value)
    assert "wrong-pw-123" not in str(info.value)
    cause = info.value.__cause__
    assert cause is None or "wrong-pw-123" not in str(info.value)


async def test_unknown_vhost_is_a_connection_error() -> None:
    drv = _driver(f"amqp://guest:guest@{HOST}:{PORT}/{_name('vhost')}")
    with pytest.raises(brokerkit.BrokerConnectionError):
        await drv.connect(5)


async def test_silent_broker_connect_times_out() -> None:
    with SilentServer() as silent:
        drv = _driver(f"amqp://guest:guest@127.0.0.1:{silent.port}/")
        started = time.monotonic()
        with pytest.raises(brokerkit.BrokerConnectionError, match=str(silent.port)):
            await drv.connect(1.0)
        assert time.monotonic() - started < 4


async def test_broker_that_stops_answering_keeps_every_timeout() -> None:
    with Link((HOST, PORT)) as link:
        drv = _driver(
            f"amqp://guest:guest@127.0.0.1:{link.port}/", request_timeout=1, reconnect_timeout=1
        )
        await drv.connect(5)
        try:
            topic = _name()
            consumer = await drv.open_consumer(topic, "g", _cconfig())
            producer = await drv.open_producer(topic, _pconfig())
            await _send(producer, [(b"ok", None, None)])
            [d] = await _take(consumer, 1)
            link.drop_replies()
            started = time.monotonic()
            handle = await producer.publish([(b"x", None, None)], 1)
            with pytest.raises(brokerkit.TimeoutError):
                await producer.wait(handle, 0.5)
            assert await consumer.fetch(10, 0.3) == []
            with pytest.raises(brokerkit.TimeoutError):
                await consumer.settle([d.token], [], True)  # SYNC commit: bounded
            with pytest.raises(brokerkit.BrokerError):
                await drv.open_producer(_name(), _pconfig())  # declare: bounded
            assert time.monotonic() - started < 6
            closing = time.monotonic()
            await producer.close(1)
            await consumer.close(1)
            assert time.monotonic() - closing < 3, "close() kept its timeout"
        finally:
            closing = time.monotonic()
            await drv.close()
            assert time.monotonic() - closing < 7


async def test_tls_options_need_amqps() -> None:
    with pytest.raises(brokerkit.ConfigurationError, match="amqps"):
        _driver(tls_ca_file="/nonexistent/ca.pem")
    with pytest.raises(brokerkit.ConfigurationError, match="TLS files"):
        _driver(f"amqps://guest:guest@{HOST}:5671/", tls_ca_file="/nonexistent/ca.pem")


# -- capabilities through the facade --------------------------------------------------------


async def test_capabilities_per_variant_and_gating() -> None:
    async with brokerkit.connect_async(URL) as classic:
        caps = classic.capabilities
        assert caps.persistent
        assert caps.consumer_groups
        assert caps.nack_delay
        assert not caps.replay
        assert not caps.delivery_count
        assert not caps.native_dead_letter
        with pytest.raises(brokerkit.UnsupportedError, match="delivery_count"):
            classic.consumer(_name(), group="g", max_deliveries=3, dead_letter_topic=_name())
    async with brokerkit.connect_async(URL + "?queue_type=quorum") as quorum:
        assert quorum.capabilities.delivery_count
        quorum.consumer(_name(), group="g", max_deliveries=3, dead_letter_topic=_name())
    with pytest.raises(brokerkit.ConfigurationError, match="queue_type"):
        brokerkit.connect(URL + "?queue_type=stream")


# -- connection loss through the public API (sync and async) --------------------------------


def _confirmed_of(batch: list[bytes], error: BaseException | None) -> list[bytes]:
    """The values of ``batch`` whose send succeeded, given what send_many+flush raised."""
    if error is None:
        return batch
    if isinstance(error, brokerkit.DeliveryError) and error.failures:
        refused = {value for value, _ in error.failures}
        return [v for v in batch if v not in refused]
    return []


async def test_public_async_api_recovers_from_a_connection_cut() -> None:
    name = _name("cut-api")
    url = f"{URL}?reconnect_interval=0.2"
    topic = _name()
    confirmed: set[bytes] = set()
    committed: set[bytes] = set()
    seen: set[bytes] = set()
    async with brokerkit.connect_async(url, client_id=name) as broker:
        async with (
            broker.consumer(topic, group="g", commit="sync", commit_every=100) as consumer,
            broker.producer(topic) as producer,
        ):
            for i in range(40):
                batch = [b"a%03d-%03d" % (i, j) for j in range(100)]
                error: BaseException | None = None
                try:
                    await producer.send_many(batch)
                    await producer.flush(timeout=10)
                except brokerkit.BrokerError as exc:
                    error = exc
                confirmed.update(_confirmed_of(batch, error))
                if i in (10, 25):
                    assert await asyncio.to_thread(_close_connection, name) >= 1
                started = time.monotonic()
                try:
                    msgs = await consumer.receive_many(100, timeout=0.5)
                    for m in msgs:
                        seen.add(m.value)
                        await m.ack()
                    await consumer.commit()
                    committed.update(m.value for m in msgs)
                except brokerkit.BrokerError as exc:
                    # a commit lost with the connection: those come again, and it is
                    # said at once (not retried for reconnect_timeout, 30 s)
                    if isinstance(exc, SettleLostError):
                        assert time.monotonic() - started < 10
            deadline = time.monotonic() + 15
            while not confirmed <= seen and time.monotonic() < deadline:
                try:
                    msgs = await consumer.receive_many(100, timeout=0.5)
                    for m in msgs:
                        seen.add(m.value)
                        await m.ack()
                    await consumer.commit()
                    committed.update(m.value for m in msgs)
                except brokerkit.BrokerError:
                    pass
        assert len(confirmed) >= 3000, "the producer did not recover"
        missing = confirmed - seen
        assert not missing, f"{len(missing)} messages whose send succeeded never arrived"
        async with broker.consumer(topic, group="g") as again:
            back = {m.value for m in await again.receive_many(5000, timeout=1.0)}
            assert not (back & committed), "a message whose ack was committed came back"


def test_public_sync_api_recovers_from_a_connection_cut() -> None:
    name = _name("cut-sync")
    topic = _name()
    confirmed: set[bytes] = set()
    committed: set[bytes] = set()
    seen: set[bytes] = set()

    def drain(consumer: brokerkit.Consumer) -> None:
        started = time.monotonic()
        try:
            msgs = consumer.receive_many(100, timeout=0.5)
            for m in msgs:
                seen.add(m.value)
                m.ack()
            consumer.commit()
            committed.update(m.value for m in msgs)
        except brokerkit.BrokerError as exc:
            # acks of the lost channel can never reach RabbitMQ: said at once, not
            # retried for reconnect_timeout (30 s)
            if isinstance(exc, SettleLostError):
                assert time.monotonic() - started < 10

    with brokerkit.connect(f"{URL}?reconnect_interval=0.2", client_id=name) as broker:
        with (
            broker.consumer(topic, group="g", commit="sync", commit_every=100) as consumer,
            broker.producer(topic) as producer,
        ):
            for i in range(40):
                batch = [b"s%03d-%03d" % (i, j) for j in range(100)]
                error: BaseException | None = None
                try:
                    producer.send_many(batch)
                    producer.flush(timeout=10)
                except brokerkit.BrokerError as exc:
                    error = exc
                confirmed.update(_confirmed_of(batch, error))
                if i in (10, 25):
                    assert _close_connection(name) >= 1
                drain(consumer)
            deadline = time.monotonic() + 15
            while not confirmed <= seen and time.monotonic() < deadline:
                drain(consumer)
        assert len(confirmed) >= 3000, "the producer did not recover"
        missing = confirmed - seen
        assert not missing, f"{len(missing)} messages whose send succeeded never arrived"
        with broker.consumer(topic, group="g") as again:
            back = {m.value for m in again.receive_many(5000, timeout=1.0)}
            assert not (back & committed), "a message whose ack was committed came back"


async def test_public_api_keeps_its_timeouts_against_a_silent_broker() -> None:
    with Link((HOST, PORT)) as link:
        url = f"amqp://guest:guest@127.0.0.1:{link.port}/?request_timeout=1&heartbeat=0"
        # reconnect_timeout: how long the core retries a confirmed ack on a lost connection
        broker = await brokerkit.connect_async(url, close_timeout=1, reconnect_timeout=1)
        topic = _name()
        consumer = await broker.consumer(topic, group="g", commit="sync")
        producer = await broker.producer(topic)
        await producer.send(b"ok")
        await producer.flush(timeout=5)
        first = await consumer.receive(timeout=5)
        assert first is not None
        link.drop_replies()
        started = time.monotonic()
        await producer.send(b"unanswered")
        with pytest.raises(brokerkit.TimeoutError):
            await producer.flush(timeout=0.5)
        assert await consumer.receive(timeout=0.3) is None
        with pytest.raises(brokerkit.BrokerError):
            await first.ack()  # commit="sync": bounded by request_timeout
        assert time.monotonic() - started < 5
        closing = time.monotonic()
        with contextlib.suppress(brokerkit.BrokerError):
            await broker.close()
        assert time.monotonic() - closing < 15, "close() kept its timeouts"


def test_logs_connect_loss_reconnect_and_close(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="brokerkit.amqp")
    name = _name("log")
    url = f"amqp://guest:guest@{HOST}:{PORT}/?reconnect_interval=0.2"
    with brokerkit.connect(url, client_id=name) as broker:
        assert broker.capabilities.at_least_once
        assert _close_connection(name) == 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            "reconnected" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.05)
    messages = [r.getMessage() for r in caplog.records if r.name == "brokerkit.amqp"]
    where = f"{HOST}:{PORT}"
    assert messages[0] == f"connected to RabbitMQ at {where}, vhost '/'"
    assert any(
        m.startswith(f"RabbitMQ at {where}: connection lost") and "CONNECTION_FORCED" in m
        for m in messages
    )
    assert f"reconnected to RabbitMQ at {where}" in messages
    assert messages[-1] == f"closing the connection to RabbitMQ at {where}"
    assert not any("guest:guest" in m for m in messages)
