"""The terminal side: a rich progress bar while the runs go, and the comparison table."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import TracebackType

from rich import box
from rich.console import Console, Group, RenderableType
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
    """A rate in three significant figures: 987, 13.2k, 764k, 1.96M."""
    if not value:
        return "-"
    for scale, suffix in ((1e6, "M"), (1e3, "k"), (1.0, "")):
        if value >= scale * 0.9995 or suffix == "":
            v = value / scale
            return f"{v:#.3g}".rstrip(".") + suffix if v < 1000 else f"{v:,.0f}{suffix}"
    return "-"  # pragma: no cover


def _ms(value: float) -> str:
    """Milliseconds: 0.060, 0.429, 2.40, 15.4, 175, 1,250."""
    if value < 1:
        return f"{value:.3f}"
    return f"{value:#.3g}".rstrip(".") if value < 1000 else f"{value:,.0f}"


def _url_lines(url: str) -> Text:
    """A backend's URL for the heading line: its query parameters on lines of their own."""
    base, sep, query = url.partition("?")
    parts = [base] + (
        [("?" if i == 0 else "&") + q for i, q in enumerate(query.split("&"))] if sep else []
    )
    return Text("\n".join(parts), style="bold", overflow="fold")


def _mbps(value: float) -> str:
    return f"{value:,.1f}" if value else "-"


def _ratio(value: float | None) -> Text:
    if value is None:
        return Text("")
    style = "green" if value >= 0.9 else "yellow" if value >= 0.5 else "red"
    return Text(f"{value:.2f}x", style=style)


def _latencies(latency: LatencySummary | None) -> str:
    if latency is None:
        return "-"
    return " / ".join(_ms(v) for v in (latency.p50, latency.p99, latency.max))


def _check(row: Row) -> Text:
    """The full verdict of a row (a note under the table when it is long)."""
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


#: The table fits this many columns (a terminal of 100 columns shows it whole); the rest
#: (MB/s, p95, p99.9, lost/dup/err counts) is in results.md, results.csv and results.json.
TABLE_WIDTH = 100
#: A verdict longer than this becomes a numbered note under the table.
CHECK_WIDTH = 6


def render_table(workload: Workload, rows: Sequence[Row]) -> RenderableType:
    """The comparison table of one workload, readable in a terminal of 100 columns: a
    heading line per backend, then a line per API and target; long verdicts (failures,
    unsupported workloads) as numbered notes under it."""
    title = Text.assemble((workload.name, "bold"), f": {workload.describe()}")
    table = Table(
        title=title,
        title_justify="left",
        caption=(
            "produce/s, consume/s: messages acked by the broker / received per second; "
            "x raw: brokerkit / raw client; ms: latency from send to receive; CPU µs: client "
            "CPU per message. MB/s, p95, p99.9, lost/dup counts: results.md, results.csv"
        ),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        show_lines=False,
        header_style="bold",
    )
    table.add_column("backend / api", max_width=26, overflow="fold")
    table.add_column("produce/s", justify="right", no_wrap=True)
    table.add_column("x raw", justify="right", no_wrap=True)
    table.add_column("consume/s", justify="right", no_wrap=True)
    table.add_column("x raw", justify="right", no_wrap=True)
    table.add_column("ms p50 / p99 / max", justify="right", no_wrap=True)
    table.add_column("CPU µs", justify="right", no_wrap=True)
    table.add_column("check", no_wrap=True)
    notes: list[Text] = []
    previous = None
    for row in _collapse(rows):
        if row.url != previous:
            if previous is not None:
                table.add_section()
            table.add_row(_url_lines(row.url))
        previous = row.url
        measured = row.status not in (UNSUPPORTED, FAILED)
        label = Text(f"  {row.api} ")
        if row.target != "-":
            label.append(row.target, style="bold" if row.target == "brokerkit" else "dim")
        check = _check(row)
        if len(check) > CHECK_WIDTH:
            notes.append(
                Text.assemble(
                    f"[{len(notes) + 1}] {row.url}"
                    + (f" {row.api} {row.target}" if row.target != "-" else "")
                    + ": ",
                    check,
                )
            )
            check = Text(f"[{len(notes)}]", style=check.style)
        table.add_row(
            label,
            _rate(row.produce_rate),
            _ratio(row.produce_ratio),
            _rate(row.consume_rate),
            _ratio(row.consume_ratio),
            _latencies(row.latency),
            f"{row.cpu_us_per_message:.1f}" if measured else "-",
            check,
        )
    return Group(table, *notes, Text("")) if notes else table
