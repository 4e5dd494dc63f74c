"""The benchmark suite (brokerkit.bench): counting, histograms, workloads, outputs, CLI.

No timing thresholds: the runs here are tiny and only their correctness is checked.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("hdrh")
pytest.importorskip("rich")
pytest.importorskip("matplotlib")

import brokerkit
from brokerkit._cli import main as brokerkit_main
from brokerkit.bench.baselines import get_baseline
from brokerkit.bench.baselines.memory import BASELINE as MEMORY_BASELINE
from brokerkit.bench.cli import main as bench_main
from brokerkit.bench.export import CSV_FIELDS
from brokerkit.bench.payload import HEADER, PRIMER_STAMP, KeyPlan, PayloadFactory
from brokerkit.bench.results import CHECK_FAILED, OK, UNSUPPORTED, summarize_runs
from brokerkit.bench.runner import NoProgress, probe, run_once
from brokerkit.bench.schedule import run_jobs, schedule
from brokerkit.bench.stats import (
    Ledger,
    Tracker,
    fold,
    new_histogram,
    summarize,
    verify,
)
from brokerkit.bench.targets import AsyncReceiver, AsyncSession, Setup
from brokerkit.bench.workload import (
    WorkloadError,
    builtin_workloads,
    find_workload,
    from_mapping,
    with_overrides,
)

pytestmark = pytest.mark.memory

TINY = """\
description = "tiny: for tests"
message_size = 64
message_count = 2000
batch_size = 100
api = ["async", "sync"]
drain_timeout = 1.0
"""


def payloads(ids: list[int], sent_ns: int = 1_000) -> list[bytes]:
    return [HEADER.pack(sent_ns, i) + b"x" * 8 for i in ids]


# -- counting --------------------------------------------------------------------------------


def test_a_gap_and_a_duplicate_are_counted() -> None:
    tracker = Tracker(expected=10)
    tracker.record(payloads([0, 1, 2, 3, 5, 6, 7]), now_ns=2_000)
    tracker.record(payloads([7, 8, 9]), now_ns=3_000)  # 7 again; 4 never comes
    ledger = Ledger(producers=1, attempted=[10])
    counts = verify(ledger, [tracker])
    assert (counts.lost, counts.duplicates, counts.unexpected, counts.unique) == (1, 1, 0, 9)
    assert tracker.received == 10
    assert tracker.unique == 9


def test_a_clean_stream_counts_nothing_wrong() -> None:
    tracker = Tracker()  # no size given: grows as ids come
    tracker.record(payloads(list(range(5000))), now_ns=2_000)
    counts = verify(Ledger(producers=1, attempted=[5000]), [tracker])
    assert (counts.lost, counts.duplicates, counts.unexpected, counts.unique) == (0, 0, 0, 5000)


def test_refused_sends_are_not_lost_and_unknown_ids_are_flagged() -> None:
    ledger = Ledger(producers=2, attempted=[5, 5])
    ledger.fail(1, 2, 2, brokerkit.DeliveryError("refused"))  # producer 1, locals 2-3: ids 5, 7
    tracker = Tracker()
    # producer 0 sends 0,2,4,6,8; producer 1 sends 1,3,5,7,9. 5 and 7 were refused and
    # did not come; 8 is lost; 42 was never sent.
    tracker.record(payloads([0, 2, 4, 6, 1, 3, 9, 42]), now_ns=2_000)
    counts = verify(ledger, [tracker])
    assert (counts.lost, counts.unexpected) == (1, 1)
    assert ledger.acked == 8
    assert ledger.error_count == 1
    assert ledger.errors == ["DeliveryError: refused"]


def test_a_failed_flush_makes_every_message_of_the_producer_unacknowledged() -> None:
    ledger = Ledger(producers=1, attempted=[10])
    ledger.fail(0, 0, 2, brokerkit.DeliveryError("one"))
    ledger.fail_all(0, 10, brokerkit.TimeoutError("flush"))
    assert ledger.acked == 0
    assert verify(ledger, [Tracker()]).lost == 0


def test_duplicates_across_the_consumers_of_a_group_and_with_fanout() -> None:
    first, second = Tracker(), Tracker()
    first.record(payloads([0, 1, 2]), now_ns=2_000)
    second.record(payloads([2, 3]), now_ns=2_000)
    ledger = Ledger(producers=1, attempted=[4])
    shared = verify(ledger, [first, second])
    assert (shared.lost, shared.duplicates, shared.unique) == (0, 1, 4)
    fanout = verify(ledger, [first, second], fanout=True)  # each should have had all 4
    assert (fanout.lost, fanout.duplicates, fanout.unique) == (3, 0, 5)


def test_payload_ids_are_unique_across_producers_and_keys_follow_the_plan() -> None:
    factories = [PayloadFactory(32, index, 3) for index in range(3)]
    ids = [HEADER.unpack_from(p)[1] for f in factories for p in f.batch(0, 4, 123)]
    assert sorted(ids) == list(range(12))
    assert all(len(p) == 32 for p in factories[0].batch(4, 2, 5))
    assert HEADER.unpack_from(factories[2].batch(1, 1, 77)[0]) == (77, 5)
    robin = KeyPlan("round-robin", 3)
    assert robin.keys(0, 4) == [b"key-0", b"key-1", b"key-2", b"key-0"]
    assert KeyPlan("none", 3).keys(0, 4) is None
    random_keys = KeyPlan("random", 5).keys(10, 100)
    assert random_keys is not None
    assert set(random_keys) <= {f"key-{i}".encode() for i in range(5)}


# -- histogram -------------------------------------------------------------------------------


def test_histogram_percentiles() -> None:
    histogram = new_histogram()
    fold(histogram, [ms * 1_000_000 for ms in range(1, 1001)])  # 1 ms .. 1000 ms, once each
    summary = summarize(histogram)
    assert summary is not None
    assert summary.count == 1000
    for got, want in ((summary.p50, 500), (summary.p95, 950), (summary.p99, 990)):
        assert got == pytest.approx(want, rel=2e-3)
    assert summary.p999 == pytest.approx(999, rel=2e-3)
    assert summary.max == pytest.approx(1000, rel=2e-3)
    assert next(p for p, _ in summary.curve) == 0.0
    assert summary.curve[-1][0] == 100.0
    assert summarize(new_histogram()) is None


def test_tracker_latencies_reach_the_histogram() -> None:
    tracker = Tracker()
    tracker.record(payloads([0, 1], sent_ns=1_000_000), now_ns=3_000_000)  # 2 ms each
    tracker.flush()
    summary = summarize(tracker.histogram)
    assert summary is not None
    assert summary.count == 2
    assert summary.p50 == pytest.approx(2.0, rel=2e-3)


# -- workloads -------------------------------------------------------------------------------


def test_the_builtin_workloads_load() -> None:
    workloads = {name: find_workload(name) for name in builtin_workloads()}
    at_least = workloads["max-throughput"]
    assert at_least.guarantee == "at-least-once"
    assert at_least.rate == 0
    assert workloads["max-throughput-at-most-once"].guarantee == "at-most-once"
    assert workloads["fixed-rate-latency"].rate > 0
    assert workloads["fixed-rate-latency"].duration is not None
    assert workloads["large-messages"].message_size == 64 * 1024
    small = workloads["small-batched"]
    assert small.message_size <= 64
    assert small.batch_size >= 1000
    for workload in workloads.values():
        assert workload.description
        assert workload.source.endswith(".toml")


def test_bad_workloads_say_what_is_wrong() -> None:
    with pytest.raises(WorkloadError, match=r"unknown setting 'mesage_size'.*'message_size'"):
        from_mapping("w", {"mesage_size": 10})
    with pytest.raises(WorkloadError, match=r"message_size must be an integer >= 16"):
        from_mapping("w", {"message_size": 8})
    with pytest.raises(WorkloadError, match=r"guarantee must be one of"):
        from_mapping("w", {"guarantee": "exactly-once"})
    with pytest.raises(WorkloadError, match="either message_count or duration"):
        from_mapping("w", {"message_count": 5, "duration": 1.0})
    with pytest.raises(WorkloadError, match=r"unknown workload 'max-troughput'.*did you mean"):
        find_workload("max-troughput")
    with pytest.raises(WorkloadError, match="does not exist"):
        find_workload("/nonexistent/w.toml")


def test_overrides_replace_settings() -> None:
    workload = find_workload("max-throughput")
    changed = with_overrides(
        workload, {"duration": 2.5, "api": "sync", "batch_size": 10, "prefetch": 10}
    )
    assert "prefetch 10" in changed.describe()
    assert changed.duration == 2.5
    assert changed.message_count is None
    assert changed.api == ("sync",)
    assert changed.batch_size == 10
    assert with_overrides(changed, {"message_count": 7}).duration is None


# -- runs ------------------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_runs_on_memory_count_everything_once(tiny: Path) -> None:
    workload = with_overrides(find_workload(str(tiny)), {"producers": 2, "consumers": 2})
    jobs = schedule([workload], [probe("memory://bk-bench-runs")], repeat=2, warmup=True)
    assert sum(job.warmup for job in jobs) == 2 * 2  # api x target
    assert {job.workload.message_count for job in jobs if job.warmup} == {1000}
    runs = run_jobs(jobs)
    assert len(runs) == 2 * 2 * 2  # api x repeat x target: warm-ups are not reported
    assert {r.target for r in runs} == {"brokerkit", "raw"}
    for run in runs:
        assert run.status == OK, run.note
        assert (run.acked, run.unique, run.lost, run.duplicates) == (2000, 2000, 0, 0)
        assert run.produce_rate > 0
        assert run.consume_rate > 0
        assert run.cpu_seconds > 0
        latency = run.latency
        assert latency is not None
        # each producer's primer went out before the clock, so it is not timed
        assert latency.count == 2000 - 2
        assert 0 < latency.p50 <= latency.p95 <= latency.p99 <= latency.p999 <= latency.max
    rows = summarize_runs(runs)
    assert len(rows) == 4
    for row in rows:
        assert (row.produce_ratio is not None) == (row.target == "brokerkit")


class _LossyReceiver:
    """Drops message 10 and delivers message 20 twice."""

    def __init__(self, inner: AsyncReceiver) -> None:
        self._inner = inner

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        values = await self._inner.receive(max_messages, timeout)
        out = []
        for value in values:
            ident = HEADER.unpack_from(value)[1]
            if ident != 10:
                out.append(value)
            if ident == 20:
                out.append(value)
        return out

    async def ack(self) -> None:
        await self._inner.ack()

    async def close(self) -> None:
        await self._inner.close()


class _LossySession:
    def __init__(self, inner: AsyncSession) -> None:
        self._inner = inner

    async def sender(self, topic: str) -> Any:
        return await self._inner.sender(topic)

    async def receiver(self, topic: str) -> _LossyReceiver:
        return _LossyReceiver(await self._inner.receiver(topic))

    async def close(self) -> None:
        await self._inner.close()


class _LossyTarget:
    name = "lossy"

    async def open_async(self, setup: Setup) -> _LossySession:
        return _LossySession(await MEMORY_BASELINE.open_async(setup))

    def open_sync(self, setup: Setup) -> Any:
        raise NotImplementedError


def test_a_run_that_loses_and_duplicates_fails_its_check(tiny: Path) -> None:
    workload = find_workload(str(tiny))
    result = run_once(_LossyTarget(), probe("memory://"), workload, "async", 0, NoProgress(), None)
    assert (result.lost, result.duplicates, result.unique) == (1, 1, 1999)
    assert result.status == CHECK_FAILED
    assert "1 acknowledged message(s) lost" in result.note


class _RecordingSender:
    """Records what the harness asks of a sender, in order."""

    def __init__(self, inner: Any, calls: list[tuple[str, Any]]) -> None:
        self._inner = inner
        self._calls = calls

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        self._calls.append(("send", [HEADER.unpack_from(v) for v in values]))
        await self._inner.send(values, keys)

    async def flush(self) -> None:
        self._calls.append(("flush", None))
        await self._inner.flush()

    async def close(self) -> None:
        await self._inner.close()


class _RecordingReceiver:
    def __init__(self, inner: Any, calls: list[tuple[str, Any]]) -> None:
        self._inner = inner
        self._calls = calls

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        values: list[bytes] = await self._inner.receive(max_messages, timeout)
        if values:
            self._calls.append(("receive", [HEADER.unpack_from(v) for v in values]))
        return values

    async def ack(self) -> None:
        await self._inner.ack()

    async def close(self) -> None:
        await self._inner.close()


class _RecordingTarget:
    """The memory baseline, with every send, flush and non-empty receive recorded."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def open_async(self, setup: Setup) -> Any:
        inner = await MEMORY_BASELINE.open_async(setup)
        calls = self.calls

        class Session:
            async def sender(self, topic: str) -> _RecordingSender:
                return _RecordingSender(await inner.sender(topic), calls)

            async def receiver(self, topic: str) -> _RecordingReceiver:
                return _RecordingReceiver(await inner.receiver(topic), calls)

            async def close(self) -> None:
                await inner.close()

        return Session()

    def open_sync(self, setup: Setup) -> Any:
        raise NotImplementedError


def test_each_producer_primes_before_the_clock(tiny: Path) -> None:
    """The first message goes alone, is flushed (acknowledged) and received before any other
    is sent, carries the primer stamp, and is counted like the rest but not timed."""
    target = _RecordingTarget()
    result = run_once(
        target, probe("memory://"), find_workload(str(tiny)), "async", 0, NoProgress(), None
    )
    assert result.status == OK, result.note
    assert (result.acked, result.unique, result.lost) == (2000, 2000, 0)
    assert target.calls[:3] == [
        ("send", [(PRIMER_STAMP, 0)]),
        ("flush", None),
        ("receive", [(PRIMER_STAMP, 0)]),
    ]
    later = [stamp for kind, sent in target.calls[3:] if kind == "send" for stamp, _ in sent]
    assert later
    assert min(later) > 0
    assert result.latency is not None
    assert result.latency.count == 1999


def test_phases_apart_consume_after_the_last_send(tiny: Path) -> None:
    """phases = "apart": no message is received (beyond the primer) before the producers
    are done."""
    workload = with_overrides(find_workload(str(tiny)), {"phases": "apart"})
    assert "producing then consuming" in workload.describe()
    target = _RecordingTarget()
    result = run_once(target, probe("memory://"), workload, "async", 0, NoProgress(), None)
    assert result.status == OK, result.note
    assert (result.acked, result.unique, result.lost) == (2000, 2000, 0)
    kinds = [kind for kind, _ in target.calls[3:]]
    last_send = max(i for i, kind in enumerate(kinds) if kind in ("send", "flush"))
    first_receive = kinds.index("receive")
    assert last_send < first_receive


def test_phases_must_be_together_or_apart() -> None:
    with pytest.raises(WorkloadError, match="phases must be one of 'together', 'apart'"):
        from_mapping("w", {"phases": "serial"})


def test_unsupported_workloads_are_skipped_not_failed(tiny: Path) -> None:
    pytest.importorskip("redis")
    endpoint = probe("redis://127.0.0.1:6379/0?mode=pubsub")  # no I/O: not contacted
    jobs = schedule([find_workload(str(tiny))], [endpoint])
    assert jobs
    assert all(job.skip for job in jobs)
    runs = run_jobs(jobs)
    assert {r.status for r in runs} == {UNSUPPORTED}
    assert "at-least-once" in runs[0].note


def test_every_scheme_with_a_builtin_baseline_resolves() -> None:
    for scheme in ("memory", "redis", "rediss"):
        if scheme != "memory":
            pytest.importorskip("redis")
        baseline = get_baseline(scheme)
        assert baseline is not None
        assert baseline.name == "raw"
    assert get_baseline("nosuch") is None


# -- the command line ------------------------------------------------------------------------


def test_the_command_runs_and_writes_every_output(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "brokerkit.bench", "memory://", "-w", str(tiny), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for header in ("backend", "produce/s", "consume/s", "ms p50 / p99 / max", "x raw", "CPU µs"):
        assert header in result.stdout
    assert "memory://" in result.stdout
    assert "brokerkit" in result.stdout
    document = json.loads((out / "results.json").read_text())
    assert {"environment", "workloads", "summary", "runs"} <= set(document)
    assert document["environment"]["brokerkit"] == brokerkit.__version__
    assert len(document["summary"]) == 4
    assert len(document["runs"]) == 4
    assert all(run["lost"] == 0 and run["status"] == "ok" for run in document["runs"])
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_FIELDS
    assert len(rows) == 4
    assert float(rows[0]["produce_msgs_per_s"]) > 0
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "**tiny**" in markdown
    assert "| `memory://` | async | brokerkit |" in markdown
    from matplotlib.image import imread

    for name in ("throughput-tiny.png", "latency-tiny.png"):
        path = out / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width, _ = imread(path).shape
        assert width > 400
        assert height > 300


def test_brokerkit_bench_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert brokerkit_main(["bench", "--list-workloads"]) == 0
    listed = capsys.readouterr().out
    for name in ("max-throughput", "fixed-rate-latency", "large-messages", "small-batched"):
        assert name in listed


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["memory://", "-w", "no-such-workload"], "unknown workload 'no-such-workload'"),
        (["nosuch://host"], "bad URL 'nosuch://host'"),
        (["memory://?bogus=1"], "bogus"),
        (["memory://", "--set", "batch_size=0"], "batch_size must be an integer >= 1"),
        (["memory://", "--set", "nonsense"], "--set expects KEY=VALUE"),
        ([], "give at least one broker URL"),
    ],
)
def test_bad_input_is_a_clear_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert bench_main([*argv, "-o", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err + captured.out


def test_bad_input_through_the_brokerkit_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert brokerkit_main(["bench", "memory://", "-w", "nope"]) == 2
    assert "built-in workloads: " in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        brokerkit_main(["bench", "--repeat", "x"])
    assert exc.value.code == 2


# -- redis -----------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_streams_and_pubsub_against_their_raw_clients(tiny: Path) -> None:
    redis = pytest.importorskip("redis")
    from brokerkit.testing._support import unreachable

    prefix = f"bk-bench-test-{uuid.uuid4().hex[:8]}-"
    url = f"redis://127.0.0.1:6379/0?key_prefix={prefix}"
    try:
        brokerkit.connect(url, connect_timeout=2).close()
    except brokerkit.BrokerError as exc:
        unreachable(url, exc)
    at_least = find_workload(str(tiny))
    at_most = with_overrides(at_least, {"guarantee": "at-most-once", "api": "async"})
    jobs = schedule([at_least], [probe(url)]) + schedule([at_most], [probe(url + "&mode=pubsub")])
    runs = run_jobs(jobs)
    assert len(runs) == 6
    for run in runs:
        assert run.status == OK, run.note
        assert (run.unique, run.lost, run.duplicates) == (2000, 0, 0)
    with redis.Redis(host="127.0.0.1", port=6379) as client:
        assert not list(client.scan_iter(match=f"{prefix}*")), "a run left its streams behind"
