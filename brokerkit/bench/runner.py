"""One measured run: a workload against one URL, through one target (brokerkit or a raw
client) and one API, in a fresh connection on fresh topics that are deleted afterwards."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import brokerkit

from ._async import loops as aloops
from ._sync import loops
from .harness import Plan, Shared
from .payload import KeyPlan, PayloadFactory
from .results import CHECK_FAILED, FAILED, UNSUPPORTED, RunResult
from .stats import Ledger, Tracker, fold, merged, new_histogram, summarize, verify
from .targets import Baseline, Setup, Target, Unsupported
from .workload import Workload

__all__ = ["Endpoint", "NoProgress", "Progress", "probe", "run_once"]

TOPIC_PREFIX = "bk-bench-"
TICK = 0.2


class Progress(Protocol):
    """Where the runner reports progress (the CLI draws a progress bar)."""

    def start_run(self, label: str, expected: int | None) -> None: ...

    def tick(self, received: int) -> None: ...

    def end_run(self, result: RunResult) -> None: ...


class NoProgress:
    def start_run(self, label: str, expected: int | None) -> None:
        return None

    def tick(self, received: int) -> None:
        return None

    def end_run(self, result: RunResult) -> None:
        return None


@dataclass(frozen=True)
class Endpoint:
    """A URL as the runner needs it: validated, password masked, and what it can do."""

    url: str
    shown: str
    scheme: str
    capabilities: brokerkit.Capabilities

    @property
    def fanout(self) -> bool:
        return not self.capabilities.consumer_groups

    def unsupported(self, workload: Workload) -> str:
        """Why ``workload`` cannot run here ("" when it can)."""
        caps = self.capabilities
        if workload.guarantee == "at-least-once" and not caps.at_least_once:
            return "no at-least-once delivery here"
        if workload.guarantee == "at-most-once" and not caps.at_most_once:
            return "no at-most-once delivery here"
        return ""


def probe(url: str) -> Endpoint:
    """Validate ``url`` without connecting; ConfigurationError names what is wrong."""
    broker = brokerkit.connect_async(url)
    return Endpoint(url, broker.url.render(), broker.url.scheme, broker.capabilities)


# -- one run -------------------------------------------------------------------------------


def _plans(workload: Workload) -> list[Plan]:
    producers = workload.producers
    count = workload.message_count
    interval = 0
    if workload.rate:
        interval = max(1, round(1e9 * producers / workload.rate))
    plans = []
    for index in range(producers):
        share = None if count is None else count // producers + (index < count % producers)
        plans.append(
            Plan(
                index=index,
                payloads=PayloadFactory(workload.message_size, index, producers),
                keys=KeyPlan(workload.keys, workload.key_count, index),
                batch_size=workload.batch_size,
                count=share,
                duration_ns=None if workload.duration is None else int(workload.duration * 1e9),
                interval_ns=interval,
            )
        )
    return plans


def _shared(workload: Workload, fanout: bool) -> Shared:
    expected = workload.message_count or 0
    return Shared(
        ledger=Ledger(workload.producers),
        trackers=[Tracker(expected) for _ in range(workload.consumers)],
        fanout=fanout,
        drain_timeout_ns=int(workload.drain_timeout * 1e9),
        ack=workload.guarantee == "at-least-once",
        batch_size=workload.batch_size,
    )


#: How long the consumers may take to receive the primers before the clock starts.
PRIMING_TIMEOUT = 60.0


def _primers(workload: Workload, shared: Shared) -> int:
    """How many primers the consumers receive between them: every acknowledged one once, or
    with fanout once per consumer of its topic."""
    topics = workload.topics
    primed = [
        i
        for i in range(workload.producers)
        if shared.ledger.attempted[i] and not any(f[0] == i for f in shared.ledger.failed)
    ]
    if not shared.fanout:
        return len(primed)
    readers = [sum(1 for c in range(workload.consumers) if c % topics == t) for t in range(topics)]
    return sum(readers[i % topics] for i in primed)


async def _watch(tasks: Sequence[asyncio.Future[None]], on_tick: Callable[[], None]) -> None:
    """Wait for ``tasks``, ticking the progress; the first failure cancels the rest."""
    pending: set[asyncio.Future[None]] = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=TICK, return_when=asyncio.FIRST_EXCEPTION
            )
            on_tick()
            for task in done:
                task.result()  # raise the first failure
    finally:
        for task in pending:
            task.cancel()


async def _run_async(
    target: Target, setup: Setup, topics: list[str], shared: Shared, on_tick: Callable[[], None]
) -> float:
    workload = setup.workload
    session = await target.open_async(setup)
    try:
        receivers = [
            await session.receiver(topics[i % len(topics)]) for i in range(workload.consumers)
        ]
        senders = [await session.sender(topics[i % len(topics)]) for i in range(workload.producers)]
        plans = _plans(workload)
        # Before the clock: each producer's first message, acknowledged, then received.
        await asyncio.gather(
            *(aloops.prime(s, p, shared) for s, p in zip(senders, plans, strict=True))
        )
        expected = _primers(workload, shared)
        deadline = time.perf_counter_ns() + int(PRIMING_TIMEOUT * 1e9)
        await asyncio.gather(
            *(
                aloops.receive_primers(r, t, shared, expected, deadline)
                for r, t in zip(receivers, shared.trackers, strict=True)
            )
        )
        shared.producers_running = len(senders)
        cpu = time.process_time()
        shared.start_ns = shared.consume_start_ns = time.perf_counter_ns()
        producing = [
            asyncio.ensure_future(aloops.produce(s, p, shared))
            for s, p in zip(senders, plans, strict=True)
        ]
        if workload.phases == "apart":
            await _watch(producing, on_tick)
            producing = []
            shared.consume_start_ns = time.perf_counter_ns()
        consuming = [
            asyncio.ensure_future(aloops.consume(r, t, shared))
            for r, t in zip(receivers, shared.trackers, strict=True)
        ]
        await _watch(consuming + producing, on_tick)
        cpu = time.process_time() - cpu
        for receiver in receivers:
            await receiver.close()
        for sender in senders:
            await sender.close()
    finally:
        await session.close()
    return cpu


def _run_sync(
    target: Target, setup: Setup, topics: list[str], shared: Shared, on_tick: Callable[[], None]
) -> float:
    workload = setup.workload
    session = target.open_sync(setup)
    failures: list[BaseException] = []

    def guarded(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
        def run() -> None:
            try:
                fn(*args)
            except BaseException as exc:
                failures.append(exc)
                shared.aborted = True

        return run

    def run_threads(threads: list[threading.Thread]) -> None:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(TICK)
                on_tick()
        if failures:
            raise failures[0]

    try:
        receivers = [session.receiver(topics[i % len(topics)]) for i in range(workload.consumers)]
        senders = [session.sender(topics[i % len(topics)]) for i in range(workload.producers)]
        plans = _plans(workload)
        trackers = shared.trackers
        # Before the clock: each producer's first message, acknowledged, then received.
        for sender, plan in zip(senders, plans, strict=True):
            loops.prime(sender, plan, shared)
        expected = _primers(workload, shared)
        deadline = time.perf_counter_ns() + int(PRIMING_TIMEOUT * 1e9)
        run_threads(
            [
                threading.Thread(
                    target=guarded(loops.receive_primers, r, t, shared, expected, deadline),
                    name=f"bk-bench-primers-{i}",
                )
                for i, (r, t) in enumerate(zip(receivers, trackers, strict=True))
            ]
        )
        shared.producers_running = len(senders)
        consuming = [
            threading.Thread(
                target=guarded(loops.consume, r, t, shared), name=f"bk-bench-consumer-{i}"
            )
            for i, (r, t) in enumerate(zip(receivers, trackers, strict=True))
        ]
        producing = [
            threading.Thread(
                target=guarded(loops.produce, s, p, shared), name=f"bk-bench-producer-{i}"
            )
            for i, (s, p) in enumerate(zip(senders, plans, strict=True))
        ]
        cpu = time.process_time()
        shared.start_ns = shared.consume_start_ns = time.perf_counter_ns()
        if workload.phases == "apart":
            run_threads(producing)
            producing = []
            shared.consume_start_ns = time.perf_counter_ns()
        run_threads(consuming + producing)
        cpu = time.process_time() - cpu
        for receiver in receivers:
            receiver.close()
        for sender in senders:
            sender.close()
    finally:
        session.close()
    return cpu


def run_once(
    target: Target,
    endpoint: Endpoint,
    workload: Workload,
    api: str,
    repeat: int,
    progress: Progress,
    cleanup: Baseline | None,
    label: str = "",
) -> RunResult:
    """One measured run; never raises for a broker problem (the result says "failed")."""
    result = RunResult(
        workload=workload.name,
        url=endpoint.shown,
        scheme=endpoint.scheme,
        target=target.name,
        api=api,
        repeat=repeat,
        guarantee=workload.guarantee,
        message_size=workload.message_size,
    )
    token = uuid.uuid4().hex[:10]
    topics = [f"{TOPIC_PREFIX}{token}-{i}" for i in range(workload.topics)]
    setup = Setup(endpoint.url, workload, endpoint.fanout)
    shared = _shared(workload, endpoint.fanout)
    expected = None
    if workload.message_count is not None:
        expected = workload.message_count * (workload.consumers if endpoint.fanout else 1)
    title = f"{workload.name} {endpoint.shown} {api} {target.name}"
    progress.start_run(f"{title} ({label})" if label else title, expected)

    def on_tick() -> None:
        progress.tick(shared.received_unique())

    gc.collect()
    try:
        if api == "async":
            cpu = asyncio.run(_run_async(target, setup, topics, shared, on_tick))
        else:
            cpu = _run_sync(target, setup, topics, shared, on_tick)
    except Unsupported as exc:
        result.status, result.note = UNSUPPORTED, str(exc)
    except Exception as exc:
        result.status, result.note = FAILED, f"{type(exc).__name__}: {exc}"
    else:
        _fill(result, shared, cpu)
    finally:
        if cleanup is not None:
            try:
                cleanup.cleanup(endpoint.url, topics)
            except Exception as exc:
                result.note = (result.note + "; " if result.note else "") + f"cleanup failed: {exc}"
    progress.end_run(result)
    return result


def _fill(result: RunResult, shared: Shared, cpu: float) -> None:
    ledger = shared.ledger
    counts = verify(ledger, shared.trackers, fanout=shared.fanout)
    result.sent = ledger.total
    result.acked = ledger.acked
    result.errors = ledger.error_count
    result.error_messages = list(ledger.errors)
    result.received = sum(t.received for t in shared.trackers)
    result.unique = counts.unique
    result.lost = counts.lost
    result.duplicates = counts.duplicates
    result.unexpected = counts.unexpected
    result.produce_seconds = max(0, shared.produce_end_ns - shared.start_ns) / 1e9
    last = max(t.last_ns for t in shared.trackers)
    result.consume_seconds = max(0, last - shared.consume_start_ns) / 1e9
    result.cpu_seconds = cpu
    result.latency = summarize(merged(shared.trackers))
    if shared.send_lag:
        lag = new_histogram()
        fold(lag, shared.send_lag)
        result.send_lag = summarize(lag)
    problems = result.check()
    if problems:
        result.status, result.note = CHECK_FAILED, problems
