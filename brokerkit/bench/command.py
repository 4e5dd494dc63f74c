"""The benchmark command once its input is valid: check the URLs, run, report, write."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

import brokerkit

from .baselines import get_baseline
from .export import environment, write_csv, write_json, write_markdown
from .report import RichProgress, render_table
from .results import summarize_runs
from .runner import Endpoint, probe
from .schedule import run_jobs, schedule
from .workload import Workload

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CONNECT_TIMEOUT = 5.0


def _console() -> Console:
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80
        console = Console(width=200)
    return console


def _endpoints(urls: Sequence[str], console: Console) -> list[Endpoint] | None:
    endpoints = []
    for url in urls:
        try:
            endpoint = probe(url)
        except brokerkit.ConfigurationError as exc:
            console.print(
                f"[red]brokerkit bench: error: bad URL {url!r}: {exc}[/]", highlight=False
            )
            return None
        endpoints.append(endpoint)
    return endpoints


def _reachable(endpoints: Sequence[Endpoint], console: Console) -> bool:
    for endpoint in endpoints:
        try:
            brokerkit.connect(endpoint.url, connect_timeout=CONNECT_TIMEOUT).close()
        except brokerkit.BrokerError as exc:
            console.print(
                f"[red]brokerkit bench: error: cannot use {endpoint.shown}: {exc}[/]",
                highlight=False,
            )
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


def main(args: argparse.Namespace, workloads: Sequence[Workload], argv: Sequence[str]) -> int:
    console = _console()
    endpoints = _endpoints(args.urls, console)
    if endpoints is None:
        return EXIT_USAGE
    if not _reachable(endpoints, console):
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
    )
    files = [output / "results.json", output / "results.csv", output / "results.md"]
    if not args.no_plots:  # imported only now: matplotlib's objects would slow the GC during runs
        from .plots import plot_latency, plot_throughput
    for workload in workloads:
        mine = [row for row in rows if row.workload == workload.name]
        console.print(render_table(workload, mine))
        if not args.no_plots:
            slug = _slug(workload.name)
            throughput = output / f"throughput-{slug}.png"
            latency = output / f"latency-{slug}.png"
            plot_throughput(throughput, workload, mine)
            plot_latency(latency, workload, mine)
            files += [throughput, latency]
    write_json(files[0], env, workloads, rows, runs)
    write_csv(files[1], rows)
    write_markdown(files[2], env, workloads, rows)
    console.print("wrote " + ", ".join(str(f) for f in files), highlight=False)
    failed = [row for row in rows if not row.ok]
    if failed:
        console.print(f"[bold red]{len(failed)} result(s) failed their checks or did not run[/]")
        return EXIT_FAILED
    return EXIT_OK
