"""Option schemas: how URL query values and keyword arguments become validated options.

A backend declares its options as an :class:`OptionSchema` that extends the shared ones
(:data:`COMMON_OPTIONS` for the connection, :data:`PRODUCER_OPTIONS` /
:data:`CONSUMER_OPTIONS` for producers and consumers). :meth:`OptionSchema.resolve` merges
the URL query with keyword arguments (keywords win), coerces every value to its option's
kind, and rejects unknown names with a "did you mean" hint and the list of valid names.
"""

from __future__ import annotations

import difflib
import enum
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._types import Commit, Guarantee
from .errors import ConfigurationError

__all__ = [
    "COMMON_OPTIONS",
    "CONSUMER_OPTIONS",
    "EMPTY_SCHEMA",
    "PRODUCER_OPTIONS",
    "Option",
    "OptionSchema",
    "merge_options",
]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Option:
    """One option: its name, kind, default and limits.

    ``kind`` is ``bool``, ``int``, ``float``, ``str``, an enum class with a
    ``parse(value, option)`` classmethod (such as :class:`~brokerkit.Guarantee`), or
    ``object`` for any Python value (keyword only, e.g. a callable). ``unit`` words error
    messages ("a number of seconds >= 0").
    """

    name: str
    kind: Any
    default: Any = None
    doc: str = ""
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    nullable: bool = True
    unit: str = ""
    positive: bool = False
    """With ``minimum``: the value must be strictly above it (a timeout of 0 is no timeout)."""

    def expected(self) -> str:
        """What this option accepts, in words, for error messages."""
        if self.choices is not None:
            what = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind is bool:
            what = "true or false (also 1/0, yes/no, on/off)"
        elif self.kind is int:
            what = f"an integer{f' number of {self.unit}' if self.unit else ''}"
        elif self.kind is float:
            what = f"a number of {self.unit}" if self.unit else "a number"
        elif self.kind is str:
            what = "a string"
        elif isinstance(self.kind, type) and issubclass(self.kind, enum.Enum):
            what = "one of " + ", ".join(repr(str(m.value)) for m in self.kind)
        else:
            what = "a Python object (keyword argument only)"
        if self.minimum is not None:
            limit = int(self.minimum) if float(self.minimum).is_integer() else self.minimum
            what += f" {'>' if self.positive else '>='} {limit}"
        if self.nullable and self.kind is not object:
            what += " or None"
        return what

    def coerce(self, value: Any, *, from_url: bool = False) -> Any:
        """Return ``value`` converted to this option's kind, or raise ConfigurationError."""
        if value is None:
            if self.nullable:
                return None
            raise self._bad(value)
        if self.kind is object:
            if from_url:
                raise ConfigurationError(
                    f"option {self.name!r} is keyword-only (it takes a Python object) and "
                    f"cannot be given in the URL query; pass {self.name}=... as a keyword"
                )
            return value
        result = self._convert(value)
        if self.choices is not None:
            result = self._choose(result, value)
        if self.minimum is not None and (
            result <= self.minimum if self.positive else result < self.minimum
        ):
            raise self._bad(value)
        return result

    def _convert(self, value: Any) -> Any:
        kind = self.kind
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise self._bad(value)
        if kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                try:
                    return int(value.strip())
                except ValueError:
                    pass
            raise self._bad(value)
        if kind is float:
            number: float | None = None
            if isinstance(value, int | float) and not isinstance(value, bool):
                number = float(value)
            elif isinstance(value, str):
                try:
                    number = float(value.strip())
                except ValueError:
                    number = None
            if number is None or math.isnan(number):
                raise self._bad(value)
            return number
        if kind is str:
            if isinstance(value, str):
                return value
            raise self._bad(value)
        parse = getattr(kind, "parse", None)
        if parse is None:
            raise TypeError(f"option {self.name!r} has an unsupported kind {kind!r}")
        try:
            return parse(value, self.name)
        except (ConfigurationError, ValueError, TypeError) as exc:
            raise self._bad(value) from exc

    def _choose(self, result: Any, value: Any) -> Any:
        assert self.choices is not None
        if result in self.choices:
            return result
        if isinstance(result, str):
            for choice in self.choices:
                if choice.lower() == result.strip().lower():
                    return choice
        raise self._bad(value)

    def _bad(self, value: Any) -> ConfigurationError:
        return ConfigurationError(f"option {self.name!r} expects {self.expected()}, got {value!r}")


class OptionSchema:
    """An immutable set of :class:`Option` objects, by name."""

    def __init__(self, options: Iterable[Option] = ()) -> None:
        self._options: dict[str, Option] = {}
        for option in options:
            self._options[option.name] = option

    def extend(self, *options: Option) -> OptionSchema:
        """A new schema with ``options`` added; a same-named option replaces the old one."""
        return OptionSchema([*self._options.values(), *options])

    def names(self) -> list[str]:
        """The option names, sorted."""
        return sorted(self._options)

    def get(self, name: str) -> Option:
        """The option called ``name`` (KeyError if there is none)."""
        return self._options[name]

    def __contains__(self, name: object) -> bool:
        return name in self._options

    def __iter__(self) -> Iterator[Option]:
        return iter(self._options.values())

    def __len__(self) -> int:
        return len(self._options)

    def __repr__(self) -> str:
        return f"OptionSchema({', '.join(self.names())})"

    def resolve(
        self, query: Mapping[str, str], kwargs: Mapping[str, Any], *, context: str
    ) -> dict[str, Any]:
        """Merge ``query`` (from the URL) and ``kwargs`` (keywords win), coerce and check
        every value, and return a dict holding every option of the schema (defaults filled).

        ``context`` names the consumer of the options in messages, e.g. "redis consumer".
        """
        self._check_names([*query, *kwargs], context)
        result = {option.name: option.default for option in self}
        for name, value in query.items():
            if name not in kwargs or self._options[name].kind is object:
                result[name] = self._options[name].coerce(value, from_url=True)
        for name, value in kwargs.items():
            result[name] = self._options[name].coerce(value)
        return result

    def _check_names(self, names: Iterable[str], context: str) -> None:
        unknown = sorted({name for name in names if name not in self._options})
        if not unknown:
            return
        valid = ", ".join(self.names()) or "(none)"
        hints = {}
        for name in unknown:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hints[name] = f"did you mean {close[0]!r}?" if close else ""
        if len(unknown) == 1:
            name = unknown[0]
            hint = f"; {hints[name]}" if hints[name] else ";"
            message = f"unknown option {name!r} for {context}{hint} valid options: {valid}"
        else:
            described = ", ".join(
                f"{name!r} ({hints[name]})" if hints[name] else repr(name) for name in unknown
            )
            message = f"unknown options {described} for {context}; valid options: {valid}"
        raise ConfigurationError(message)


def merge_options(
    kwargs: Mapping[str, object], backend_options: Mapping[str, Any] | None
) -> Mapping[str, Any]:
    """The keyword options of a call plus its ``backend_options`` mapping (options the
    static types do not list, such as a third-party backend's). A name given both ways is
    a ConfigurationError: neither silently wins."""
    if backend_options is None:
        return kwargs
    if not isinstance(backend_options, Mapping):
        raise ConfigurationError(
            "backend_options takes a mapping of option names to values, e.g. "
            f"backend_options={{'visibility_timeout': 30}}; got {type(backend_options).__name__}"
        )
    for name in backend_options:
        if not isinstance(name, str):
            raise ConfigurationError(
                f"backend_options: option names are strings, got {name!r} ({type(name).__name__})"
            )
    twice = sorted(set(kwargs) & set(backend_options))
    if twice:
        raise ConfigurationError(
            f"option(s) {', '.join(map(repr, twice))} given both as a keyword and in "
            "backend_options; give each option once"
        )
    return {**kwargs, **backend_options}


EMPTY_SCHEMA = OptionSchema()

COMMON_OPTIONS = OptionSchema(
    [
        Option(
            "connect_timeout",
            float,
            10.0,
            "seconds to wait for the broker",
            minimum=0,
            positive=True,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "close_timeout",
            float,
            10.0,
            "seconds close() waits for outstanding sends and commits (None: no limit)",
            minimum=0,
            positive=True,
            unit="seconds",
        ),
        Option(
            "reconnect_timeout",
            float,
            30.0,
            "seconds a blocking receive() and a confirmed ack keep retrying a lost "
            "connection before raising BrokerConnectionError (0: do not retry)",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        Option("client_id", str, None, "a name for this client, shown by the broker"),
        Option(
            "instrumentation",
            object,
            None,
            "a brokerkit.Instrumentation hook, or a list of them, that sees this broker's "
            "events (added to those of brokerkit.instrument())",
        ),
    ]
)
"""Broker-level options every backend shares; backend schemas extend this one."""

_GUARANTEE = Option(
    "guarantee",
    Guarantee,
    Guarantee.AT_LEAST_ONCE,
    "delivery guarantee: 'at-least-once' or 'at-most-once'",
    nullable=False,
)

PRODUCER_OPTIONS = OptionSchema(
    [
        _GUARANTEE,
        Option(
            "batch_size",
            int,
            1000,
            "most messages handed to the broker in one batch (one pipeline / request)",
            minimum=1,
            nullable=False,
        ),
        Option(
            "linger",
            float,
            0.0,
            "seconds a batch that is not full waits for more messages before it goes out "
            "(0: at once; batches still grow while the previous one is on its way)",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "max_in_flight",
            int,
            8,
            "batches handed to the broker whose acknowledgement is not back yet",
            minimum=1,
            nullable=False,
        ),
        Option(
            "buffer_size",
            int,
            20_000,
            "messages send() may buffer before it waits for the broker (back-pressure)",
            minimum=1,
            nullable=False,
        ),
        Option(
            "delivery_timeout",
            float,
            15.0,
            "seconds the broker has to acknowledge a batch once it is sent; after that its "
            "messages count as not stored (DeliveryError from the next send/flush/close)",
            minimum=0.001,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "max_message_bytes",
            int,
            None,
            "largest message value accepted by send(); larger ones raise DeliveryError at "
            "once, before anything is sent (default: what the broker accepts)",
            minimum=1,
        ),
    ]
)
"""Options of every producer; a backend's ``producer_options`` extend them."""

CONSUMER_OPTIONS = OptionSchema(
    [
        _GUARANTEE,
        Option(
            "commit",
            Commit,
            Commit.ASYNC,
            "'sync': ack() returns once the broker confirmed; 'async': ack() does not wait",
            nullable=False,
        ),
        Option(
            "commit_every",
            int,
            None,
            "send acknowledgements every N acks (default: 1 with commit='sync', "
            "1000 with commit='async')",
            minimum=1,
        ),
        Option(
            "commit_interval",
            float,
            None,
            "send acknowledgements at least every this many seconds (default: 0.2 with "
            "commit='async', no interval with commit='sync')",
            minimum=0,
            unit="seconds",
        ),
        Option(
            "prefetch", int, 256, "messages fetched ahead of receive()", minimum=1, nullable=False
        ),
        Option(
            "prefetch_bytes",
            int,
            2 << 20,
            "fetch fewer than prefetch messages ahead when they would hold more payload bytes "
            "than this (large messages)",
            minimum=1,
            nullable=False,
        ),
        Option(
            "max_deliveries",
            int,
            None,
            "after this many deliveries without an ack, dead-letter the message",
            minimum=1,
        ),
        Option("dead_letter_topic", str, None, "where dead_letter() and max_deliveries send"),
        Option(
            "on_commit_error",
            object,
            None,
            "a callable taking the exception of a failed ASYNC commit (default: log it)",
        ),
    ]
)
"""Options of every consumer; a backend's ``consumer_options`` extend them."""
