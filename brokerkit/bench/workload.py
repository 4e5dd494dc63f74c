"""Workloads: small TOML files describing one benchmark, loaded and validated here.

The built-in workloads live in ``benchmarks/workloads/`` of the source tree; the wheel
ships the same files as ``brokerkit/bench/workloads/`` (see ``pyproject.toml``). A
workload is named by its file stem (``max-throughput``) or given as a path to a file.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .payload import HEADER_SIZE

__all__ = [
    "DEFAULT_WORKLOAD",
    "Workload",
    "WorkloadError",
    "builtin_workloads",
    "find_workload",
    "load_workload",
]

DEFAULT_WORKLOAD = "max-throughput"

_PACKAGE_DIR = Path(__file__).resolve().parent / "workloads"  # installed wheel
_SOURCE_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "workloads"  # checkout

GUARANTEES = ("at-least-once", "at-most-once")
COMMITS = ("async", "sync")
APIS = ("async", "sync")
KEY_DISTRIBUTIONS = ("none", "round-robin", "random")
SEND_MODES = ("batch", "loop", "confirmed")
RECEIVE_MODES = ("batch", "one")
PHASES = ("together", "apart")


class WorkloadError(ValueError):
    """A workload that cannot be found or does not validate; the message says what is
    wrong and what is accepted."""


@dataclass(frozen=True)
class Workload:
    """One benchmark: what is sent, how fast, by whom, with which guarantee and API."""

    name: str
    description: str = ""
    message_size: int = 100
    """Bytes per message, the 16-byte header (send time, message id) included."""
    message_count: int | None = 100_000
    """Messages sent in all (split between producers); or None with ``duration``."""
    duration: float | None = None
    """Seconds of sending, instead of a message count."""
    rate: float = 0.0
    """Messages per second, all producers together; 0: as fast as possible."""
    producers: int = 1
    consumers: int = 1
    topics: int = 1
    partitions: int = 1
    """Partitions per topic, for backends that have them (memory and Redis do not)."""
    keys: str = "none"
    """Key distribution: "none", "round-robin" or "random" over ``key_count`` keys."""
    key_count: int = 100
    guarantee: str = "at-least-once"
    commit: str = "async"
    commit_every: int | None = None
    prefetch: int | None = None
    """brokerkit's consumer option (messages fetched ahead); None: brokerkit's default."""
    api: tuple[str, ...] = APIS
    batch_size: int = 500
    """Messages per send_many()/receive_many() call; 1: send()/receive()."""
    send_mode: str = "batch"
    """How brokerkit's producer sends each batch the harness makes: "batch" (one
    send_many()), "loop" (one send() per message, as a web handler publishes one event per
    request) or "confirmed" (one send(wait=True) per message, all of a batch at once from
    concurrent callers: tasks, or threads in the sync API). Raw baselines always batch."""
    receive_mode: str = "batch"
    """"batch": receive_many(batch_size), then ack_many() of the batch; "one": receive()
    and ack() one message at a time."""
    drain_timeout: float = 3.0
    """Consumers stop once the producers are done and nothing came for this long."""
    phases: str = "together"
    """"together": producers and consumers run at once, in one process (a pipeline);
    "apart": the consumers start once every producer is done, so each path is measured
    alone (its throughput; the latency then counts the wait between the phases)."""
    source: str = field(default="", compare=False)

    def describe(self) -> str:
        """A one-line summary of the settings, for reports."""
        amount = (
            f"{self.message_count:,} msgs"
            if self.message_count is not None
            else f"{self.duration:g} s"
        )
        rate = "max rate" if not self.rate else f"{self.rate:,.0f} msg/s"
        keys = "no keys" if self.keys == "none" else f"{self.keys} keys ({self.key_count})"
        commit = f", commit={self.commit}" if self.guarantee == "at-least-once" else ""
        prefetch = f", prefetch {self.prefetch}" if self.prefetch is not None else ""
        return (
            f"{self.message_size:,} B x {amount}, {rate}, {self.producers}P/{self.consumers}C, "
            f"{self.topics} topic(s), {keys}, {self.guarantee}{commit}, "
            f"batch {self.batch_size}{prefetch}"
            + (f", send {self.send_mode}" if self.send_mode != "batch" else "")
            + (f", receive {self.receive_mode}" if self.receive_mode != "batch" else "")
            + (", producing then consuming" if self.phases == "apart" else "")
        )


_FIELDS = {f.name: f for f in dataclasses.fields(Workload) if f.name not in ("name", "source")}


def _fail(source: str, message: str) -> WorkloadError:
    return WorkloadError(f"workload {source}: {message}")


def _int(source: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(source, f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _number(source: str, key: str, value: Any, minimum: float, *, strict: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or value < minimum or (strict and value <= minimum):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise _fail(source, f"{key} must be a number {bound}, got {value!r}")
    return float(value)


def _choice(source: str, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise _fail(source, f"{key} must be one of {listed}, got {value!r}")
    return str(value)


def _check_keys(source: str, data: Mapping[str, Any]) -> None:
    for key in data:
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, list(_FIELDS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            valid = ", ".join(sorted(_FIELDS))
            raise _fail(source, f"unknown setting {key!r}{hint}; valid settings: {valid}")


def from_mapping(name: str, data: Mapping[str, Any], source: str = "") -> Workload:
    """A validated :class:`Workload` from parsed TOML (or any mapping of settings)."""
    where = source or name
    _check_keys(where, data)
    out: dict[str, Any] = {}
    if "description" in data:
        if not isinstance(data["description"], str):
            raise _fail(where, f"description must be a string, got {data['description']!r}")
        out["description"] = data["description"]
    for key in ("message_size",):
        if key in data:
            out[key] = _int(where, key, data[key], HEADER_SIZE)
    for key in ("producers", "consumers", "topics", "partitions", "key_count", "batch_size"):
        if key in data:
            out[key] = _int(where, key, data[key], 1)
    for key in ("commit_every", "prefetch"):
        if data.get(key) is not None:
            out[key] = _int(where, key, data[key], 1)
    if "rate" in data:
        out["rate"] = _number(where, "rate", data["rate"], 0)
    if "drain_timeout" in data:
        out["drain_timeout"] = _number(
            where, "drain_timeout", data["drain_timeout"], 0, strict=True
        )
    count, duration = data.get("message_count"), data.get("duration")
    if count is not None and duration is not None:
        raise _fail(where, "give either message_count or duration, not both")
    if duration is not None:
        out["duration"] = _number(where, "duration", duration, 0, strict=True)
        out["message_count"] = None
    elif count is not None:
        out["message_count"] = _int(where, "message_count", count, 1)
    if "keys" in data:
        out["keys"] = _choice(where, "keys", data["keys"], KEY_DISTRIBUTIONS)
    if "guarantee" in data:
        out["guarantee"] = _choice(where, "guarantee", data["guarantee"], GUARANTEES)
    if "commit" in data:
        out["commit"] = _choice(where, "commit", data["commit"], COMMITS)
    if "send_mode" in data:
        out["send_mode"] = _choice(where, "send_mode", data["send_mode"], SEND_MODES)
    if "receive_mode" in data:
        out["receive_mode"] = _choice(where, "receive_mode", data["receive_mode"], RECEIVE_MODES)
    if "phases" in data:
        out["phases"] = _choice(where, "phases", data["phases"], PHASES)
    if "api" in data:
        apis = data["api"]
        if isinstance(apis, str):
            apis = ["async", "sync"] if apis == "both" else [apis]
        if not isinstance(apis, list) or not apis:
            raise _fail(where, f"api must be 'async', 'sync', 'both' or a list, got {apis!r}")
        out["api"] = tuple(dict.fromkeys(_choice(where, "api", a, APIS) for a in apis))
    workload = Workload(name=name, source=source, **out)
    count = workload.message_count
    if count is not None and count < workload.producers:
        raise _fail(where, f"message_count ({count}) must be at least producers")
    if workload.topics > min(workload.producers, workload.consumers):
        raise _fail(
            where,
            f"topics ({workload.topics}) must not exceed producers ({workload.producers}) or "
            f"consumers ({workload.consumers}): every topic needs a producer and a consumer",
        )
    return workload


def load_workload(path: str | Path) -> Workload:
    """Load and validate the workload file at ``path``; its name is the file stem."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise WorkloadError(f"workload file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadError(f"workload file {str(path)!r} is not valid TOML: {exc}") from None
    return from_mapping(path.stem, data, str(path))


def _directories() -> Iterator[Path]:
    for directory in (_PACKAGE_DIR, _SOURCE_DIR):
        if directory.is_dir():
            yield directory


def builtin_workloads() -> dict[str, Path]:
    """The shipped workloads, name -> file."""
    found: dict[str, Path] = {}
    for directory in _directories():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def find_workload(name_or_path: str) -> Workload:
    """A built-in workload by name, or the workload file at a path (ends in .toml or names
    an existing file)."""
    candidate = Path(name_or_path)
    if name_or_path.endswith(".toml") or candidate.is_file():
        return load_workload(candidate)
    builtins = builtin_workloads()
    path = builtins.get(name_or_path)
    if path is None:
        close = difflib.get_close_matches(name_or_path, list(builtins), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        listed = ", ".join(sorted(builtins)) or "none found"
        raise WorkloadError(
            f"unknown workload {name_or_path!r}{hint}; built-in workloads: {listed}; "
            "or give the path to a .toml file"
        )
    return load_workload(path)


def with_overrides(workload: Workload, overrides: Mapping[str, Any]) -> Workload:
    """``workload`` with some settings replaced (validated like a file's)."""
    if not overrides:
        return workload
    data = {
        name: getattr(workload, name)
        for name in _FIELDS
        if not (name in ("message_count", "duration") and getattr(workload, name) is None)
    }
    data["api"] = list(workload.api)
    if "duration" in overrides:
        data.pop("message_count", None)
    if "message_count" in overrides:
        data.pop("duration", None)
    data.update(overrides)
    return from_mapping(workload.name, data, workload.source)
