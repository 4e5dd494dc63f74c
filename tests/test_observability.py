"""Logs, the instrumentation hook, and its two extras (brokerkit.otel, brokerkit.prometheus),
against memory:// and the shared Redis, sync and async.

- the core logs a WARNING under ``brokerkit.<backend>`` for every message dead-lettered or
  dropped (topic, group, id);
- the hook sees publish (per batch), deliver, ack, nack, dead-letter and commit events
  with timings, from both APIs;
- OpenTelemetry: a trace crosses from a producer on one broker to a consumer there, whose
  handler re-publishes to another broker, to a consumer there (in-memory span exporter);
- Prometheus: the counters and histogram counts read back from a CollectorRegistry equal
  what was sent, acked, nacked and dead-lettered.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import _Session, _usable_url

import brokerkit
from brokerkit import Endpoint, Instrumentation
from brokerkit._types import Record
from brokerkit.testing import SESSION_PREFIX
from brokerkit.testing._support import unreachable

BACKENDS = [
    pytest.param("memory", marks=pytest.mark.memory),
    pytest.param("redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, _variant_session: _Session) -> str:
    return _usable_url(request.param, _variant_session)


@pytest.fixture
def session(_variant_session: _Session) -> _Session:
    """The conformance session (brokers started for it, their URLs)."""
    return _variant_session


@pytest.fixture
def other_url(_variant_session: _Session) -> str:
    """The second broker of the trace-crossing tests: the shared Redis."""
    return _usable_url("redis", _variant_session)


def _topic(what: str) -> str:
    return f"{SESSION_PREFIX}obs-{what}-{uuid.uuid4().hex[:8]}"


class Recorder(Instrumentation):
    """Records every event as a tuple."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def send(self, endpoint: Endpoint, headers: dict[str, str]) -> None:
        self.events.append(("send", endpoint.topic))

    def publish(
        self,
        endpoint: Endpoint,
        records: Sequence[Record],
        errors: Sequence[BaseException | None],
        seconds: float,
    ) -> None:
        assert seconds >= 0
        self.events.append(("publish", endpoint.topic, [r[0] for r in records], list(errors)))

    def deliver(self, endpoint: Endpoint, messages: Sequence[Any]) -> None:
        self.events.append(("deliver", endpoint.topic, endpoint.group, [m.value for m in messages]))

    def ack(self, endpoint: Endpoint, message: Any, seconds: float) -> None:
        assert seconds >= 0
        self.events.append(("ack", message.value))

    def nack(
        self, endpoint: Endpoint, message: Any, seconds: float, requeue: bool, delay: float | None
    ) -> None:
        self.events.append(("nack", message.value, requeue))

    def dead_letter(
        self, endpoint: Endpoint, message: Any, seconds: float, reason: str, dead_letter_topic: str
    ) -> None:
        self.events.append(("dead_letter", message.value, reason, dead_letter_topic))

    def commit(
        self, endpoint: Endpoint, count: int, seconds: float, error: BaseException | None
    ) -> None:
        assert seconds >= 0
        self.events.append(("commit", endpoint.topic, count, error))

    def reconnect(
        self, endpoint: Endpoint, attempt: int, error: BaseException, delay: float
    ) -> None:
        self.events.append(("reconnect", endpoint.topic, attempt))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]


# -- the scenario, in both APIs: 4 sent; a acked, b nacked then acked, c dead-lettered, ----
# -- d nacked with requeue=False on a consumer without dead_letter_topic (dropped) ---------

VALUES = [b"a", b"b", b"c"]


def _scenario_sync(url: str, hooks: list[Instrumentation], topic: str, dlq: str) -> None:
    with brokerkit.connect(url, instrumentation=hooks) as broker:
        consumer = broker.consumer(topic, group="obs", dead_letter_topic=dlq, commit="sync")
        dropper = broker.consumer(topic + "-d", group="obs")
        with broker.producer(topic) as producer, broker.producer(topic + "-d") as other:
            producer.send(VALUES[0])
            producer.send_many(VALUES[1:])
            other.send(b"d", wait=True)
        seen: dict[bytes, int] = {}
        while sum(seen.values()) < 4:
            msg = consumer.receive(timeout=10)
            assert msg is not None, f"only {seen} arrived"
            seen[msg.value] = seen.get(msg.value, 0) + 1
            if msg.value == b"b" and seen[b"b"] == 1:
                msg.nack()
            elif msg.value == b"c":
                msg.dead_letter("cannot handle c")
            else:
                msg.ack()
        msg = dropper.receive(timeout=10)
        assert msg is not None
        msg.nack(requeue=False)
        consumer.close()
        dropper.close()


async def _scenario_async(url: str, hooks: list[Instrumentation], topic: str, dlq: str) -> None:
    async with brokerkit.connect_async(url, instrumentation=hooks) as broker:
        consumer = await broker.consumer(topic, group="obs", dead_letter_topic=dlq, commit="sync")
        dropper = await broker.consumer(topic + "-d", group="obs")
        async with broker.producer(topic) as producer, broker.producer(topic + "-d") as other:
            await producer.send(VALUES[0])
            await producer.send_many(VALUES[1:])
            await other.send(b"d", wait=True)
        seen: dict[bytes, int] = {}
        while sum(seen.values()) < 4:
            msg = await consumer.receive(timeout=10)
            assert msg is not None, f"only {seen} arrived"
            seen[msg.value] = seen.get(msg.value, 0) + 1
            if msg.value == b"b" and seen[b"b"] == 1:
                await msg.nack()
            elif msg.value == b"c":
                await msg.dead_letter("cannot handle c")
            else:
                await msg.ack()
        msg = await dropper.receive(timeout=10)
        assert msg is not None
        await msg.nack(requeue=False)
        await consumer.close()
        await dropper.close()


def _check_events(rec: Recorder, topic: str, dlq: str) -> None:
    sends = rec.of("send")
    assert [e[1] for e in sends].count(topic) == 3
    assert [e[1] for e in sends].count(dlq) == 1  # the dead letter is sent with the hook too
    published = [v for e in rec.of("publish") if e[1] == topic for v in e[2]]
    assert sorted(published) == VALUES
    assert all(err is None for e in rec.of("publish") for err in e[3])
    delivered = [v for e in rec.of("deliver") if e[1] == topic for v in e[3]]
    assert sorted(delivered) == [b"a", b"b", b"b", b"c"]
    assert all(e[2] == "obs" for e in rec.of("deliver"))
    assert sorted(e[1] for e in rec.of("ack")) == [b"a", b"b"]  # not c: its ack ends the DLQ
    assert rec.of("nack") == [("nack", b"b", True), ("nack", b"d", False)]
    assert rec.of("dead_letter") == [("dead_letter", b"c", "cannot handle c", dlq)]
    commits = [e for e in rec.of("commit") if e[1] == topic]
    assert commits, "no commit event"
    assert all(e[3] is None for e in commits)


def test_events_sync(url: str) -> None:
    rec = Recorder()
    topic, dlq = _topic("ev"), _topic("ev-dlq")
    _scenario_sync(url, [rec], topic, dlq)
    _check_events(rec, topic, dlq)


async def test_events_async(url: str) -> None:
    rec = Recorder()
    topic, dlq = _topic("ev"), _topic("ev-dlq")
    await _scenario_async(url, [rec], topic, dlq)
    _check_events(rec, topic, dlq)


# -- logs -----------------------------------------------------------------------------------


def test_dead_letters_and_drops_are_logged_once(url: str, caplog: pytest.LogCaptureFixture) -> None:
    backend = brokerkit.make_url(url).scheme
    caplog.set_level(logging.WARNING, logger="brokerkit")
    topic, dlq = _topic("log"), _topic("log-dlq")
    _scenario_sync(url, [], topic, dlq)
    lines = [
        (r.name, r.levelno, r.getMessage())
        for r in caplog.records
        if "dead-lettered" in r.getMessage() or "dropped" in r.getMessage()
    ]
    assert len(lines) == 2, lines
    (n1, l1, dead), (n2, l2, dropped) = lines
    assert n1 == n2 == f"brokerkit.{backend}"
    assert l1 == l2 == logging.WARNING
    assert dead.startswith("message ")
    assert f"of topic {topic!r} (group 'obs') dead-lettered" in dead
    assert dead.endswith(f"to {dlq!r} after 1 delivery: cannot handle c")
    assert f"of topic {topic + '-d'!r} (group 'obs') nacked with requeue=False" in dropped


# -- global installation --------------------------------------------------------------------


@pytest.mark.memory
def test_instrument_installs_for_brokers_connected_afterwards() -> None:
    rec = Recorder()
    before = brokerkit.connect("memory://obs-global")
    brokerkit.instrument(rec)
    try:
        brokerkit.instrument(rec)  # twice: still once
        with brokerkit.connect("memory://obs-global") as after:
            with after.producer("t") as producer:
                producer.send(b"x")
            with before.producer("t") as producer:
                producer.send(b"y")
    finally:
        brokerkit.uninstrument(rec)
        before.close()
    assert rec.of("send") == [("send", "t")]
    with brokerkit.connect("memory://obs-global") as broker, broker.producer("t") as producer:
        producer.send(b"z")
    assert len(rec.of("send")) == 1


@pytest.mark.memory
def test_a_hook_that_is_not_an_instrumentation_is_refused() -> None:
    with pytest.raises(brokerkit.ConfigurationError, match=r"brokerkit\.Instrumentation"):
        brokerkit.connect("memory://", instrumentation=[print])  # type: ignore[list-item]
    with pytest.raises(brokerkit.ConfigurationError, match="keyword-only"):
        brokerkit.connect("memory://?instrumentation=x")
    with pytest.raises(brokerkit.ConfigurationError, match="not an instrumentation hook"):
        brokerkit.instrument(object())  # type: ignore[arg-type]


# -- Prometheus -----------------------------------------------------------------------------


def _metrics(registry: Any, backend: str, topic: str) -> dict[str, float | None]:
    labels = {"system": backend, "topic": topic, "group": "obs"}

    def value(name: str, extra: dict[str, str] | None = None, *, producer: bool = False) -> Any:
        lab = {"system": backend, "topic": topic} if producer else {**labels, **(extra or {})}
        return registry.get_sample_value(f"brokerkit_{name}", lab)

    return {
        "published": value("messages_published_total", producer=True),
        "publish_errors": value("publish_errors_total", producer=True),
        "publish_batches": value("publish_duration_seconds_count", producer=True),
        "delivered": value("messages_delivered_total"),
        "acked": value("messages_acked_total"),
        "nacked": value("messages_nacked_total"),
        "dead_lettered": value("messages_dead_lettered_total"),
        "dropped": value("messages_dropped_total"),
        "process_ack": value("process_duration_seconds_count", {"outcome": "ack"}),
        "process_nack": value("process_duration_seconds_count", {"outcome": "nack"}),
        "process_dlq": value("process_duration_seconds_count", {"outcome": "dead_letter"}),
        "commits": value("commits_total"),
        "commit_seconds": value("commit_duration_seconds_count"),
    }


def _check_metrics(registry: Any, rec: Recorder, backend: str, topic: str) -> None:
    got = _metrics(registry, backend, topic)
    batches = len([e for e in rec.of("publish") if e[1] == topic])
    commits = len([e for e in rec.of("commit") if e[1] == topic])
    assert got == {
        "published": 3.0,
        "publish_errors": 0.0,
        "publish_batches": float(batches),
        "delivered": 4.0,
        "acked": 2.0,
        "nacked": 1.0,
        "dead_lettered": 1.0,
        "dropped": 0.0,
        "process_ack": 2.0,
        "process_nack": 1.0,
        "process_dlq": 1.0,
        "commits": float(commits),
        "commit_seconds": float(commits),
    }
    dropped = registry.get_sample_value(
        "brokerkit_messages_dropped_total",
        {"system": backend, "topic": topic + "-d", "group": "obs"},
    )
    assert dropped == 1.0
    dlq_published = registry.get_sample_value(
        "brokerkit_messages_published_total", {"system": backend, "topic": topic + "-dlq"}
    )
    assert dlq_published == 1.0


def test_prometheus_sync(url: str) -> None:
    from prometheus_client import CollectorRegistry

    from brokerkit.prometheus import Metrics

    registry = CollectorRegistry()
    rec = Recorder()
    topic = _topic("prom")
    _scenario_sync(url, [Metrics(registry=registry), rec], topic, topic + "-dlq")
    _check_metrics(registry, rec, brokerkit.make_url(url).scheme, topic)


async def test_prometheus_async(url: str) -> None:
    from prometheus_client import CollectorRegistry

    from brokerkit.prometheus import Metrics

    registry = CollectorRegistry()
    rec = Recorder()
    topic = _topic("prom")
    await _scenario_async(url, [Metrics(registry=registry), rec], topic, topic + "-dlq")
    _check_metrics(registry, rec, brokerkit.make_url(url).scheme, topic)


# -- OpenTelemetry: one trace across two brokers ------------------------------------------


@pytest.fixture
def spans() -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _check_trace(exporter: Any, url: str, other_url: str, first: str, second: str) -> None:
    from opentelemetry.trace import SpanKind, StatusCode

    finished = exporter.get_finished_spans()
    by_name = {s.name: s for s in finished}
    assert set(by_name) == {
        f"publish {first}",
        f"process {first}",
        f"publish {second}",
        f"process {second}",
    }, [s.name for s in finished]
    pub1, proc1 = by_name[f"publish {first}"], by_name[f"process {first}"]
    pub2, proc2 = by_name[f"publish {second}"], by_name[f"process {second}"]
    # one trace, a chain: publish -> process -> (re-)publish on the other broker -> process
    assert len({s.context.trace_id for s in finished}) == 1
    assert pub1.parent is None
    assert proc1.parent.span_id == pub1.context.span_id
    assert pub2.parent.span_id == proc1.context.span_id
    assert proc2.parent.span_id == pub2.context.span_id
    assert [link.context.span_id for link in proc2.links] == [pub2.context.span_id]
    assert (pub1.kind, proc1.kind, pub2.kind, proc2.kind) == (
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    )
    system1, system2 = brokerkit.make_url(url).scheme, brokerkit.make_url(other_url).scheme
    assert pub1.attributes["messaging.system"] == system1
    assert pub1.attributes["messaging.destination.name"] == first
    assert pub1.attributes["messaging.operation.type"] == "send"
    assert proc1.attributes["messaging.system"] == system1
    assert proc1.attributes["messaging.consumer.group.name"] == "g1"
    assert proc1.attributes["messaging.operation.type"] == "process"
    assert proc2.attributes["messaging.system"] == system2
    assert proc2.attributes["messaging.destination.name"] == second
    assert proc2.attributes["messaging.consumer.group.name"] == "g2"
    assert proc2.attributes["brokerkit.outcome"] == "ack"
    assert proc1.attributes["messaging.message.id"]
    assert proc2.attributes["messaging.message.id"]
    if system2 == "redis":
        assert ":" not in pub1.attributes.get("server.address", "")
        assert proc2.attributes["server.address"] == "127.0.0.1"
        assert proc2.attributes["server.port"] == 6379
    assert all(s.status.status_code is not StatusCode.ERROR for s in finished)
    # every span ended after it started, and the process spans end after their publish
    assert all(s.end_time >= s.start_time for s in finished)


def test_trace_crosses_brokers_sync(url: str, other_url: str, spans: Any) -> None:
    from brokerkit.otel import Tracing

    provider, exporter = spans
    tracing = Tracing(tracer_provider=provider)
    first, second = _topic("t1"), _topic("t2")
    with (
        brokerkit.connect(url, instrumentation=[tracing]) as one,
        brokerkit.connect(other_url, instrumentation=[tracing]) as two,
        one.consumer(first, group="g1") as c1,
        two.consumer(second, group="g2") as c2,
    ):
        with one.producer(first) as p1:
            p1.send(b"order-1", wait=True)
        msg = c1.receive(timeout=10)
        assert msg is not None
        assert "traceparent" in msg.headers  # the W3C header other-language consumers read
        with two.producer(second) as p2:
            p2.send(b"order-1 handled", wait=True)  # inside the handling: same trace
        msg.ack()
        out = c2.receive(timeout=10)
        assert out is not None
        assert out.headers["traceparent"].split("-")[1] == msg.headers["traceparent"].split("-")[1]
        out.ack()
    _check_trace(exporter, url, other_url, first, second)


async def test_trace_crosses_brokers_async(url: str, other_url: str, spans: Any) -> None:
    from brokerkit.otel import Tracing

    provider, exporter = spans
    tracing = Tracing(tracer_provider=provider)
    first, second = _topic("t1"), _topic("t2")
    async with (
        brokerkit.connect_async(url, instrumentation=[tracing]) as one,
        brokerkit.connect_async(other_url, instrumentation=[tracing]) as two,
        one.consumer(first, group="g1") as c1,
        two.consumer(second, group="g2") as c2,
    ):
        async with one.producer(first) as p1:
            await p1.send(b"order-1", wait=True)
        msg = await c1.receive(timeout=10)
        assert msg is not None
        async with two.producer(second) as p2:
            await p2.send(b"order-1 handled", wait=True)
        await msg.ack()
        out = await c2.receive(timeout=10)
        assert out is not None
        await out.ack()
    _check_trace(exporter, url, other_url, first, second)


@pytest.mark.memory
def test_after_the_handling_the_context_is_restored(spans: Any) -> None:
    from opentelemetry import trace

    from brokerkit.otel import Tracing

    provider, exporter = spans
    tracer = provider.get_tracer("test")
    with (
        brokerkit.connect(
            "memory://obs-ctx", instrumentation=[Tracing(tracer_provider=provider)]
        ) as broker,
        broker.consumer("t", group="g") as consumer,
        tracer.start_as_current_span("outer") as outer,
    ):
        with broker.producer("t") as producer:
            producer.send_many([b"1", b"2"])
        first = consumer.receive(timeout=5)
        second = consumer.receive(timeout=5)  # the first not settled yet
        assert first is not None
        assert second is not None
        assert trace.get_current_span().name == "process t"  # type: ignore[attr-defined]
        second.ack()
        first.ack()
        assert trace.get_current_span() is outer
    names = [s.name for s in exporter.get_finished_spans()]
    assert names.count("process t") == 2
    assert names.count("publish t") == 2


@pytest.mark.parametrize(
    ("variant", "said"),
    [
        pytest.param(
            "nats",
            [
                "connected to nats at {hosts} (JetStream)",
                "closing the connection to nats at {hosts}",
            ],
            marks=pytest.mark.nats,
        ),
        pytest.param(
            "kafka",
            ["connected to Kafka at {hosts}", "closing the connection to Kafka at {hosts}"],
            marks=pytest.mark.kafka,
        ),
    ],
)
def test_connect_and_close_are_logged_at_info(
    variant: str, said: list[str], session: _Session, caplog: pytest.LogCaptureFixture
) -> None:
    url = _usable_url(variant, session)
    backend = brokerkit.make_url(url).scheme
    caplog.set_level(logging.INFO, logger=f"brokerkit.{backend}")
    brokerkit.connect(url).close()
    hosts = ",".join(f"{h}:{p}" for h, p in brokerkit.make_url(url).hosts)
    records = [r for r in caplog.records if r.name == f"brokerkit.{backend}"]
    assert [r.getMessage() for r in records] == [s.format(hosts=hosts) for s in said]
    assert all(r.levelno == logging.INFO for r in records)


# -- a lost connection: WARNING per reconnect attempt, and the reconnect event ---------------


def _free_port() -> int:
    # (tests/backends/tcp_faults.py has the same; this file is outside that folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A private redis-server (never the shared one) that keeps its data across restarts."""
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--dir", str(workdir), "--appendonly", "yes", "--appendfsync", "always"),
            *("--requirepass", "pw-not-logged"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.05)


@pytest.mark.redis
def test_a_blocking_receive_reconnects_with_a_warning_and_an_event(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis")
    if shutil.which("redis-server") is None:
        unreachable("a private redis-server", "redis-server is not installed")
    port = _free_port()
    server = _start_redis(port, tmp_path)
    caplog.set_level(logging.WARNING, logger="brokerkit.redis")
    rec = Recorder()
    topic = _topic("reconnect")
    try:
        url = f"redis://:pw-not-logged@127.0.0.1:{port}/0"
        with (
            brokerkit.connect(url, reconnect_timeout=1.0, instrumentation=[rec]) as broker,
            broker.consumer(topic, group="obs") as consumer,
        ):
            got: list[brokerkit.Message | None] = []
            reader = threading.Thread(target=lambda: got.append(consumer.receive()))
            reader.start()
            time.sleep(0.3)  # blocked in the read
            server.kill()
            server.wait(timeout=10)
            # Down longer than the driver's own retries (reconnect_timeout): the core retries.
            time.sleep(1.5)
            server = _start_redis(port, tmp_path)
            with broker.producer(topic) as producer:
                producer.send(b"after the outage", wait=True)
            reader.join(timeout=20)
            assert not reader.is_alive()
            assert got[0] is not None
            assert got[0].value == b"after the outage"
            got[0].ack()
    finally:
        server.kill()
        server.wait(timeout=10)
    core = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith(f"consumer of topic {topic!r} (group 'obs'): receiving failed")
    ]
    assert core, [r.getMessage() for r in caplog.records]
    assert "; reconnect attempt 1 in " in core[0]
    assert f"127.0.0.1:{port}" in core[0]  # the error names the server
    assert "pw-not-logged" not in caplog.text
    reconnects = rec.of("reconnect")
    assert reconnects[0] == ("reconnect", topic, 1)
    assert len(reconnects) == len(core)


@pytest.mark.memory
def test_a_publish_hook_that_raises_is_logged_and_sending_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Instrumentation):
        def publish(
            self,
            endpoint: Endpoint,
            records: Sequence[Record],
            errors: Sequence[BaseException | None],
            seconds: float,
        ) -> None:
            raise RuntimeError("hook bug")

    with (
        brokerkit.connect("memory://obs-broken", instrumentation=Broken()) as broker,
        broker.consumer("t", group="g") as consumer,
    ):
        with broker.producer("t") as producer:
            producer.send(b"1", wait=True)
            producer.send_many([b"2", b"3"])
        values = [m.value for m in consumer.receive_many(10, timeout=2)]
    assert values == [b"1", b"2", b"3"]
    failures = [r for r in caplog.records if "instrumentation hook failed" in r.getMessage()]
    assert failures
    assert failures[0].exc_info is not None
    assert str(failures[0].exc_info[1]) == "hook bug"


@pytest.mark.memory
def test_a_message_never_settled_ends_its_span_when_it_goes_away(spans: Any) -> None:
    """A message handed back unsettled (the consumer closed) ends its process span with
    outcome "unsettled" once the application lets go of it; a settled one ends once."""
    import gc

    from brokerkit.otel import Tracing

    provider, exporter = spans
    with brokerkit.connect(
        "memory://obs-unsettled", instrumentation=[Tracing(tracer_provider=provider)]
    ) as broker:
        with broker.consumer("t", group="g") as consumer:
            with broker.producer("t") as producer:
                producer.send_many([b"kept", b"acked"])
            kept = consumer.receive(timeout=5)
            acked = consumer.receive(timeout=5)
            assert kept is not None
            assert acked is not None
            acked.ack()
        process = [s for s in exporter.get_finished_spans() if s.name == "process t"]
        assert [s.attributes["brokerkit.outcome"] for s in process] == ["ack"]
        del kept, acked
        gc.collect()
        process = [s for s in exporter.get_finished_spans() if s.name == "process t"]
        assert sorted(s.attributes["brokerkit.outcome"] for s in process) == ["ack", "unsettled"]
