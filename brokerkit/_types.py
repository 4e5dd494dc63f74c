"""Small public value types: Guarantee, Commit, Capabilities and the type aliases."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, NamedTuple, overload

from .errors import ConfigurationError

Headers = Mapping[str, str]
Key = bytes | str | None
Payload = bytes | str
#: One item of ``send_many()``: a value, or a ``(value, key)`` / ``(value, key, headers)``
#: tuple (public as ``brokerkit.OutgoingMessage``; spelt out, not built from the aliases
#: above, so that type checkers' messages show the types themselves).
OutgoingMessage = (
    bytes
    | str
    | tuple[bytes | str, bytes | str | None]
    | tuple[bytes | str, bytes | str | None, Mapping[str, str] | None]
)
#: What a producer driver receives per message: (value, key, headers or None).
Record = tuple[bytes, bytes | None, Mapping[str, str] | None]


class Values(Sequence[Record]):
    """A run of bare values (no key, no headers) seen as records: what ``send_many()`` of
    plain bytes buffers, and what a driver's ``publish()`` may be handed instead of a list.

    No tuple is made per message: iterating yields ``(value, None, None)`` from a ``zip``,
    which reuses its tuple when the caller keeps none (a ``for value, key, headers in
    records`` loop), and a driver may read ``.values`` directly. Indexing and slicing work
    as on a list; the run is never changed once made.
    """

    __slots__ = ("values",)

    def __init__(self, values: list[bytes]) -> None:
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[Record]:
        return zip(self.values, repeat(None), repeat(None))

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Values: ...
    def __getitem__(self, index: int | slice) -> Record | Values:
        if isinstance(index, slice):
            return Values(self.values[index])
        return (self.values[index], None, None)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Values):
            return self.values == other.values
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Values({len(self.values)} values)"


RESERVED_HEADER_PREFIX = "brokerkit-"
#: ``send(..., message_id=...)`` travels to the driver as this header (on backends with
#: ``Capabilities.idempotent_produce``, which map it to the broker's deduplication id,
#: e.g. JetStream's ``Nats-Msg-Id``); the core refuses message_id elsewhere.
H_MESSAGE_ID = "brokerkit-message-id"


class Delivery(NamedTuple):
    """One fetched message, as a driver hands it to the core.

    The core reads a delivery by position, so a driver may hand a plain tuple of these
    seven fields in this order instead: the garbage collector untracks a plain tuple of
    atomic values at its first pass, a named tuple never, and at 100k+ messages a second
    batches of deliveries kept alive that long made full collections several times as
    frequent (see the nats:// driver)."""

    token: Any
    """What the driver needs to settle the message later (a stream id, a delivery tag, a
    JetStream message...); the core hands it back unchanged in ``settle()``. On a backend
    with ``Capabilities.cumulative_ack`` it must be a ``(partition, offset)`` tuple, with
    ``offset`` an int increasing within the partition."""
    id: str
    """The broker's id of the message (offset, sequence, delivery tag or stream id)."""
    value: bytes
    key: bytes | None
    headers: dict[str, str] | None
    timestamp: float | None
    """Seconds since the epoch when the broker stored it, where it says."""
    delivery_count: int
    """1 on first delivery (where ``Capabilities.delivery_count``; else always 1)."""


class _StrEnum(enum.StrEnum):
    @classmethod
    def parse(cls, value: object, option: str) -> _StrEnum:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            norm = value.strip().lower().replace("_", "-")
            for member in cls:
                if member.value == norm:
                    return member
        valid = ", ".join(repr(m.value) for m in cls)
        raise ConfigurationError(
            f"invalid value {value!r} for option {option!r}; valid values: {valid}"
        )


class Guarantee(_StrEnum):
    """Delivery guarantee of a producer or consumer."""

    AT_LEAST_ONCE = "at-least-once"
    AT_MOST_ONCE = "at-most-once"


class Commit(_StrEnum):
    """When an ack()/commit returns: after the broker confirmed it (SYNC) or at once (ASYNC)."""

    SYNC = "sync"
    ASYNC = "async"


@dataclass(frozen=True)
class Capabilities:
    """What a backend (for one URL variant) can do. Drives UnsupportedError and the test suite."""

    persistent: bool = False
    consumer_groups: bool = False
    ordered: bool = False
    replay: bool = False
    at_least_once: bool = False
    at_most_once: bool = False
    idempotent_produce: bool = False
    headers: bool = False
    nack_delay: bool = False
    delivery_count: bool = False
    native_dead_letter: bool = False
    cumulative_ack: bool = False
    """Acks are cumulative per partition (Kafka's committed offset): committing a
    position settles every message before it. The core then commits only up to the
    first unacked message of each partition (its watermark), and a nack re-delivers the
    message and the ones after it in its partition. False: every message is settled on
    its own (per-message acks)."""

    def require(self, capability: str, what: str, backend: str) -> None:
        """Raise UnsupportedError unless ``capability`` is true."""
        from .errors import UnsupportedError

        if not getattr(self, capability):
            raise UnsupportedError(
                f"the {backend} backend cannot provide {what} (capability {capability!r} is false "
                f"for this URL); choose another backend or option",
                capability=capability,
                backend=backend,
            )

    def replace(self, **changes: bool) -> Capabilities:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, bool]:
        return dataclasses.asdict(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The capability field names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))


for _cls in (Guarantee, Commit, Capabilities):
    _cls.__module__ = "brokerkit"
