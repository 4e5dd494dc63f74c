"""Results: one :class:`RunResult` per measured run, and the :class:`Row` per backend, API
and target that the reports show (medians over repeats, brokerkit/raw ratios)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .stats import LatencySummary

__all__ = ["Row", "RunResult", "summarize_runs"]

OK = "ok"
CHECK_FAILED = "check-failed"
FAILED = "failed"
UNSUPPORTED = "unsupported"


@dataclass
class RunResult:
    """One run of one workload against one URL, through one target and one API."""

    workload: str
    url: str
    scheme: str
    target: str
    """"brokerkit" or "raw"."""
    api: str
    repeat: int
    guarantee: str
    message_size: int
    status: str = OK
    note: str = ""
    sent: int = 0
    acked: int = 0
    errors: int = 0
    received: int = 0
    unique: int = 0
    lost: int = 0
    duplicates: int = 0
    unexpected: int = 0
    produce_seconds: float = 0.0
    consume_seconds: float = 0.0
    cpu_seconds: float = 0.0
    latency: LatencySummary | None = None
    send_lag: LatencySummary | None = None
    """Paced workloads: how late batches went out against the schedule."""
    error_messages: list[str] = field(default_factory=list)

    @property
    def produce_rate(self) -> float:
        return self.acked / self.produce_seconds if self.produce_seconds > 0 else 0.0

    @property
    def consume_rate(self) -> float:
        return self.unique / self.consume_seconds if self.consume_seconds > 0 else 0.0

    @property
    def cpu_us_per_message(self) -> float:
        n = max(self.unique, self.acked)
        return self.cpu_seconds / n * 1e6 if n else 0.0

    def check(self) -> str:
        """What the counts say: "" when every check passed, else the problems."""
        problems = []
        if self.guarantee == "at-least-once" and self.lost:
            problems.append(f"{self.lost} acknowledged message(s) lost")
        if self.guarantee == "at-most-once" and self.duplicates:
            problems.append(f"{self.duplicates} duplicate(s) under at-most-once")
        if self.unexpected:
            problems.append(f"{self.unexpected} corrupted/unknown message(s)")
        if self.errors:
            problems.append(f"{self.errors} send error(s)")
        return "; ".join(problems)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["produce_rate"] = self.produce_rate
        out["consume_rate"] = self.consume_rate
        out["cpu_us_per_message"] = self.cpu_us_per_message
        return out


@dataclass
class Row:
    """What the table shows for one (workload, URL, API, target): medians over repeats."""

    workload: str
    url: str
    scheme: str
    api: str
    target: str
    status: str
    note: str
    runs: int
    message_size: int
    produce_rate: float = 0.0
    consume_rate: float = 0.0
    cpu_us_per_message: float = 0.0
    latency: LatencySummary | None = None
    lost: int = 0
    duplicates: int = 0
    unexpected: int = 0
    errors: int = 0
    produce_ratio: float | None = None
    """brokerkit / raw (brokerkit rows only, when the raw baseline ran)."""
    consume_ratio: float | None = None

    @property
    def produce_mbps(self) -> float:
        return self.produce_rate * self.message_size / 1e6

    @property
    def consume_mbps(self) -> float:
        return self.consume_rate * self.message_size / 1e6

    @property
    def ok(self) -> bool:
        return self.status in (OK, UNSUPPORTED)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["produce_mbps"] = self.produce_mbps
        out["consume_mbps"] = self.consume_mbps
        return out


def _row(runs: Sequence[RunResult]) -> Row:
    first = runs[0]
    row = Row(
        workload=first.workload,
        url=first.url,
        scheme=first.scheme,
        api=first.api,
        target=first.target,
        status=first.status,
        note=first.note,
        runs=len(runs),
        message_size=first.message_size,
    )
    measured = [r for r in runs if r.status in (OK, CHECK_FAILED)]
    failed = [r for r in runs if r.status == FAILED]
    if failed:
        row.status, row.note = FAILED, failed[0].note
    elif any(r.status == CHECK_FAILED for r in runs):
        row.status = CHECK_FAILED
        row.note = "; ".join(r.check() for r in runs if r.check())
    if not measured:
        return row
    row.produce_rate = statistics.median(r.produce_rate for r in measured)
    row.consume_rate = statistics.median(r.consume_rate for r in measured)
    row.cpu_us_per_message = statistics.median(r.cpu_us_per_message for r in measured)
    by_consume = sorted(measured, key=lambda r: r.consume_rate)
    row.latency = by_consume[(len(by_consume) - 1) // 2].latency
    row.lost = sum(r.lost for r in measured)
    row.duplicates = sum(r.duplicates for r in measured)
    row.unexpected = sum(r.unexpected for r in measured)
    row.errors = sum(r.errors for r in measured)
    return row


def _ratio(a: float, b: float) -> float | None:
    return a / b if a > 0 and b > 0 else None


def summarize_runs(runs: Iterable[RunResult]) -> list[Row]:
    """One row per (workload, URL, API, target), in the order first seen, with each
    brokerkit row carrying its ratio to the raw row of the same workload, URL and API."""
    groups: dict[tuple[str, str, str, str], list[RunResult]] = {}
    for run in runs:
        groups.setdefault((run.workload, run.url, run.api, run.target), []).append(run)
    rows = [_row(group) for group in groups.values()]
    raw = {(r.workload, r.url, r.api): r for r in rows if r.target == "raw"}
    for row in rows:
        base = raw.get((row.workload, row.url, row.api))
        if row.target == "brokerkit" and base is not None:
            row.produce_ratio = _ratio(row.produce_rate, base.produce_rate)
            row.consume_ratio = _ratio(row.consume_rate, base.consume_rate)
    return rows
