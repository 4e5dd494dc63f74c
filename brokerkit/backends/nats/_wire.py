"""Publishing a batch in one pass: the protocol commands of a batch made here and handed to
nats-py's outgoing buffer at once.

``nc.publish()`` does per message what is the same for every message of a producer: it
checks the subject, the connection state, and encodes the header block again (a regular
expression, ``strip``, ``translate`` and ``encode`` per header: with Memphis's two
producer headers, ~1.5 us of a ~5 us publish here). A :class:`Publisher` encodes a
producer's own headers once, checks the connection once per batch, builds each ``PUB`` /
``HPUB`` command with two concatenations, and appends the batch to the client's pending
buffer the way ``nc.publish()`` does (the same buffer, size limit and flusher).

That uses nats-py's private buffer (``_pending``, ``_pending_data_size``,
``_flush_pending``, ``_flush_queue``): :func:`fast_path_of` checks that the installed
nats-py has them, and a producer falls back to ``nc.publish()`` per message where it does
not, or while the connection is not up (nats-py's own rules for buffering during a
reconnect then apply).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from nats import errors as nerr
from nats.aio.client import Client

__all__ = ["Publisher", "append_pending", "commands_to", "fast_path_of", "header_block", "ready"]

_CRLF = b"\r\n"
#: As nats-py checks a header name (nats.aio.client._HEADER_KEY_RE).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NEWLINES = str.maketrans({"\r": " ", "\n": " "})
_INTERNALS = (
    "_pending",
    "_pending_data_size",
    "_max_pending_size",
    "_flush_pending",
    "_flush_queue",
    "stats",
)


def fast_path_of(nc: Client) -> bool:
    """Whether this client has the buffer :class:`Publisher` appends to."""
    return all(hasattr(nc, name) for name in _INTERNALS)


def ready(nc: Client) -> bool:
    """True when commands can go to ``nc``'s pending buffer directly (connected, not
    draining); else publish through ``nc.publish()``, which says why not."""
    return nc.is_connected and not nc.is_draining_pubs


def commands_to(subjects: Sequence[str], payload: bytes, reply: str | None = None) -> list[bytes]:
    """The ``PUB`` commands of one ``payload`` to each of ``subjects`` (a batch of acks:
    one to each message's reply subject), the last one asking for ``reply``."""
    tail = b" " + str(len(payload)).encode() + _CRLF + payload + _CRLF
    out = [b"PUB " + subject.encode() + tail for subject in subjects]
    if reply is not None and out:
        out[-1] = b"PUB " + subjects[-1].encode() + b" " + reply.encode() + tail
    return out


async def append_pending(nc: Client, commands: list[bytes], count: int, payload_bytes: int) -> None:
    """Append ready-made commands to the client's buffer and wake its flusher, as
    ``nc.publish()`` does for one (forcing a flush when the buffer is over its size)."""
    client: Any = nc
    client._pending.extend(commands)
    client._pending_data_size += sum(map(len, commands))
    stats = client.stats
    stats["out_msgs"] += count
    stats["out_bytes"] += payload_bytes
    if 0 < client._max_pending_size < client._pending_data_size:
        await client._flush_pending(force_flush=True)
    elif client._flush_queue is not None and client._flush_queue.empty():
        await client._flush_pending()


def header_block(headers: Mapping[str, str]) -> bytes:
    """The header block nats-py would send for ``headers`` (``NATS/1.0``, one ``name:
    value`` line each, names stripped and checked, values stripped, CR/LF made spaces)."""
    out = bytearray(b"NATS/1.0\r\n")
    for name, value in headers.items():
        name = name.strip()
        if not name:
            continue
        if not _HEADER_NAME.fullmatch(name):
            raise nerr.BadHeaderError(name)
        out += name.encode()
        out += b": "
        out += value.strip().translate(_NEWLINES).encode()
        out += _CRLF
    out += _CRLF
    return bytes(out)


class Publisher:
    """Publishes batches to one subject of one connection (see the module docstring)."""

    __slots__ = ("_fast", "_nc", "_subject")

    def __init__(self, nc: Client, subject: str) -> None:
        self._nc = nc
        self._subject = subject.encode()
        self._fast = fast_path_of(nc)

    @property
    def fast(self) -> bool:
        return self._fast

    def ready(self) -> bool:
        """True when a batch can go to the pending buffer directly (see :func:`ready`)."""
        return self._fast and ready(self._nc)

    def commands(self, values: list[bytes], block: bytes | None) -> list[bytes]:
        """The ``PUB`` (``block`` None) or ``HPUB`` commands of ``values``, all with the
        same header block."""
        if block is None:
            head = b"PUB " + self._subject + b" "
            return [head + str(len(v)).encode() + _CRLF + v + _CRLF for v in values]
        size = len(block)
        head = b"HPUB " + self._subject + b" " + str(size).encode() + b" "
        tail = _CRLF + block
        return [head + str(size + len(v)).encode() + tail + v + _CRLF for v in values]

    async def send(self, commands: list[bytes], count: int, payload_bytes: int) -> None:
        """Append ready-made commands to the client's buffer (:func:`append_pending`)."""
        await append_pending(self._nc, commands, count, payload_bytes)
