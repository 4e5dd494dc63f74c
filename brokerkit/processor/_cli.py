"""``brokerkit run`` and ``brokerkit dlq list|replay``: a processor from the command line."""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import logging
import os
import sys
from typing import Any

__all__ = ["add_dlq_arguments", "add_run_arguments", "dlq_command", "run_command"]


def _setup_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    elif root.level > logging.INFO:
        logging.getLogger("brokerkit.processor").setLevel(logging.INFO)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODULE:PROCESSOR", help="e.g. myapp.workers:proc")
    parser.add_argument(
        "--url", default=None, help="broker URL (default: $BROKERKIT_URL, else memory://)"
    )
    parser.add_argument(
        "--topic", "-t", action="append", required=True, help="topic to consume (repeatable)"
    )
    parser.add_argument("--group", "-g", default=None, help="consumer group")
    parser.add_argument(
        "--concurrency", "-c", type=int, default=1, help="handlers at once (default 1)"
    )
    parser.add_argument("--dead-letter-topic", default=None, help="consumer dead_letter_topic")


def load_processor(target: str) -> Any:
    """The Processor named by ``module:attribute`` (the current directory is importable)."""
    from ._processor import Processor

    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SystemExit(
            f"brokerkit run: expected MODULE:PROCESSOR (e.g. app.worker:proc), got {target!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"brokerkit run: cannot import module {module_name!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SystemExit(
                f"brokerkit run: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not isinstance(obj, Processor):
        raise SystemExit(
            f"brokerkit run: {target!r} is a {type(obj).__name__}, not a brokerkit.Processor"
        )
    return obj


def run_command(args: argparse.Namespace) -> int:
    from ..errors import BrokerError

    proc = load_processor(args.target)
    _setup_logging()
    options: dict[str, Any] = {}
    if args.dead_letter_topic:
        options["dead_letter_topic"] = args.dead_letter_topic
    try:
        proc.run(
            args.url,
            topics=args.topic,
            group=args.group,
            concurrency=args.concurrency,
            **options,
        )
    except (BrokerError, ValueError) as exc:
        print(f"brokerkit run: {exc}", file=sys.stderr)
        return 1
    return 0


def add_dlq_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    show = sub.add_parser("list", help="show the dead letters stored in an SQLite file")
    show.add_argument("db", metavar="DB", help="the SQLiteDLQ database file")
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.add_argument("--limit", type=int, default=None, help="show at most this many")
    replay = sub.add_parser(
        "replay", help="send dead letters back to their topics and remove them from DB"
    )
    replay.add_argument("db", metavar="DB", help="the SQLiteDLQ database file")
    replay.add_argument(
        "--url", default=None, help="broker URL (default: $BROKERKIT_URL, else memory://)"
    )
    replay.add_argument("--id", type=int, action="append", dest="ids", help="only this entry")


def _preview(value: bytes, width: int = 60) -> str:
    text = value.decode("utf-8", "backslashreplace")
    return text if len(text) <= width else text[: width - 3] + "..."


def dlq_command(args: argparse.Namespace) -> int:
    from ._dlq import SQLiteDLQ

    if not os.path.exists(args.db):
        print(f"brokerkit dlq: no such database file: {args.db}", file=sys.stderr)
        return 1
    with SQLiteDLQ(args.db) as dlq:
        if args.dlq_command == "list":
            return _list(dlq, args)
        return _replay(dlq, args)


def _list(dlq: Any, args: argparse.Namespace) -> int:
    entries = dlq.list(args.limit)
    for e in entries:
        when = datetime.datetime.fromtimestamp(e.time, datetime.UTC).isoformat(timespec="seconds")
        if args.json:
            row = {
                "id": e.id,
                "time": when,
                "topic": e.topic,
                "key": None if e.key is None else e.key.decode("utf-8", "backslashreplace"),
                "headers": e.headers,
                "reason": e.reason,
                "value": e.value.decode("utf-8", "backslashreplace"),
            }
            print(json.dumps(row))
        else:
            key = "-" if e.key is None else e.key.decode("utf-8", "backslashreplace")
            print(f"{e.id}\t{when}\t{e.topic}\tkey={key}\t{e.reason}\t{_preview(e.value)}")
    if not args.json:
        print(f"{len(entries)} dead letter(s) in {args.db}", file=sys.stderr)
    return 0


def _replay(dlq: Any, args: argparse.Namespace) -> int:
    import brokerkit

    entries = dlq.list()
    if args.ids:
        wanted = set(args.ids)
        entries = [e for e in entries if e.id in wanted]
    if not entries:
        print(f"nothing to replay in {args.db}", file=sys.stderr)
        return 0
    by_topic: dict[str, list[Any]] = {}
    for e in entries:
        by_topic.setdefault(e.topic, []).append(e)
    try:
        with brokerkit.connect(args.url) as broker:
            for topic, items in by_topic.items():
                with broker.producer(topic) as producer:
                    for e in items:
                        headers = {
                            k: v for k, v in e.headers.items() if not k.startswith("brokerkit-")
                        }
                        producer.send(e.value, key=e.key, headers=headers)
                    producer.flush()
                # stored by the broker: now they may leave the dead-letter store
                dlq.remove(e.id for e in items)
                print(f"replayed {len(items)} dead letter(s) to {topic!r}")
    except brokerkit.BrokerError as exc:
        print(f"brokerkit dlq replay: {exc}", file=sys.stderr)
        return 1
    return 0
