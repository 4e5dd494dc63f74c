"""The terminal side: a rich progress bar while the runs go, and the comparison table."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .results import CHECK_FAILED, FAILED, UNSUPPORTED, Row, RunResult
from .stats import LatencySummary
from .units import duration
from .workload import Workload

__all__ = ["RichProgress", "render_table"]


class RichProgress:
    """A progress bar per run (messages received) under one for the whole benchmark."""

    def __init__(self, console: Console, runs: int) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._overall = self._progress.add_task("benchmark runs", total=runs)
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start_run(self, label: str, expected: int | None) -> None:
        self._task = self._progress.add_task(label, total=expected)

    def tick(self, received: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=received)

    def end_run(self, result: RunResult) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        self._progress.advance(self._overall)


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value else "-"


def _mbps(value: float) -> str:
    return f"{value:,.1f}" if value else "-"


def _ratio(value: float | None) -> Text:
    if value is None:
        return Text("")
    style = "green" if value >= 0.9 else "yellow" if value >= 0.5 else "red"
    return Text(f"{value:.2f}x", style=style)


def _latencies(latency: LatencySummary | None) -> list[str]:
    if latency is None:
        return ["-"] * 5
    return [duration(v) for v in (latency.p50, latency.p95, latency.p99, latency.p999, latency.max)]


def _check(row: Row) -> Text:
    if row.status == UNSUPPORTED:
        return Text(f"unsupported: {row.note}", style="dim")
    if row.status == FAILED:
        return Text(f"FAILED: {row.note}", style="bold red")
    if row.status == CHECK_FAILED:
        return Text(f"FAIL: {row.note}", style="bold red")
    if row.lost:  # at-most-once: losses are allowed, but shown
        return Text(f"ok ({row.lost:,} lost, at-most-once)", style="yellow")
    return Text("ok", style="green")


def _collapse(rows: Sequence[Row]) -> list[Row]:
    """One line for a backend where nothing ran because the workload is unsupported."""
    out: list[Row] = []
    for row in rows:
        same = [r for r in rows if r.url == row.url]
        if all(r.status == UNSUPPORTED for r in same):
            if row is same[0]:
                out.append(dataclasses.replace(row, api="-", target="-"))
            continue
        out.append(row)
    return out


def render_table(workload: Workload, rows: Sequence[Row]) -> Table:
    """The comparison table of one workload."""
    table = Table(
        title=f"[bold]{workload.name}[/]: {workload.describe()}",
        title_justify="left",
        caption=(
            "rates: messages acknowledged by the broker (produce) / received (consume) per "
            "second of the run; x raw: brokerkit / raw client; latency: send to receive; "
            "CPU: client process CPU per message; lost/dup counted from sequence numbers"
        ),
        caption_justify="left",
        show_lines=False,
        header_style="bold",
    )
    table.add_column("backend", no_wrap=True)
    table.add_column("api", no_wrap=True)
    table.add_column("target", no_wrap=True)
    for name in (
        "produce msg/s",
        "MB/s",
        "x raw",
        "consume msg/s",
        "x raw",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "max",
        "CPU us/msg",
        "lost",
        "dup",
        "err",
    ):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("check", overflow="fold")
    previous = None
    for row in _collapse(rows):
        if previous is not None and row.url != previous:
            table.add_section()
        previous = row.url
        measured = row.status not in (UNSUPPORTED, FAILED)
        table.add_row(
            row.url,
            row.api,
            Text(row.target, style="bold" if row.target == "brokerkit" else "dim"),
            _rate(row.produce_rate),
            _mbps(row.produce_mbps),
            _ratio(row.produce_ratio),
            _rate(row.consume_rate),
            _ratio(row.consume_ratio),
            *_latencies(row.latency),
            f"{row.cpu_us_per_message:.2f}" if measured else "-",
            f"{row.lost:,}" if measured else "-",
            f"{row.duplicates:,}" if measured else "-",
            f"{row.errors:,}" if measured else "-",
            _check(row),
        )
    return table
