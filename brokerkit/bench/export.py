"""The files: ``results.json`` (everything: environment, workloads, summary rows, every
run with its latency curve), ``results.csv`` (the summary rows, one per line) and
``results.md`` (the tables in Markdown, for docs/benchmarks.md)."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import brokerkit

from .results import OK, UNSUPPORTED, Row, RunResult
from .units import duration
from .workload import Workload

__all__ = [
    "CSV_FIELDS",
    "environment",
    "markdown",
    "ranking",
    "write_csv",
    "write_json",
    "write_markdown",
]

CSV_FIELDS = (
    "workload",
    "backend",
    "api",
    "target",
    "status",
    "runs",
    "message_size",
    "produce_msgs_per_s",
    "produce_mb_per_s",
    "produce_ratio",
    "consume_msgs_per_s",
    "consume_mb_per_s",
    "consume_ratio",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_p999_ms",
    "latency_max_ms",
    "cpu_us_per_msg",
    "lost",
    "duplicates",
    "unexpected",
    "errors",
    "note",
)


def environment(versions: Mapping[str, str], argv: Sequence[str]) -> dict[str, Any]:
    """Where and when the benchmark ran, and with what."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "brokerkit": brokerkit.__version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "command": " ".join(argv),
        "versions": dict(versions),
        "clock": "time.perf_counter_ns (CLOCK_MONOTONIC)",
        "executable": sys.executable,
    }


def write_json(
    path: Path,
    env: Mapping[str, Any],
    workloads: Sequence[Workload],
    rows: Sequence[Row],
    runs: Sequence[RunResult],
) -> None:
    document = {
        "environment": dict(env),
        "workloads": [dataclasses.asdict(w) for w in workloads],
        "summary": [row.to_dict() for row in rows],
        "runs": [run.to_dict() for run in runs],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_FIELDS)
        for row in rows:
            lat = row.latency
            writer.writerow(
                [
                    row.workload,
                    row.url,
                    row.api,
                    row.target,
                    row.status,
                    row.runs,
                    row.message_size,
                    _number(row.produce_rate, 1),
                    _number(row.produce_mbps),
                    _number(row.produce_ratio),
                    _number(row.consume_rate, 1),
                    _number(row.consume_mbps),
                    _number(row.consume_ratio),
                    _number(lat.p50 if lat else None, 4),
                    _number(lat.p95 if lat else None, 4),
                    _number(lat.p99 if lat else None, 4),
                    _number(lat.p999 if lat else None, 4),
                    _number(lat.max if lat else None, 4),
                    _number(row.cpu_us_per_message),
                    row.lost,
                    row.duplicates,
                    row.unexpected,
                    row.errors,
                    row.note,
                ]
            )


def _x(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def markdown(env: Mapping[str, Any], workloads: Sequence[Workload], rows: Sequence[Row]) -> str:
    """The summary as Markdown: a line on the environment, then a table per workload."""
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines = [
        f"brokerkit {env['brokerkit']}, Python {env['python']}, {env['cpus']} CPUs, "
        f"{env['platform']}{', ' + versions if versions else ''}; {env['date']}; "
        f"`{env['command']}`",
    ]
    header = (
        "| backend | api | target | produce msg/s | MB/s | x raw | consume msg/s | x raw "
        "| p50 | p95 | p99 | p99.9 | max | CPU µs/msg | lost | dup |"
    )
    for workload in workloads:
        lines += ["", f"**{workload.name}**: {workload.describe()}", "", header]
        lines.append("|---" * 16 + "|")
        mine = [row for row in rows if row.workload == workload.name]
        for row in mine:
            lat = row.latency
            if row.status == UNSUPPORTED:
                same = [r for r in mine if r.url == row.url]
                if row is same[0] and all(r.status == UNSUPPORTED for r in same):
                    lines.append(f"| `{row.url}` | | | {row.note} |" + " |" * 12)
                continue
            cells = [
                f"`{row.url}`",
                row.api,
                row.target,
                f"{row.produce_rate:,.0f}",
                f"{row.produce_mbps:,.1f}",
                _x(row.produce_ratio),
                f"{row.consume_rate:,.0f}",
                _x(row.consume_ratio),
                *(
                    [duration(v, "µs") for v in (lat.p50, lat.p95, lat.p99, lat.p999, lat.max)]
                    if lat
                    else ["-"] * 5
                ),
                f"{row.cpu_us_per_message:.2f}",
                f"{row.lost:,}",
                f"{row.duplicates:,}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if len({row.url for row in rows}) > 1:
        lines += ["", ranking(workloads, rows)]
    return "\n".join(lines) + "\n"


def _best(rows: Sequence[Row], paced: bool) -> Row:
    """A backend's best brokerkit line: lowest p99 when paced, else highest consume rate."""
    if paced:
        return min(rows, key=lambda r: r.latency.p99 if r.latency else float("inf"))
    return max(rows, key=lambda r: r.consume_rate)


def ranking(workloads: Sequence[Workload], rows: Sequence[Row]) -> str:
    """The backends ranked per workload, through brokerkit: by end-to-end (consume)
    throughput, or by p99 latency for a workload sent at a fixed rate. A backend's best
    API counts; backends where the workload did not run come last, saying why."""
    lines = ["## Ranking", ""]
    for workload in workloads:
        paced = workload.rate > 0
        mine = [r for r in rows if r.workload == workload.name and r.target == "brokerkit"]
        measured: dict[str, list[Row]] = {}
        skipped: dict[str, str] = {}
        for row in mine:
            if row.status == OK and row.consume_rate > 0:
                measured.setdefault(row.url, []).append(row)
            else:
                skipped.setdefault(row.url, row.note or row.status)
        best = [_best(group, paced) for group in measured.values()]
        if paced:
            best.sort(key=lambda r: r.latency.p99 if r.latency else float("inf"))
        else:
            best.sort(key=lambda r: -r.consume_rate)
        by = "p99 latency (lower is better)" if paced else "consume msg/s (higher is better)"
        lines += [
            f"**{workload.name}**, ranked by {by}:",
            "",
            "| rank | backend | api | consume msg/s | produce msg/s | p50 | p99 | x raw |",
            "|---:|---|---|---:|---:|---:|---:|---:|",
        ]
        for rank, row in enumerate(best, 1):
            lat = row.latency
            lines.append(
                f"| {rank} | `{row.url}` | {row.api} | {row.consume_rate:,.0f} | "
                f"{row.produce_rate:,.0f} | {duration(lat.p50, 'µs') if lat else '-'} | "
                f"{duration(lat.p99, 'µs') if lat else '-'} | {_x(row.consume_ratio)} |"
            )
        for url, why in skipped.items():
            if url not in measured:
                lines.append(f"| - | `{url}` | | {why} | | | | |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_markdown(
    path: Path, env: Mapping[str, Any], workloads: Sequence[Workload], rows: Sequence[Row]
) -> None:
    path.write_text(markdown(env, workloads, rows), encoding="utf-8")
