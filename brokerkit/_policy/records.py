"""Validation of what the application sends: payload, key and headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from .._types import RESERVED_HEADER_PREFIX, Values

_VALUE = itemgetter(0)
_BYTES_ONLY = {bytes}


def coerce_value(value: object) -> bytes:
    """bytes pass through; str is UTF-8 encoded; bytearray/memoryview are copied."""
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(
        f"message value must be bytes or str, got {type(value).__name__}; "
        "serialize it first (e.g. json.dumps(obj).encode())"
    )


def coerce_key(key: object) -> bytes | None:
    """None, bytes, or str (UTF-8 encoded)."""
    if key is None or type(key) is bytes:
        return key
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key)
    raise TypeError(f"message key must be bytes, str or None, got {type(key).__name__}")


def check_headers(headers: Any, *, internal: bool = False) -> dict[str, str]:
    """A private copy of ``headers`` after checking it is a Mapping[str, str].

    Names starting with ``brokerkit-`` are reserved for the library unless ``internal``.
    """
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a Mapping[str, str], got {type(headers).__name__}")
    out = dict(headers)
    for name, value in out.items():
        if type(name) is not str or type(value) is not str:
            raise TypeError(
                f"headers must be a Mapping[str, str]; header {name!r} has "
                f"{type(name).__name__} name and {type(value).__name__} value"
            )
        if not internal and name.startswith(RESERVED_HEADER_PREFIX):
            raise ValueError(
                f"header {name!r}: names starting with {RESERVED_HEADER_PREFIX!r} are reserved "
                "for brokerkit"
            )
    return out


def check_value_size(value: bytes, limit: int, topic: str) -> None:
    """Raise DeliveryError for a value larger than the broker accepts (``limit`` bytes)."""
    if len(value) > limit:
        from ..errors import DeliveryError

        raise DeliveryError(
            f"a message of {len(value)} bytes for topic {topic!r} is larger than the "
            f"{limit} bytes the broker accepts (option max_message_bytes); nothing was sent",
            failures=[(value[:64], "message too large")],
        )


def records_of(messages: Any, limit: int | None, topic: str) -> Sequence[Any]:
    """The records of a send_many() batch, checked (``limit``: max value bytes, or None):
    a :class:`Values` when every item is a bare bytes value, else a list."""
    if isinstance(messages, str | bytes | bytearray | memoryview) or not hasattr(
        messages, "__iter__"
    ):
        raise TypeError(
            f"send_many() takes an iterable of messages (values, or (value, key[, headers]) "
            f"tuples), got {type(messages).__name__}; use send() for a single message"
        )
    if isinstance(messages, Mapping):
        raise TypeError(
            "send_many() takes an iterable of messages (values, or (value, key[, headers]) "
            f"tuples), got a {type(messages).__name__}; for key -> value pairs write "
            "send_many([(v, k) for k, v in mapping.items()])"
        )
    items = messages if type(messages) is list else list(messages)
    if set(map(type, items)) == _BYTES_ONLY:
        # The common batch, bare bytes values: one Values, no tuple per message, its
        # sizes checked from C. A copy of the caller's list (which it may reuse).
        if limit is not None and max(map(len, items)) > limit:
            for value in items:
                check_value_size(value, limit, topic)
        return Values(items.copy() if items is messages else items)
    # A bare bytes value, the common item, is made a record inline: a call of
    # record_of() per item costs ~40 ns more.
    records = [(item, None, None) if type(item) is bytes else record_of(item) for item in items]
    if limit is not None and records and max(map(len, map(_VALUE, records))) > limit:
        for record in records:
            check_value_size(record[0], limit, topic)
    return records


def record_of(item: Any) -> tuple[bytes, bytes | None, dict[str, str] | None]:
    """One send_many item: a value, or a (value, key) / (value, key, headers) tuple."""
    if type(item) is bytes:
        return item, None, None
    if type(item) is tuple:
        if len(item) == 2:
            return coerce_value(item[0]), coerce_key(item[1]), None
        if len(item) == 3:
            headers = check_headers(item[2]) if item[2] else None
            return coerce_value(item[0]), coerce_key(item[1]), headers
        raise TypeError(
            "send_many items are values or (value, key) / (value, key, headers) tuples; "
            f"got a tuple of {len(item)}"
        )
    return coerce_value(item), None, None
