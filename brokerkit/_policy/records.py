"""Validation of what the application sends: payload, key and headers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._types import RESERVED_HEADER_PREFIX


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


def records_of(messages: Iterable[Any]) -> list[tuple[bytes, bytes | None, dict[str, str] | None]]:
    """The records of a ``send_many()`` batch, checked (see :func:`record_of`).

    A batch is an iterable of messages; ``str``, ``bytes`` and the like are iterable too
    but are one message, not a batch (``send_many("abc")`` used to send three 1-byte
    messages), and a mapping is not a batch either: both raise TypeError.
    """
    if isinstance(messages, str | bytes | bytearray | memoryview):
        raise TypeError(
            f"send_many() takes an iterable of messages, got a single "
            f"{type(messages).__name__} ({_preview(messages)}); "
            "use send(value) for one message, or send_many([value, ...])"
        )
    if isinstance(messages, Mapping):
        raise TypeError(
            "send_many() takes an iterable of messages (values, or (value, key) / "
            f"(value, key, headers) tuples), got a {type(messages).__name__}; "
            "for key -> value pairs use send_many(mapping.items()) with (value, key) order: "
            "send_many([(v, k) for k, v in mapping.items()])"
        )
    try:
        items = iter(messages)
    except TypeError:
        raise TypeError(
            "send_many() takes an iterable of messages (values, or (value, key) / "
            f"(value, key, headers) tuples), got {type(messages).__name__}"
        ) from None
    return [record_of(item) for item in items]


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
