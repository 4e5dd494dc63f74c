"""Names and message framing for the nats:// and memphis:// backends (no I/O, no nats-py).

- **Names**: a topic becomes a NATS subject and a JetStream stream name, a group a durable
  consumer name. A topic made of letters, digits, ``_``, ``-`` and dot-separated tokens is
  used as the subject unchanged (``orders.created``), so existing NATS streams that capture
  it are found and used; anything else (and any topic containing ``~``) is escaped as
  ``~XX`` per UTF-8 byte, which keeps the mapping one-to-one. Stream and consumer names
  cannot hold dots: those are escaped too (``orders~2Ecreated``).
- **Headers**: brokerkit headers round-trip unchanged. Those NATS cannot carry as they are
  (names outside the header-token characters, values with control characters or
  surrounding blanks, names NATS or nats-py give a meaning: ``Nats-*``, ``Status``,
  ``Description``) travel JSON-packed in one ``brokerkit-headers`` header. The key travels
  in ``brokerkit-key`` (text) or ``brokerkit-key-b64`` (other bytes).
- **Ack subjects**: a JetStream delivery's reply subject carries the delivery count, the
  stream sequence and the timestamp; :func:`ack_fields` reads them without nats-py's
  per-message metadata object.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping

from ..._types import H_MESSAGE_ID

H_KEY = "brokerkit-key"
H_KEY_B64 = "brokerkit-key-b64"
H_PACKED = "brokerkit-headers"
NATS_MSG_ID = "Nats-Msg-Id"

_SUBJECT_OK = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Header names nats-py or the NATS server interpret (lower case): never sent as is.
_MEANINGFUL = ("nats-", "status", "description")
#: Longest stream/consumer name we make (the server stores each in a directory).
MAX_NAME = 200


def _escape(text: str, keep: frozenset[str]) -> str:
    out = []
    for ch in text:
        if ch in keep:
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
    return "".join(out)


def _shorten(name: str) -> str:
    if len(name) <= MAX_NAME:
        return name
    import hashlib

    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: MAX_NAME - 18]}~~{digest}"


def subject_for(topic: str) -> str:
    """The NATS subject of ``topic`` (see the module docstring)."""
    if _SUBJECT_OK.fullmatch(topic):
        return topic
    return _shorten(_escape(topic, _NAME_CHARS))


def name_for(text: str) -> str:
    """A JetStream stream or consumer name for a topic or group name."""
    return _shorten(_escape(text, _NAME_CHARS))


def _safe_value(value: str) -> bool:
    return value.isprintable() and value == value.strip()


def _safe_name(name: str) -> bool:
    return (
        _HEADER_NAME.fullmatch(name) is not None
        and not name.lower().startswith(_MEANINGFUL)
        and name not in (H_KEY, H_KEY_B64, H_PACKED)
    )


def encode_headers(
    key: bytes | None, headers: Mapping[str, str] | None, msg_id_header: str = NATS_MSG_ID
) -> dict[str, str]:
    """The NATS headers for one record (call only when it has a key or headers)."""
    out: dict[str, str] = {}
    packed: dict[str, str] | None = None
    if headers:
        for name, value in headers.items():
            if name == H_MESSAGE_ID:
                out[msg_id_header] = value if _safe_value(value) else json.dumps(value)
            elif _safe_name(name) and _safe_value(value):
                out[name] = value
            else:
                if packed is None:
                    packed = {}
                packed[name] = value
        if packed:
            out[H_PACKED] = json.dumps(packed, ensure_ascii=True, separators=(",", ":"))
    if key is not None:
        try:
            text = key.decode()
        except UnicodeDecodeError:
            text = None
        if text is not None and _safe_value(text):
            out[H_KEY] = text
        else:
            out[H_KEY_B64] = base64.b64encode(key).decode()
    return out


def decode_headers(
    raw: dict[str, str] | None, drop: tuple[str, ...] = (NATS_MSG_ID,)
) -> tuple[bytes | None, dict[str, str] | None]:
    """(key, headers) of a received message; ``raw`` (nats-py's fresh dict) is consumed."""
    if not raw:
        return None, None
    key: bytes | None = None
    text = raw.pop(H_KEY, None)
    if text is not None:
        key = text.encode()
    else:
        b64 = raw.get(H_KEY_B64)
        if b64 is not None:
            key = _b64(b64)
            if key is not None:
                del raw[H_KEY_B64]
    packed = raw.get(H_PACKED)
    for name in drop:
        raw.pop(name, None)
    if packed is not None:
        unpacked = _unpack(packed)
        if unpacked is not None:
            del raw[H_PACKED]
            raw.update(unpacked)
    return key, (raw or None)


def _b64(text: str) -> bytes | None:
    """A brokerkit-key-b64 value, None when it is not base64 (another writer's header)."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return None


def _unpack(text: str) -> dict[str, str] | None:
    """A brokerkit-headers value, None when it is not a JSON object of strings (another
    writer's header, which then stays as it is)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if type(value) is not dict or not all(type(v) is str for v in value.values()):
        return None
    return value


def ack_fields(reply: str) -> tuple[int, str, float]:
    """(delivery count, stream sequence, timestamp in seconds) from an ack subject:
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>`` or the
    longer form with domain and account hash after ``$JS.ACK``."""
    tokens = reply.split(".")
    if len(tokens) == 9:
        return int(tokens[4]), tokens[5], int(tokens[7]) / 1e9
    return int(tokens[6]), tokens[7], int(tokens[9]) / 1e9
