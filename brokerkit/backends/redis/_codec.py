"""How a brokerkit message is laid out in a Redis stream entry or a Pub/Sub payload.

Pure functions shared by the async driver and its generated sync twin; no I/O.

Stream entry fields (names are bytes, values are bytes)::

    v        the value (always present, always the first field)
    k        the key (only when the message has one)
    h:NAME   one per header, NAME is the header name in UTF-8

brokerkit's own fields are the single letters ``v`` and ``k``; every header field starts
with ``h:``, so no header name can ever collide with them (nor with another header).
Strings are encoded UTF-8 with ``surrogatepass``, so any ``str`` round-trips.

Entries written by other programs (``XADD orders * data '{"order":1}'``) are read so that
nothing arrives empty without a word: the value is the field named by the ``value_field``
option when the entry has it, else brokerkit's ``v``, else the only field of a single-field
entry (else empty); every other field that is not brokerkit's arrives as a header (field
name -> value, UTF-8), so nothing is dropped silently.

Pub/Sub payload: a message without key or headers is published as its value alone
(plain Redis subscribers see the bytes they expect), unless the value happens to start
with :data:`MAGIC`. Anything else is ``MAGIC`` followed by a length-prefixed frame::

    MAGIC | key_len:u32 (0xFFFFFFFF: no key) | key | n_headers:u32 |
          (name_len:u32 | name | value_len:u32 | value) * n_headers | value (the rest)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from struct import Struct
from typing import Any

from ..._async.driver import Delivery

__all__ = ["MAGIC", "Delivery", "decode_entries", "decode_frame", "encode_frame", "entry_fields"]

F_VALUE = b"v"
F_KEY = b"k"
F_HEADER = b"h:"

MAGIC = b"\xffBK\x01"
"""Starts a framed Pub/Sub payload. 0xFF never starts UTF-8 text."""

_U32 = Struct(">I")
_NO_KEY = 0xFFFFFFFF


def encode_text(text: str) -> bytes:
    """A topic, group or header string as Redis bytes (lone surrogates kept)."""
    return text.encode("utf-8", "surrogatepass")


def _dec(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


# -- streams -------------------------------------------------------------------------------


def entry_fields(
    value: bytes, key: bytes | None, headers: Mapping[str, str] | None
) -> tuple[bytes, ...]:
    """The field/value arguments of an XADD for one message."""
    if key is None and not headers:
        return (F_VALUE, value)
    out: list[bytes] = [F_VALUE, value]
    if key is not None:
        out += (F_KEY, key)
    if headers:
        for name, text in headers.items():
            out += (F_HEADER + encode_text(name), encode_text(text))
    return tuple(out)


def _slow_entry(
    mid: bytes, sid: str, fields: Sequence[bytes], ts: float, count: int, value_field: bytes
) -> Delivery:
    value: bytes | None = None
    own: bytes | None = None
    key: bytes | None = None
    headers: dict[str, str] | None = None
    foreign: list[tuple[bytes, bytes]] = []
    for i in range(0, len(fields) - 1, 2):
        name = fields[i]
        if name == value_field:
            value = fields[i + 1]
        elif name == F_VALUE:
            own = fields[i + 1]
        elif name == F_KEY:
            key = fields[i + 1]
        elif name[:2] == F_HEADER:
            if headers is None:
                headers = {}
            headers[_dec(name[2:])] = _dec(fields[i + 1])
        else:
            foreign.append((name, fields[i + 1]))
    if value is None:
        value = own
    if value is None and len(foreign) == 1 and key is None and headers is None:
        return Delivery(mid, sid, foreign[0][1], None, None, ts, count)  # one plain field
    if foreign:  # fields of another writer travel as headers, never dropped
        headers = headers or {}
        for name, data in foreign:
            headers.setdefault(_dec(name), data.decode("utf-8", "backslashreplace"))
    return Delivery(mid, sid, b"" if value is None else value, key, headers, ts, count)


def decode_entries(
    entries: Sequence[Any], counts: Sequence[int] | None = None, value_field: bytes = F_VALUE
) -> list[Delivery]:
    """Deliveries from the raw entry list of an XREADGROUP/XAUTOCLAIM reply.

    ``counts``: the delivery count of each entry (None: 1 each, a first delivery).
    ``value_field``: the field that carries the value (the ``value_field`` option; see
    the module docstring for entries without it). Entries whose fields are nil (deleted
    from the stream) are skipped.

    This runs once per received message: the timestamp (the id's millisecond part) is
    parsed once per millisecond, not once per entry, and a message with neither key nor
    headers (the common case) takes no loop over its fields.
    """
    out: list[Delivery] = []
    append = out.append
    prefix = "-"  # "<ms>-" of the previous entry; no id starts with "-"
    ts = 0.0
    count = 1
    for i, (mid, fields) in enumerate(entries):
        if fields is None:
            continue
        sid = mid.decode()
        if not sid.startswith(prefix):
            prefix = sid[: sid.index("-") + 1]
            ts = int(prefix[:-1]) / 1000.0
        if counts is not None:
            count = counts[i]
        if len(fields) == 2 and fields[0] == value_field:
            append(Delivery(mid, sid, fields[1], None, None, ts, count))
        else:
            append(_slow_entry(mid, sid, fields, ts, count, value_field))
    return out


# -- pub/sub -------------------------------------------------------------------------------


def encode_frame(value: bytes, key: bytes | None, headers: Mapping[str, str] | None) -> bytes:
    """The Pub/Sub payload for one message (see the module docstring)."""
    if key is None and not headers and not value.startswith(MAGIC):
        return value
    pack = _U32.pack
    parts = [MAGIC]
    if key is None:
        parts.append(pack(_NO_KEY))
    else:
        parts += (pack(len(key)), key)
    items = list(headers.items()) if headers else []
    parts.append(pack(len(items)))
    for name, text in items:
        raw_name, raw_text = encode_text(name), encode_text(text)
        parts += (pack(len(raw_name)), raw_name, pack(len(raw_text)), raw_text)
    parts.append(value)
    return b"".join(parts)


def decode_frame(payload: bytes) -> tuple[bytes, bytes | None, dict[str, str] | None]:
    """(value, key, headers) from a Pub/Sub payload; a payload without MAGIC is a value."""
    if not payload.startswith(MAGIC):
        return payload, None, None
    unpack = _U32.unpack_from
    pos = len(MAGIC)
    (n,) = unpack(payload, pos)
    pos += 4
    key: bytes | None = None
    if n != _NO_KEY:
        key = payload[pos : pos + n]
        pos += n
    (count,) = unpack(payload, pos)
    pos += 4
    headers: dict[str, str] | None = {} if count else None
    for _ in range(count):
        (n,) = unpack(payload, pos)
        name = _dec(payload[pos + 4 : pos + 4 + n])
        pos += 4 + n
        (n,) = unpack(payload, pos)
        assert headers is not None
        headers[name] = _dec(payload[pos + 4 : pos + 4 + n])
        pos += 4 + n
    return payload[pos:], key, headers
