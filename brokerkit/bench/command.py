"""The benchmark command once its input is valid: check the URLs, run, report, write."""

from __future__ import annotations

import argparse
import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.text import Text

import brokerkit

from .._dist import pip_install
from .baselines import get_baseline
from .export import environment, write_csv, write_json, write_markdown
from .report import TABLE_WIDTH, RichProgress, render_table
from .results import summarize_runs
from .runner import Endpoint, probe
from .schedule import run_jobs, schedule
from .workload import Workload

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CONNECT_TIMEOUT = 5.0


def _console() -> Console:
    console = Console()
    if not console.is_terminal:  # piped or captured: the table's own width, not 80
        console = Console(width=TABLE_WIDTH)
    return console


def _error(message: str, style: str = "red") -> None:
    """An error on stderr, as plain text: no rich markup, so "[redis]" in a message stays."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        Text(f"brokerkit bench: {message}", style=style)
    )


def _endpoints(urls: Sequence[str]) -> list[Endpoint] | None:
    endpoints = []
    for url in urls:
        try:
            endpoint = probe(url)
        except brokerkit.ConfigurationError as exc:
            _error(f"error: bad URL {url!r}: {exc}")
            return None
        endpoints.append(endpoint)
    return endpoints


def _reachable(endpoints: Sequence[Endpoint]) -> bool:
    for endpoint in endpoints:
        try:
            brokerkit.connect(endpoint.url, connect_timeout=CONNECT_TIMEOUT).close()
        except brokerkit.BrokerError as exc:
            _error(f"error: cannot use {endpoint.shown}: {exc}")
            return False
    return True


def _versions(endpoints: Sequence[Endpoint]) -> dict[str, str]:
    out: dict[str, str] = {}
    for endpoint in endpoints:
        baseline = get_baseline(endpoint.scheme)
        if baseline is not None:
            out.update(baseline.versions(endpoint.url))
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "workload"


def _plots() -> ModuleType | None:
    """The plots module, imported only after the runs (matplotlib's objects would slow the
    GC during them); None, with a note, when matplotlib is not installed."""
    try:
        return importlib.import_module(".plots", __package__)
    except ImportError as exc:
        _error(f"note: no PNG plots ({exc.name} is missing): {pip_install('plots')}", "yellow")
        return None


def main(args: argparse.Namespace, workloads: Sequence[Workload], argv: Sequence[str]) -> int:
    console = _console()
    endpoints = _endpoints(args.urls)
    if endpoints is None:
        return EXIT_USAGE
    if not _reachable(endpoints):
        return EXIT_FAILED
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    env = environment(_versions(endpoints), argv)
    jobs = schedule(
        workloads,
        endpoints,
        repeat=args.repeat,
        baseline=not args.no_baseline,
        warmup=not args.no_warmup,
    )
    measured = sum(1 for job in jobs if not job.skip)
    with RichProgress(console, measured) as progress:
        runs = run_jobs(jobs, progress)
    rows = summarize_runs(runs)
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    console.print(
        f"brokerkit {env['brokerkit']}, Python {env['python']}, {env['cpus']} CPUs"
        + (f", {versions}" if versions else "")
        + f", {env['date']}",
        highlight=False,
        markup=False,
    )
    files = [output / "results.json", output / "results.csv", output / "results.md"]
    plots = None if args.no_plots else _plots()
    several = len(endpoints) > 1
    for workload in workloads:
        mine = [row for row in rows if row.workload == workload.name]
        console.print(render_table(workload, mine))
        if plots is not None:
            slug = _slug(workload.name)
            figures = [
                (output / f"throughput-{slug}.png", plots.plot_throughput),
                (output / f"latency-{slug}.png", plots.plot_latency),
            ]
            if several:
                figures += [
                    (output / f"compare-throughput-{slug}.png", plots.plot_compare_throughput),
                    (output / f"compare-latency-{slug}.png", plots.plot_compare_latency),
                ]
            for path, draw in figures:
                draw(path, workload, mine)
                files.append(path)
    write_json(files[0], env, workloads, rows, runs)
    write_csv(files[1], rows)
    write_markdown(files[2], env, workloads, rows)
    console.print("wrote " + ", ".join(str(f) for f in files), highlight=False, markup=False)
    failed = [row for row in rows if not row.ok]
    if failed:
        console.print(f"[bold red]{len(failed)} result(s) failed their checks or did not run[/]")
        return EXIT_FAILED
    return EXIT_OK
