"""``brokerkit bench URL [URL ...]`` / ``python -m brokerkit.bench``: arguments, then
load -> validate -> run -> table, JSON, CSV and PNGs.

Exit status: 0 when every run passed its checks, 1 when a run failed or a check failed
(an acknowledged message lost, a duplicate under at-most-once, a send error), 2 for bad
input (unknown workload, bad URL or setting, missing extra).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._commands import guarded
from .._dist import pip_install
from .workload import (
    DEFAULT_WORKLOAD,
    Workload,
    WorkloadError,
    builtin_workloads,
    find_workload,
    with_overrides,
)

__all__ = ["add_arguments", "main", "run"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EPILOG = """\
examples:
  brokerkit bench memory://
  brokerkit bench memory:// redis://127.0.0.1:6379/0 --workload max-throughput --repeat 3
  brokerkit bench "redis://127.0.0.1:6379/0?mode=pubsub" -w max-throughput-at-most-once
  brokerkit bench memory:// -w ./my-workload.toml --set batch_size=100 --messages 50000

workloads: a built-in name (--list-workloads), "all", or a path to a .toml file
(see benchmarks/workloads/ and docs/benchmarks.md).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument(
        "urls",
        nargs="*",
        metavar="URL",
        help="broker URLs to compare, e.g. memory:// redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "-w",
        "--workload",
        action="append",
        metavar="NAME|PATH",
        help=f"workload to run (repeatable; 'all' for every built-in; default {DEFAULT_WORKLOAD})",
    )
    parser.add_argument(
        "--list-workloads", action="store_true", help="list the built-in workloads and exit"
    )
    parser.add_argument("--messages", type=int, metavar="N", help="override message_count")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="override duration")
    parser.add_argument("--rate", type=float, metavar="MSG/S", help="override rate (0: max)")
    parser.add_argument(
        "--api", choices=("async", "sync", "both"), help="override the APIs measured"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any workload setting (VALUE in TOML syntax; repeatable)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="runs per target, alternating brokerkit and raw; medians are reported (default 1)",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="measure brokerkit only, not the raw client"
    )
    parser.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the short unreported run of each target before the measured ones",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("bench-results"),
        metavar="DIR",
        help="where results.json, results.csv and the PNGs go (default ./bench-results)",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def _usage(message: str) -> int:
    print(f"brokerkit bench: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorkloadError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = _toml_value(value.strip())
    if args.messages is not None:
        out["message_count"] = args.messages
    if args.duration is not None:
        out["duration"] = args.duration
    if args.rate is not None:
        out["rate"] = args.rate
    if args.api is not None:
        out["api"] = args.api
    return out


def _workloads(args: argparse.Namespace) -> list[Workload]:
    names = args.workload or [DEFAULT_WORKLOAD]
    if "all" in names:
        names = [n for n in names if n != "all"] + sorted(builtin_workloads())
    overrides = _overrides(args)
    workloads = [with_overrides(find_workload(name), overrides) for name in dict.fromkeys(names)]
    return workloads


def _list_workloads() -> int:
    for name, path in sorted(builtin_workloads().items()):
        workload = find_workload(str(path))
        print(f"{name:32} {workload.description}")
    return EXIT_OK


def run(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    """Run the benchmark described by parsed ``args``; returns the exit status."""
    if args.list_workloads:
        return _list_workloads()
    if not args.urls:
        return _usage("give at least one broker URL, e.g. memory:// or redis://127.0.0.1:6379/0")
    if args.repeat < 1:
        return _usage(f"--repeat must be >= 1, got {args.repeat}")
    try:
        workloads = _workloads(args)
    except WorkloadError as exc:
        return _usage(str(exc))
    try:
        from . import command
    except ImportError as exc:
        return _usage(
            f"the benchmark needs its extra dependencies ({exc.name} is missing): "
            f"{pip_install('bench')}"
        )
    try:
        return command.main(args, workloads, argv)
    except KeyboardInterrupt:
        print("brokerkit bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m brokerkit.bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m brokerkit.bench",
        description="Run a workload against every broker URL given and compare them, "
        "brokerkit next to each broker's raw client.",
    )
    add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    return guarded(run, args, ["python", "-m", "brokerkit.bench", *argv], command="bench")
