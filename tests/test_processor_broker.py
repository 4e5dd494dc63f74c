"""Processor.run / run_async on real brokers: every variant with consumer groups and
at-least-once (``processor_url``), with sync and async handlers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import brokerkit
from brokerkit.processor import JSON, HandlingContext, Processor, SQLiteDLQ
from brokerkit.testing import unique_group, unique_topic

WAIT = 20.0  # seconds a condition may take on a busy machine (a timeout, not a measure)

KINDS = ["sync", "async"]


def handler(
    proc: Processor, matcher: Callable[[Any], object], kind: str, **options: Any
) -> Callable[[Callable[[Any, HandlingContext], None]], None]:
    """Register ``body`` as a sync or an async handler (``kind``)."""

    def register(body: Callable[[Any, HandlingContext], None]) -> None:
        if kind == "async":

            async def ahandler(message: Any, ctx: HandlingContext) -> None:
                body(message, ctx)

            proc.handle_for(matcher, name=body.__name__, **options)(ahandler)
        else:

            def shandler(message: Any, ctx: HandlingContext) -> None:
                body(message, ctx)

            proc.handle_for(matcher, name=body.__name__, **options)(shandler)

    return register


async def wait_for(cond: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Running:
    """A processor running in a task of the current loop, ready once subscribed."""

    def __init__(self, proc: Processor, url: str, topic: str, group: str, **kw: Any) -> None:
        self.proc = proc
        self.ready = asyncio.Event()
        proc.before_processing(lambda _ctx: self.ready.set())
        self.task = asyncio.ensure_future(proc.run_async(url, topics=[topic], group=group, **kw))

    async def __aenter__(self) -> Running:
        done, _ = await asyncio.wait(
            [self.task, asyncio.ensure_future(self.ready.wait())],
            timeout=WAIT,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self.task in done:
            self.task.result()
        assert self.ready.is_set(), "the processor did not start"
        return self

    async def stop(self) -> None:
        self.proc.stop()
        await asyncio.wait_for(self.task, WAIT)

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def publish(
    url: str, topic: str, items: list[tuple[bytes, str | None, dict[str, str]]]
) -> None:
    async with brokerkit.connect_async(url) as broker, broker.producer(topic) as producer:
        for value, key, headers in items:
            await producer.send(value, key=key, headers=headers)
        await producer.flush()


async def leftovers(
    url: str, topic: str, group: str, quiet: float = 0.5, first: float | None = None
) -> list[bytes]:
    """What the group still gets (a settled message never comes again); ``first``: how
    long to wait for the first batch (a log broker's new member starts fetching later)."""
    out: list[bytes] = []
    async with brokerkit.connect_async(url) as broker, broker.consumer(topic, group=group) as c:
        wait = quiet if first is None else first
        while True:
            batch = await c.receive_many(100, timeout=wait)
            wait = quiet
            if not batch:
                return out
            for m in batch:
                out.append(m.value)
                await m.ack()


@pytest.mark.parametrize("kind", KINDS)
async def test_routes_retries_and_dead_letters_everything_settled(
    processor_url: str, kind: str, tmp_path: Path
) -> None:
    topic, group = unique_topic(), unique_group()
    proc = Processor(decoder=JSON, retries=2, backoff=0.01)
    dlq = SQLiteDLQ(tmp_path / "dlq.db")
    proc.set_dlq(dlq)
    votes: list[int] = []
    flaky: dict[int, int] = {}

    @handler(proc, lambda m: m.headers.get("event-type") == "vote", kind)
    def count_vote(payload: Any, ctx: HandlingContext) -> None:
        votes.append(payload["photo"])

    @handler(proc, lambda m: m.headers.get("event-type") == "flaky", kind)
    def flaky_once(payload: Any, ctx: HandlingContext) -> None:
        n = flaky[payload["photo"]] = flaky.get(payload["photo"], 0) + 1
        if n < 2:
            raise ConnectionError("try again")
        votes.append(payload["photo"])

    @handler(proc, lambda m: m.headers.get("event-type") == "bad", kind)
    def always_fails(payload: Any, ctx: HandlingContext) -> None:
        raise ValueError(f"photo {payload['photo']} is not allowed")

    @handler(proc, lambda m: m.headers.get("event-type") in ("bad", "twice"), kind)
    def overlapping(payload: Any, ctx: HandlingContext) -> None:
        pass

    items: list[tuple[bytes, str | None, dict[str, str]]] = [
        (json.dumps({"photo": i}).encode(), f"k{i % 3}", {"event-type": "vote"}) for i in range(20)
    ]
    items += [
        (b'{"photo": 100}', None, {"event-type": "flaky"}),
        (b'{"photo": 101}', None, {"event-type": "unknown"}),  # no handler
        (b'{"photo": 102}', None, {"event-type": "twice"}),  # one handler only -> fine
        (b"not json", None, {"event-type": "vote"}),  # decode error
    ]
    async with Running(proc, processor_url, topic, group, concurrency=4):
        await publish(processor_url, topic, items)
        await wait_for(lambda: len(votes) == 21 and len(dlq) == 2, "votes and dead letters")
    assert sorted(votes) == [*range(20), 100]
    assert flaky[100] == 2
    reasons = {e.value: e.reason for e in dlq.list()}
    assert "no handler matches" in reasons[b'{"photo": 101}']
    assert "could not decode" in reasons[b"not json"]
    assert "JSONDecodeError" in reasons[b"not json"]
    entry = next(e for e in dlq.list() if e.value == b"not json")
    assert entry.topic == topic
    assert entry.headers == {"event-type": "vote"}
    assert await leftovers(processor_url, topic, group) == []  # nothing left unsettled


@pytest.mark.parametrize("kind", KINDS)
async def test_exhausted_retries_and_ambiguous_match_dead_letter(
    processor_url: str, kind: str, tmp_path: Path
) -> None:
    topic, group = unique_topic(), unique_group()
    proc = Processor(retries=2, backoff=0.01, dlq=SQLiteDLQ(tmp_path / "dlq.db"))
    calls: list[int] = []

    @handler(proc, lambda m: m.value.startswith(b"bad"), kind)
    def fails(message: Any, ctx: HandlingContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError("boom")

    @handler(proc, lambda m: m.value.startswith(b"b"), kind)
    def also_b(message: Any, ctx: HandlingContext) -> None:
        pass

    goods: list[bytes] = []

    @handler(proc, lambda m: m.value == b"good", kind)
    def good(message: Any, ctx: HandlingContext) -> None:
        goods.append(message.value)

    dlq = proc.dlq
    assert isinstance(dlq, SQLiteDLQ)
    async with Running(proc, processor_url, topic, group):
        await publish(processor_url, topic, [(b"badx", None, {}), (b"good", None, {})])
        await wait_for(lambda: len(dlq) == 1 and goods == [b"good"], "both handled")
    (entry,) = dlq.list()
    assert entry.value == b"badx"
    assert "several handlers match" in entry.reason
    assert "'fails'" in entry.reason
    assert "'also_b'" in entry.reason
    assert calls == []  # an ambiguous message reaches no handler

    proc2 = Processor(retries=2, backoff=0.01, dlq=dlq)

    @handler(proc2, lambda m: True, kind)
    def fails2(message: Any, ctx: HandlingContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError("boom")

    async with Running(proc2, processor_url, topic, group):
        await publish(processor_url, topic, [(b"bad", None, {})])
        await wait_for(lambda: len(dlq) == 2, "the failing message dead-lettered")
    assert calls == [1, 2, 3]
    last = dlq.list()[-1]
    assert last.reason == "handler 'fails2' raised RuntimeError: boom (after 3 attempts)"
    assert await leftovers(processor_url, topic, group) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_explicit_settling_nack_and_dead_letter_topic(
    processor_url: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """ctx.nack(delay) brings the message again; without a store, dead letters go to the
    consumer's dead_letter_topic with the reason, said once in the log (by the consumer)."""
    caplog.set_level(logging.WARNING, logger="brokerkit")
    topic, group, dlt = unique_topic(), unique_group(), unique_topic()
    proc = Processor()
    seen: list[tuple[bytes, int]] = []
    with brokerkit.connect(processor_url) as probe:
        counts = probe.capabilities.delivery_count  # else: nack the first time it is seen

    @handler(proc, lambda m: True, kind)
    def settle(message: Any, ctx: HandlingContext) -> None:
        first = all(value != message.value for value, _ in seen)
        seen.append((message.value, message.delivery_count))
        if message.value == b"again" and (message.delivery_count == 1 if counts else first):
            ctx.nack(delay=0.05)
        elif message.value == b"reject":
            ctx.dead_letter("rejected by the test")
        else:
            ctx.ack()

    async with (
        brokerkit.connect_async(processor_url) as broker,
        broker.consumer(dlt, group="dlq-reader") as dead,
    ):
        async with Running(proc, processor_url, topic, group, dead_letter_topic=dlt):
            await publish(processor_url, topic, [(b"again", None, {}), (b"reject", None, {})])
            await wait_for(
                lambda: (
                    (b"again", 2) in seen
                    if counts
                    else sum(value == b"again" for value, _ in seen) >= 2
                ),
                "the nacked message again",
            )
        got = await dead.receive(timeout=WAIT)
        assert got is not None
        assert got.value == b"reject"
        assert "rejected by the test" in got.headers.values()
        await got.ack()
    assert await leftovers(processor_url, topic, group) == []
    # One log line per dead-lettering (the consumer's, with the delivery count). Where
    # acks are cumulative (Kafka), the nack rewinds the partition and "reject" comes again
    # and is dead-lettered again: once per time the handler saw it.
    said = [r.getMessage() for r in caplog.records if "rejected by the test" in r.getMessage()]
    assert len(said) == sum(value == b"reject" for value, _ in seen), said
    assert all("dead-lettered to" in line for line in said)


@pytest.mark.parametrize("kind", KINDS)
async def test_acks_handed_over_together_stay_settled_around_a_nack(
    processor_url: str, kind: str
) -> None:
    """A lane hands its acks to the consumer together, before a nack and at the end of the
    chunk (with sync commits: one confirmed commit each time): the acked messages never
    come again, the nacked one does, and nothing is left unsettled."""
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    seen: list[bytes] = []
    with brokerkit.connect(processor_url) as probe:
        rewinds = probe.capabilities.cumulative_ack  # a nack reads the partition again

    @handler(proc, lambda m: True, kind)
    def settle(message: Any, ctx: HandlingContext) -> None:
        if message.value == b"slow":
            time.sleep(0.06)  # longer than the ack linger: what came before is handed over
        if message.value == b"nack" and message.value not in seen:
            ctx.nack()
        seen.append(message.value)

    values = [b"a%d" % i for i in range(5)] + [b"slow", b"nack"] + [b"b%d" % i for i in range(5)]
    async with Running(proc, processor_url, topic, group, commit="sync"):
        await publish(processor_url, topic, [(v, None, {}) for v in values])
        await wait_for(lambda: seen.count(b"nack") == 2, "the nacked message again")
        await wait_for(lambda: set(values) <= set(seen), "every message handled")
    if not rewinds:
        assert sorted(seen) == sorted([*values, b"nack"])  # only the nacked one came again
    assert await leftovers(processor_url, topic, group) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_concurrency_keeps_order_per_key(processor_url: str, kind: str) -> None:
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    per_key: dict[str, list[int]] = {}
    lock = threading.Lock()
    active = [0, 0]  # now, max

    @handler(proc, lambda m: True, kind)
    def record(message: Any, ctx: HandlingContext) -> None:
        with lock:
            active[0] += 1
            active[1] = max(active[1], active[0])
        time.sleep(0.0005)  # a little work, so lanes overlap
        key, seq = message.value.decode().split(":")
        with lock:
            per_key.setdefault(key, []).append(int(seq))
            active[0] -= 1

    n_keys, per = 8, 40
    items: list[tuple[bytes, str | None, dict[str, str]]] = [
        (f"k{k}:{i}".encode(), f"k{k}", {}) for i in range(per) for k in range(n_keys)
    ]
    async with Running(proc, processor_url, topic, group, concurrency=4, batch_size=64):
        await publish(processor_url, topic, items)
        await wait_for(lambda: sum(map(len, per_key.values())) == n_keys * per, "every message")
    assert {k: v for k, v in per_key.items()} == {f"k{k}": list(range(per)) for k in range(n_keys)}
    if kind == "sync":
        assert active[1] > 1  # handlers ran side by side on the pool


@pytest.mark.parametrize("kind", KINDS)
async def test_stop_finishes_in_flight_and_hands_back_the_rest(
    processor_url: str, kind: str
) -> None:
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    started = threading.Event()
    release = threading.Event()
    handled: list[bytes] = []

    def body(message: Any, ctx: HandlingContext) -> None:
        if message.value == b"m0":
            started.set()
            release.wait(WAIT)
        handled.append(message.value)

    if kind == "async":

        @proc.handle_for(lambda m: True)
        async def slow(message: Any, ctx: HandlingContext) -> None:
            if message.value == b"m0":
                started.set()
                while not release.is_set():
                    await asyncio.sleep(0.01)
            handled.append(message.value)

    else:
        proc.handle_for(lambda m: True)(body)

    items: list[tuple[bytes, str | None, dict[str, str]]] = [
        (f"m{i}".encode(), None, {}) for i in range(30)
    ]
    run = Running(proc, processor_url, topic, group, batch_size=50)
    async with run:
        await publish(processor_url, topic, items)
        await wait_for(started.is_set, "the first handler")
        stopper = threading.Thread(target=proc.stop)  # stop() from another thread
        stopper.start()
        stopper.join()
        await asyncio.sleep(0.1)
        assert not run.task.done()  # waits for the in-flight handler
        release.set()
    assert handled == [b"m0"]  # in-flight one finished, nothing new started
    rest = await leftovers(processor_url, topic, group, first=WAIT)
    assert sorted(rest) == sorted(f"m{i}".encode() for i in range(1, 30))


def test_sync_run_in_a_thread_stopped_from_another(processor_url: str) -> None:
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    ready = threading.Event()
    got: list[bytes] = []
    proc.before_processing(lambda _ctx: ready.set())

    @proc.handle_for(lambda m: True)
    def collect(message: Any, ctx: HandlingContext) -> None:
        got.append(message.value)

    errors: list[BaseException] = []

    def target() -> None:
        try:
            proc.run(processor_url, topics=topic, group=group, concurrency=2)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    assert ready.wait(WAIT)
    with brokerkit.connect(processor_url) as broker, broker.producer(topic) as producer:
        producer.send_many([b"a", b"b", b"c"])
        producer.flush()
    deadline = time.monotonic() + WAIT
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.stop()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert errors == []
    assert sorted(got) == [b"a", b"b", b"c"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_a_run_in_the_main_thread(processor_url: str, sig: signal.Signals) -> None:
    assert threading.current_thread() is threading.main_thread()
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    after: list[str] = []
    got: list[bytes] = []

    @proc.before_processing
    def send_and_signal(ctx: Any) -> None:
        def later() -> None:
            with brokerkit.connect(processor_url) as broker, broker.producer(topic) as p:
                p.send(b"one")
            deadline = time.monotonic() + WAIT
            while not got and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(os.getpid(), sig)

        threading.Thread(target=later, daemon=True).start()

    @proc.after_processing
    def done(ctx: Any) -> None:
        after.append("stopped")

    @proc.handle_for(lambda m: True)
    def take(message: Any, ctx: HandlingContext) -> None:
        got.append(message.value)

    previous = signal.getsignal(sig)
    proc.run(processor_url, topics=topic, group=group)
    assert got == [b"one"]
    assert after == ["stopped"]
    assert signal.getsignal(sig) == previous  # our handler is gone again


async def test_hooks_and_state_on_a_broker(processor_url: str) -> None:
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    events: list[str] = []

    @proc.before_processing
    async def start(pctx: Any) -> None:
        pctx.state.seen = 0
        events.append(f"start {pctx.topics[0] == topic} {pctx.group == group}")

    @proc.before_handling
    def before(pctx: Any, hctx: HandlingContext) -> None:
        hctx.state.t0 = time.perf_counter()

    @proc.after_handling
    async def after(pctx: Any, hctx: HandlingContext) -> None:
        pctx.state.seen += 1
        events.append(f"{hctx.handler} {hctx.message.value!r} {hctx.decision} {hctx.state.t0 > 0}")

    @proc.after_processing
    def stop(pctx: Any) -> None:
        events.append(f"stop {pctx.state.seen}")

    @proc.handle_for(lambda m: True, name="h")
    def h(message: Any, ctx: HandlingContext) -> None:
        pass

    async with Running(proc, processor_url, topic, group):
        await publish(processor_url, topic, [(b"x", None, {})])
        await wait_for(lambda: len(events) == 2, "one handling")
    assert events == ["start True True", "h b'x' (0, None) True", "stop 1"]


WORKER = """
import brokerkit

proc = brokerkit.Processor(retries=0)
handled = []


@proc.handle_for(lambda m: m.value != b"poison")
def take(message, ctx):
    handled.append(message.value)
    print("handled", message.value.decode(), flush=True)


@proc.before_processing
def ready(ctx):
    print("ready", flush=True)
"""


def test_run_command_logs_start_dead_letter_and_stop(
    processor_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`brokerkit run module:proc` in this process (main thread), stopped by SIGTERM."""
    import sys

    from brokerkit._cli import main

    module = f"worker_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(WORKER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    caplog.set_level(logging.INFO, logger="brokerkit.processor")
    topic, group = unique_topic(), unique_group()

    def send_then_terminate() -> None:
        deadline = time.monotonic() + WAIT
        while module not in sys.modules or "processor started" not in caplog.text:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        with brokerkit.connect(processor_url) as broker, broker.producer(topic) as p:
            p.send_many([b"a", b"poison", b"b"])
        worker = sys.modules[module]
        while len(worker.handled) < 2 or "dead letter:" not in caplog.text:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=send_then_terminate, daemon=True).start()
    code = main(
        ["run", f"{module}:proc", "--url", processor_url, "-t", topic, "-g", group, "-c", "2"]
    )
    assert code == 0
    assert sys.modules[module].handled == [b"a", b"b"]
    lines = [r.getMessage() for r in caplog.records if r.name == "brokerkit.processor"]
    assert any(line.startswith("processor started:") for line in lines)
    assert any(line.startswith("dead letter:") and "no handler matches" in line for line in lines)
    assert any(line.startswith("processor received SIGTERM") for line in lines)
    assert any(
        line.startswith("processor stopped:") and "dead-lettered=1" in line for line in lines
    )
    assert not any("password" in line for line in lines)


def test_run_command_in_its_own_process_stops_on_sigterm(
    processor_url: str, tmp_path: Path
) -> None:
    """The installed entry point, in a process of its own, against a broker that other
    processes reach (the in-process memory:// broker cannot be shared)."""
    import subprocess
    import sys

    with brokerkit.connect(processor_url) as probe:
        if not probe.capabilities.persistent:  # the in-process brokers (memory:// and kin)
            pytest.skip("an in-process broker cannot be shared with another process")
    (tmp_path / "votes_worker.py").write_text(WORKER)
    topic, group = unique_topic(), unique_group()
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    args = ["votes_worker:proc", "--url", processor_url, "--topic", topic, "--group", group]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from brokerkit._cli import main; sys.exit(main())",
            "run",
            *args,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        with brokerkit.connect(processor_url) as broker, broker.producer(topic) as p:
            p.send_many([b"x", b"y"])
        assert proc.stdout.readline().strip() == "handled x"
        assert proc.stdout.readline().strip() == "handled y"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "processor started:" in err
    assert "processor received SIGTERM: stopping" in err
    assert "processor stopped:" in err


async def test_bench_compares_processor_with_hand_written_loop(processor_url: str) -> None:
    """The bench runs (tiny here: correctness only; the figures are in docs/benchmarks.md)."""
    from brokerkit.bench.processor import compare

    rates = await compare(processor_url, n=300, rounds=1, batch_size=100)
    assert set(rates) == {
        "hand-written loop",
        "processor (async handler)",
        "processor (sync handler)",
    }
    assert all(rate > 0 for rate in rates.values())


async def test_async_handlers_run_concurrently(processor_url: str) -> None:
    """With concurrency=4, four async handlers are in flight at once (keyless messages
    spread over the lanes)."""
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    active = [0, 0]
    all_in = asyncio.Event()
    done: list[bytes] = []

    @proc.handle_for(lambda m: True)
    async def overlapping(message: Any, ctx: HandlingContext) -> None:
        active[0] += 1
        active[1] = max(active[1], active[0])
        if active[0] == 4:
            all_in.set()
        try:
            await asyncio.wait_for(all_in.wait(), WAIT)
        finally:
            active[0] -= 1
        done.append(message.value)

    async with Running(proc, processor_url, topic, group, concurrency=4):
        await publish(processor_url, topic, [(b"%d" % i, None, {}) for i in range(8)])
        await wait_for(lambda: len(done) == 8, "every message")
    assert active[1] == 4


async def test_sync_run_called_where_an_event_loop_runs(processor_url: str) -> None:
    """run() from a thread that runs an event loop (here: this async test) runs the
    processor's loop in a thread of its own, and returns once stopped."""
    topic, group = unique_topic(), unique_group()
    proc = Processor()
    got: list[bytes] = []

    @proc.before_processing
    def publish_one(ctx: Any) -> None:
        with brokerkit.connect(processor_url) as broker, broker.producer(topic) as producer:
            producer.send(b"only")

    @proc.handle_for(lambda m: True)
    def take_and_stop(message: Any, ctx: HandlingContext) -> None:
        got.append(message.value)
        proc.stop()

    proc.run(processor_url, topics=topic, group=group)
    assert got == [b"only"]
    assert not proc.running


@pytest.mark.parametrize("kind", KINDS)
async def test_acks_handed_over_together_reach_the_instrumentation(
    processor_url: str, kind: str
) -> None:
    """A lane hands its acks to the consumer in one call: each still makes an ack event,
    so metrics and traces count a processor's messages like any other consumer's."""
    acked: list[bytes] = []

    class Acks(brokerkit.Instrumentation):
        def ack(self, endpoint: brokerkit.Endpoint, message: Any, seconds: float) -> None:
            acked.append(message.value)

    topic, group = unique_topic(), unique_group()
    proc = Processor()
    seen: list[bytes] = []

    @handler(proc, lambda m: True, kind)
    def take(message: Any, ctx: HandlingContext) -> None:
        seen.append(message.value)

    values = [b"m%d" % i for i in range(20)]
    hook = Acks()
    brokerkit.instrument(hook)
    try:
        async with Running(proc, processor_url, topic, group):
            await publish(processor_url, topic, [(v, None, {}) for v in values])
            await wait_for(lambda: set(values) <= set(seen), "every message handled")
    finally:
        brokerkit.uninstrument(hook)
    assert sorted(set(acked)) == sorted(values)


async def test_acks_are_not_held_back_by_slow_handlers_with_several_handlers(
    processor_url: str,
) -> None:
    """With several handlers (the general path), a queued ack goes to the consumer once a
    later handler returns after ACK_LINGER, not only at the end of the chunk: the third
    handler here waits for the first message's ack, which comes after the second (slow)
    handler returned."""
    from brokerkit.processor._engine import ACK_LINGER

    acked = asyncio.Event()
    waited: list[bool] = []

    class Acks(brokerkit.Instrumentation):
        def ack(self, endpoint: brokerkit.Endpoint, message: Any, seconds: float) -> None:
            if message.value == b"fast":
                acked.set()

    topic, group = unique_topic(), unique_group()
    proc = Processor()

    @proc.handle_for(lambda m: m.value == b"fast", name="fast")
    async def fast(message: Any, ctx: HandlingContext) -> None:
        pass

    @proc.handle_for(lambda m: m.value == b"slow", name="slow")
    async def slow(message: Any, ctx: HandlingContext) -> None:
        await asyncio.sleep(ACK_LINGER * 3)

    @proc.handle_for(lambda m: m.value == b"last", name="last")
    async def last(message: Any, ctx: HandlingContext) -> None:
        try:
            await asyncio.wait_for(acked.wait(), 3)
            waited.append(True)
        except TimeoutError:
            waited.append(False)

    hook = Acks()
    brokerkit.instrument(hook)
    try:
        await publish(processor_url, topic, [])  # the topic exists before the group reads
        async with Running(proc, processor_url, topic, group, concurrency=1):
            items: list[tuple[bytes, str | None, dict[str, str]]] = [
                (v, None, {}) for v in (b"fast", b"slow", b"last")
            ]
            await publish(processor_url, topic, items)
            await wait_for(lambda: bool(waited), "the last handler")
    finally:
        brokerkit.uninstrument(hook)
    assert waited == [True]
