"""The everyday subcommands of ``brokerkit``: ``ping``, ``backends``, ``produce``,
``consume`` and ``inspect``, on the public sync API (``inspect`` and the server version of
``ping`` also ask the backend's inspector, see brokerkit/_inspect.py).

Output goes to stdout (data: messages, tables, JSON lines); every error and note goes to
stderr as plain text, prefixed ``brokerkit <command>:``. Exit status: 0 done, 1 the broker
failed (unreachable, refused), 2 bad input, 130 interrupted. A closed pipe
(``brokerkit consume ... | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, BinaryIO

import brokerkit

from . import _registry
from ._dist import pip_install
from ._inspect import GroupInfo, TopicInfo, get_inspector

__all__ = ["add_commands", "guarded", "run_handler"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_TIMEOUT = 5.0


class UsageError(Exception):
    """Bad command-line input: exit status 2."""


def _err(command: str, message: str) -> None:
    print(f"brokerkit {command}: {message}", file=sys.stderr, flush=True)


def guarded(func: Callable[..., int], *args: Any, command: str = "") -> int:
    """Run a command: errors become one line on stderr and an exit status, a closed stdout
    pipe ends it quietly (no BrokenPipeError traceback), Ctrl-C exits 130."""
    try:
        status = func(*args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at exit
        return status
    except BrokenPipeError:
        # The reader went away (| head): point stdout at /dev/null so the interpreter's
        # final flush does not complain, and stop.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        _err(command or "", "interrupted")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        _err(command, f"error: {exc}")
        return EXIT_USAGE
    except brokerkit.ConfigurationError as exc:
        _err(command, f"error: {exc}")
        return EXIT_USAGE
    except brokerkit.BrokerError as exc:
        _err(command, f"error: {type(exc).__name__}: {exc}")
        return EXIT_FAILED


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, sort_keys=False))


# -- ping ------------------------------------------------------------------------------------


def _ping(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with brokerkit.connect(args.url, connect_timeout=args.timeout) as broker:
        elapsed = time.perf_counter() - started
        caps = broker.capabilities.as_dict()
        url = brokerkit.make_url(args.url)
        server: dict[str, str] = {}
        inspector = get_inspector(url)
        if inspector is not None:
            server = inspector.server_info(url, _options(args.url, args.timeout))
        report = {
            "url": repr(broker).removeprefix("<Broker ").removesuffix(">"),
            "reachable": True,
            "connect_ms": round(elapsed * 1000, 3),
            **server,
            "capabilities": caps,
        }
    if args.json:
        _print_json(report)
        return EXIT_OK
    print(f"{report['url']}: reachable, connected in {elapsed * 1000:.1f} ms")
    for name in ("server", "client"):
        if name in server:
            print(f"  {name}: {server[name]}")
    if inspector is None:
        print("  server: not reported (this backend has no inspector)")
    print(f"  capabilities: {', '.join(k for k, v in caps.items() if v) or '(none)'}")
    print(f"  not supported: {', '.join(k for k, v in caps.items() if not v) or '(none)'}")
    return EXIT_OK


def _options(url: str, timeout: float) -> dict[str, Any]:
    """The connection's resolved options (the inspector's calls are bounded by timeout)."""
    from ._api import _prepare

    return _prepare(url, {"connect_timeout": timeout})[2]


# -- backends --------------------------------------------------------------------------------


def _backend_rows() -> list[dict[str, str]]:
    rows = []
    for scheme in _registry.known_schemes():
        row = {"scheme": scheme, "backend": "", "status": "", "detail": ""}
        if scheme in _registry.PLANNED_BACKENDS and scheme not in _registry.builtin_schemes():
            row.update(status="planned", detail="not in this version of brokerkit yet")
            rows.append(row)
            continue
        try:
            spec = _registry.get_backend(scheme)
        except brokerkit.ConfigurationError as exc:
            row.update(status="unusable", detail=str(exc))
        else:
            row.update(backend=spec.name, status="installed", detail=spec.description)
        rows.append(row)
    return rows


def _backends(args: argparse.Namespace) -> int:
    rows = _backend_rows()
    if args.json:
        for row in rows:
            _print_json(row)
        return EXIT_OK
    width = max(len(r["scheme"]) for r in rows) + 3
    for row in rows:
        print(f"{row['scheme'] + '://':<{width}} {row['status']:<10} {row['detail']}")
    print(
        f"\n(third-party backends join through the {_registry.ENTRY_POINT_GROUP!r} "
        f"entry-point group; base install: {pip_install()})"
    )
    return EXIT_OK


# -- produce ---------------------------------------------------------------------------------


def _headers(items: Sequence[str]) -> dict[str, str]:
    headers = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--header expects NAME=VALUE, got {item!r}")
        headers[name] = value
    return headers


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    for line in stream:
        yield line[:-1] if line.endswith(b"\n") else line


def _values(args: argparse.Namespace) -> Iterator[bytes]:
    stdin = sys.stdin.buffer
    if not args.files:
        yield from _lines(stdin)
        return
    for name in args.files:
        if name == "-":
            yield stdin.read()
            continue
        try:
            yield Path(name).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {name!r}: {exc.strerror}") from exc


def _guarantee(command: str, chosen: str | None, broker: brokerkit.Broker) -> brokerkit.Guarantee:
    """The guarantee asked for, else at-least-once where the backend keeps it, else
    at-most-once (Redis Pub/Sub), said on stderr."""
    if chosen is not None:
        return brokerkit.Guarantee(chosen)
    if broker.capabilities.at_least_once:
        return brokerkit.Guarantee.AT_LEAST_ONCE
    _err(command, "note: this backend is at-most-once only: nothing is acknowledged")
    return brokerkit.Guarantee.AT_MOST_ONCE


def _produce(args: argparse.Namespace) -> int:
    headers = _headers(args.header)
    sent = 0
    with brokerkit.connect(args.url, connect_timeout=args.timeout) as broker:
        guarantee = _guarantee("produce", args.guarantee, broker)
        producer = broker.producer(args.topic, guarantee=guarantee)
        with producer:
            sent = _send_all(args, producer, headers)
    _err("produce", f"sent {sent} message(s) to {args.topic!r}")
    return EXIT_OK


def _send_all(
    args: argparse.Namespace, producer: brokerkit.Producer, headers: dict[str, str]
) -> int:
    sent = 0
    for value in _values(args):
        producer.send(value, key=args.key, headers=headers or None)
        sent += 1
    producer.flush(timeout=args.flush_timeout)
    return sent


# -- consume ---------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def _as_json(message: brokerkit.Message) -> dict[str, Any]:
    out: dict[str, Any] = {"topic": message.topic, "id": message.id}
    for name, data in (("key", message.key), ("value", message.value)):
        if data is None:
            out[name] = None
            continue
        try:
            out[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            out[name] = None
            out[f"{name}_base64"] = base64.b64encode(data).decode("ascii")
    out["headers"] = message.headers
    out["timestamp"] = message.timestamp
    out["delivery_count"] = message.delivery_count
    return out


def _as_line(message: brokerkit.Message) -> str:
    parts = [f"id={message.id}"]
    if message.key is not None:
        parts.append(f"key={_text(message.key)}")
    if message.headers:
        parts.append("headers=" + json.dumps(message.headers, ensure_ascii=False))
    parts.append(f"value={_text(message.value)}")
    return " ".join(parts)


def _consume(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        raise UsageError(f"--count must be >= 1, got {args.count}")
    with brokerkit.connect(args.url, connect_timeout=args.timeout) as broker:
        guarantee = _guarantee("consume", args.guarantee, broker)
        with broker.consumer(args.topic, group=args.group, guarantee=guarantee) as consumer:
            received = _receive_all(args, consumer, guarantee == "at-least-once")
    if guarantee == "at-most-once":
        what = "at-most-once: acknowledged as they came"
    else:
        what = "acked" if args.ack else "not acked: the group gets them again"
    _err("consume", f"received {received} message(s) from {args.topic!r} ({what})")
    return EXIT_OK


def _receive_all(args: argparse.Namespace, consumer: brokerkit.Consumer, acking: bool) -> int:
    received = 0
    while args.count is None or received < args.count:
        want = 100 if args.count is None else min(100, args.count - received)
        batch = consumer.receive_many(max_messages=want, timeout=args.idle_timeout)
        if not batch:
            return received  # nothing for --idle-timeout seconds
        for n, message in enumerate(batch):
            print(json.dumps(_as_json(message)) if args.json else _as_line(message))
            received += 1
            if args.ack:
                message.ack()
            if args.count is not None and received >= args.count:
                if acking:
                    for rest in batch[n + 1 :]:  # fetched beyond --count: back to the group
                        rest.nack()
                break
        sys.stdout.flush()
    return received


# -- inspect ---------------------------------------------------------------------------------


def _show(info: TopicInfo) -> None:
    if not info.exists:
        print(f"topic {info.topic!r}: does not exist (nothing published, no group)")
    else:
        held = "" if info.messages is None else f", {info.messages} message(s) retained"
        size = "" if info.bytes is None else f", {info.bytes} bytes"
        ids = f" (ids {info.first_id} .. {info.last_id})" if info.first_id is not None else ""
        print(f"topic {info.topic!r}: exists{held}{size}{ids}")
    for p in info.partitions:
        print(f"  partition {p.partition}: offsets {p.low} .. {p.high} ({p.high - p.low} retained)")
    if info.groups:
        width = max(5, *(len(g.name) for g in info.groups))
        print(f"  {'group':<{width}}  consumers  pending      lag  last delivered")
        for g in info.groups:
            cells = ["?" if v is None else str(v) for v in (g.consumers, g.pending, g.lag)]
            extra = "" if not g.redelivered else f"  ({g.redelivered} redelivered)"
            print(
                f"  {g.name:<{width}}  {cells[0]:>9}  {cells[1]:>7}  {cells[2]:>7}  "
                f"{g.last_delivered or '-'}{extra}"
            )
    elif info.exists:
        print("  no groups")
    for note in info.notes:
        print(f"  note: {note}")


def _only(info: TopicInfo, named: Sequence[str]) -> TopicInfo:
    """``info`` with the groups named by --group only (in that order), and a note for each
    one the broker does not know."""
    if not named:
        return info
    found: dict[str, GroupInfo] = {g.name: g for g in info.groups}
    missing = [n for n in named if n not in found]
    notes = [f"group {n!r}: not found on this topic" for n in missing]
    groups = tuple(found[n] for n in dict.fromkeys(named) if n in found)
    return replace(info, groups=groups, notes=(*info.notes, *notes))


def _inspect(args: argparse.Namespace) -> int:
    url = brokerkit.make_url(args.url)
    named: list[str] = args.group
    with brokerkit.connect(args.url, connect_timeout=args.timeout) as broker:
        caps = broker.capabilities.as_dict()
        inspector = get_inspector(url)
        info: TopicInfo | None = None
        if inspector is not None:
            options = _options(args.url, args.timeout)
            info = _only(inspector.inspect_topic(url, options, args.topic, tuple(named)), named)
    if args.json:
        _print_json({"url": url.render(), "capabilities": caps, **(asdict(info) if info else {})})
        return EXIT_OK
    if info is None:
        print(
            f"the {url.scheme} backend has no inspector: brokerkit's public API tells its "
            f"capabilities only: {', '.join(k for k, v in caps.items() if v)}"
        )
        return EXIT_OK
    _show(info)
    return EXIT_OK


# -- wiring ----------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, topic: bool) -> None:
    parser.add_argument("url", metavar="URL", help="broker URL, e.g. redis://127.0.0.1:6379/0")
    if topic:
        parser.add_argument("topic", metavar="TOPIC", help="topic name")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"connect timeout (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="show brokerkit's log lines from this level on, on stderr (default warning)",
    )


def add_commands(commands: Any) -> None:
    """Add ping, backends, produce, consume and inspect to ``brokerkit``'s subparsers."""
    ping = commands.add_parser(
        "ping",
        help="check that a broker answers; show its version and capabilities",
        description="Connect to URL and report: reachable or not (exit 1), the server "
        "version where the backend tells it, and the capabilities.",
    )
    _common(ping, topic=False)
    ping.add_argument("--json", action="store_true", help="one JSON object")
    ping.set_defaults(handler=_ping)

    backends = commands.add_parser(
        "backends",
        help="list the URL schemes: installed, planned, or which extra is missing",
        description="List every URL scheme brokerkit knows: usable here, planned, or "
        "unusable (with the pip command that fixes it).",
    )
    backends.add_argument("--json", action="store_true", help="JSON lines")
    backends.set_defaults(handler=_backends)

    produce = commands.add_parser(
        "produce",
        help="send stdin's lines (or files) to a topic",
        description="Send each line of stdin (newline removed) as one message, or with "
        "FILE arguments each file as one message ('-': all of stdin as one message).",
        epilog="examples:\n"
        "  printf 'a\\nb\\n' | brokerkit produce redis://127.0.0.1:6379/0 orders "
        "--key user-1 --header event-type=created\n"
        "  brokerkit produce memory:// images photo1.jpg photo2.jpg",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(produce, topic=True)
    produce.add_argument("files", nargs="*", metavar="FILE", help="files to send, one each")
    produce.add_argument("-k", "--key", help="the key of every message")
    produce.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a header of every message (repeatable)",
    )
    produce.add_argument(
        "--guarantee",
        choices=("at-least-once", "at-most-once"),
        help="default: at-least-once (exits once the broker stored every message) where the "
        "backend keeps it, else at-most-once",
    )
    produce.add_argument(
        "--flush-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the broker to store them (default 30)",
    )
    produce.set_defaults(handler=_produce)

    consume = commands.add_parser(
        "consume",
        help="print a topic's messages (value, key, headers, id)",
        description="Receive messages from TOPIC and print one line each (id, key, headers, "
        "value), or JSON lines with --json. Stops after --count messages, or when none came "
        "for --idle-timeout seconds, or on Ctrl-C.",
    )
    _common(consume, topic=True)
    consume.add_argument(
        "-g", "--group", help="consumer group (default: a private group for this command)"
    )
    consume.add_argument("-n", "--count", type=int, metavar="N", help="stop after N messages")
    consume.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop when no message came for this long (default: wait for ever)",
    )
    consume.add_argument(
        "--ack",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="acknowledge what is printed (default); --no-ack leaves it to the group",
    )
    consume.add_argument(
        "--guarantee",
        choices=("at-least-once", "at-most-once"),
        help="default: at-least-once where the backend keeps it, else at-most-once",
    )
    consume.add_argument(
        "--json",
        action="store_true",
        help="JSON lines: topic, id, key, value (key_base64/value_base64 when not UTF-8), "
        "headers, timestamp, delivery_count",
    )
    consume.set_defaults(handler=_consume)

    inspect = commands.add_parser(
        "inspect",
        help="a topic's retained messages and its groups (pending, lag)",
        description="Show TOPIC: whether it exists, the messages the broker retains, and "
        "each group's members, pending (delivered, not acked) and lag (not delivered yet), "
        "as far as the broker tells.",
    )
    _common(inspect, topic=True)
    inspect.add_argument(
        "-g",
        "--group",
        action="append",
        default=[],
        metavar="G",
        help="show group G only (repeatable); on amqp:// the way to name the groups, as "
        "AMQP cannot list the queues bound to an exchange",
    )
    inspect.add_argument("--json", action="store_true", help="one JSON object")
    inspect.set_defaults(handler=_inspect)


def run_handler(args: argparse.Namespace) -> int:
    """Run the subcommand ``args`` was parsed for (one added by :func:`add_commands`)."""
    handler: Callable[[argparse.Namespace], int] = args.handler
    level = getattr(args, "log_level", None)
    if level is not None and not logging.getLogger().handlers:
        logging.basicConfig(
            level=level.upper(),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
    return guarded(handler, args, command=args.command)
