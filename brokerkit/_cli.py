"""The ``brokerkit`` command. Subcommands: ``bench`` (see docs/benchmarks.md), ``run`` and
``dlq`` (see docs/processor.md); ``ping``, ``backends``, ``produce``, ``consume``,
``inspect`` (brokerkit/_commands.py, docs/cli.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="brokerkit",
        description="brokerkit: one Producer/Consumer API over many message brokers.",
    )
    parser.add_argument("--version", action="version", version=f"brokerkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    bench = commands.add_parser(
        "bench",
        help="compare brokers (and brokerkit with their raw clients) on a workload",
        description="Run a workload against every broker URL given and compare them, "
        "brokerkit next to each broker's raw client.",
    )
    from .bench.cli import add_arguments, run

    add_arguments(bench)
    from .processor import _cli as processor_cli

    processor_cli.add_run_arguments(
        commands.add_parser("run", help="run a brokerkit.Processor (MODULE:PROCESSOR)")
    )
    processor_cli.add_dlq_arguments(
        commands.add_parser("dlq", help="list or replay the dead letters of an SQLiteDLQ")
    )
    from ._commands import add_commands, guarded, run_handler

    add_commands(commands)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command == "bench":
        return guarded(run, args, ["brokerkit", *argv], command="bench")
    if args.command == "run":
        return processor_cli.run_command(args)
    if args.command == "dlq":
        return processor_cli.dlq_command(args)
    if hasattr(args, "handler"):
        return run_handler(args)
    parser.error(f"unknown command {args.command!r}")  # argparse rejects it first
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
