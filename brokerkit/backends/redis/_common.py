"""What the async driver and its generated sync twin share: client settings from the URL
and options, the error table (the one place where redis-py exceptions are mapped), names.

Imports redis-py (only the exception classes and backoff, which both clients share).
"""

from __future__ import annotations

import builtins
import logging
import os
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from redis import exceptions as rex
from redis.backoff import ExponentialBackoff

from ..._url import BrokerURL
from ...errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    DeliveryError,
    ErrorTable,
    TimeoutError,
    map_errors,
)
from .._tls import TLS_FILES, ssl_context

log = logging.getLogger("brokerkit")

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 6379

#: The group member that close() hands unacked messages to; every live member's
#: XAUTOCLAIM takes them from there at once.
HANDBACK = b"brokerkit-handback"

#: Removes the HANDBACK member from a group when it holds nothing, atomically (a member
#: that hands messages back at the same moment cannot lose them to the DELCONSUMER, which
#: drops the deleted member's pending entries). KEYS[1]: stream; ARGV: group, HANDBACK.
#: Returns 1 when it was removed.
DROP_EMPTY_HANDBACK = """
local ok, held = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if not ok or #held > 0 then return 0 end
local ok2, members = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok2 then return 0 end
for _, member in ipairs(members) do
  for i = 1, #member, 2 do
    if member[i] == 'name' and member[i + 1] == ARGV[2] then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
  end
end
return 0
"""

#: Handed-back or nacked messages get this idle time (24 h): old enough for any member's
#: visibility timeout, small enough that Redis does not clamp it (it clamps times before 0).
LONG_IDLE_MS = 86_400_000

#: Retry backoff: 50 ms doubling to at most 1 s.
BACKOFF_BASE = 0.05
BACKOFF_CAP = 1.0

#: The commands whose replies the drivers parse themselves (redis-py's parsers build
#: dicts per entry; ours read the raw lists once).
RAW_COMMANDS = ("XREADGROUP", "XAUTOCLAIM", "XCLAIM", "XPENDING")


def raw_reply(response: Any, **options: Any) -> Any:
    return response


def backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=BACKOFF_CAP, base=BACKOFF_BASE)


def retries_for(budget: float) -> int:
    """How many retries the backoff needs to keep trying for ``budget`` seconds."""
    n, total = 0, 0.0
    while total < budget:
        n += 1
        total += min(BACKOFF_CAP, BACKOFF_BASE * 2**n)
    return n


def endpoint(url: BrokerURL) -> tuple[str, int]:
    if len(url.hosts) > 1:
        raise ConfigurationError(
            f"a redis URL names one server, got {len(url.hosts)} hosts in {url}; "
            "expected redis://[user[:password]@]host[:port][/db]"
        )
    return url.host or DEFAULT_HOST, url.port or DEFAULT_PORT


def database(url: BrokerURL) -> int:
    path = url.path.strip("/")
    if not path:
        return 0
    if not (path.isascii() and path.isdigit()):
        raise ConfigurationError(
            f"the path of a redis URL is the database number, got {path!r} in {url}; "
            "expected redis://host:port/0"
        )
    return int(path)


def client_kwargs(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` / ``redis.asyncio.Redis`` (without retry)."""
    host, port = endpoint(url)
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "db": database(url),
        "username": url.username,
        "password": url.password,
        "client_name": client_name(options),
        "socket_connect_timeout": options["connect_timeout"],
        "socket_timeout": options["socket_timeout"],
        "socket_keepalive": True,
        "decode_responses": False,
    }
    if url.scheme == "rediss":
        ssl_context(options, backend="redis")  # the files load, or a clear error now
        kwargs["ssl"] = True
        kwargs["ssl_ca_certs"] = options.get("tls_ca_file")
        kwargs["ssl_certfile"] = options.get("tls_cert_file")
        kwargs["ssl_keyfile"] = options.get("tls_key_file")
        kwargs["ssl_cert_reqs"] = "required" if options["tls_verify"] else "none"
        kwargs["ssl_check_hostname"] = bool(options["tls_verify"])
    else:
        for name in TLS_FILES:
            if options.get(name):
                raise ConfigurationError(
                    f"option {name!r} applies to rediss:// URLs only; use rediss://host:6379/0 "
                    "for TLS"
                )
    return kwargs


def client_name(options: Mapping[str, Any]) -> str:
    """The CLIENT SETNAME of every connection: the client_id option, else "brokerkit"."""
    name = options.get("client_id") or "brokerkit"
    # CLIENT SETNAME refuses spaces and newlines.
    return "".join("-" if c.isspace() else c for c in name)


def consumer_name(options: Mapping[str, Any]) -> bytes:
    """A group member name unique to this consumer: client name, host, pid, random."""
    host = os.uname().nodename if hasattr(os, "uname") else "host"
    return f"{client_name(options)}:{host}:{os.getpid()}:{uuid.uuid4().hex[:12]}".encode()


def private_group() -> bytes:
    return f"brokerkit-private-{uuid.uuid4().hex}".encode()


def id_key(entry_id: bytes) -> tuple[int, int]:
    """A stream entry id (b"<ms>-<seq>") as numbers, for comparing ids."""
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def is_error(exc: BaseException, code: str) -> bool:
    """True when ``exc`` is a Redis error reply starting with ``code`` (NOGROUP, BUSYGROUP)."""
    return isinstance(exc, rex.ResponseError) and str(exc).startswith(code)


#: Error replies whose code redis-py turns into an exception class (dropping the code from
#: the message); the code goes back in front so messages read like Redis's own replies.
_REPLY_CODES: dict[type[BaseException], str] = {
    rex.OutOfMemoryError: "OOM",
    rex.ReadOnlyError: "READONLY",
    rex.NoPermissionError: "NOPERM",
    rex.BusyLoadingError: "LOADING",
    rex.ExecAbortError: "EXECABORT",
    rex.NoScriptError: "NOSCRIPT",
}


def reply_text(exc: BaseException) -> str:
    """The text of an error reply as Redis sent it (``OOM command not allowed ...``)."""
    code = _REPLY_CODES.get(type(exc))
    return f"{code} {exc}" if code else str(exc)


def tls_hint(host: str, port: int, tls: bool) -> str:
    """What to check when a connection fails in a way a TLS mismatch causes: a TLS
    handshake against a plain-text port gets no answer it understands (a timeout or a
    reset), and plain text against a TLS port is dropped."""
    where = f"{host}:{port}"
    if tls:
        return (
            f" (rediss:// speaks TLS: if the server at {where} serves plain text, "
            "use redis:// instead)"
        )
    return f" (if the server at {where} expects TLS, use rediss:// instead of redis://)"


def error_table(host: str, port: int, *, connecting: bool = False, tls: bool = False) -> ErrorTable:
    """redis-py exceptions -> brokerkit errors, naming the server (never the password).

    ``connecting``: the table for connect(), where whatever goes wrong (a refused
    connection, no answer, bad credentials, a server that does not speak RESP, a refused
    SELECT) means the broker cannot be used: BrokerConnectionError. There, a failure
    that a TLS mismatch causes (no answer, a reset, a garbled reply) says so.
    """
    where = f"{host}:{port}"
    hint = tls_hint(host, port, tls) if connecting else ""

    def auth(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"redis at {where} rejected the credentials: {exc}", backend="redis"
        )

    def conn(exc: BaseException) -> BrokerError:
        text = f"cannot reach redis at {where}: {exc}"
        if connecting and not _refused(exc):
            text += hint
        return BrokerConnectionError(text, backend="redis")

    def garbled(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"the server at {where} does not answer like redis: {exc}{hint}", backend="redis"
        )

    def setup(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"redis at {where} refused the connection: {reply_text(exc)}", backend="redis"
        )

    def refused(exc: BaseException) -> BrokerError:
        return DeliveryError(
            f"redis at {where} refused a command: {reply_text(exc)}", backend="redis"
        )

    def timeout(exc: BaseException) -> BrokerError:
        return TimeoutError(f"redis at {where} did not answer in time: {exc}", backend="redis")

    return (
        ((rex.AuthenticationError, rex.AuthenticationWrongNumberOfArgsError), auth),
        ((rex.ConnectionError, rex.TimeoutError), conn),
        ((rex.InvalidResponse,), garbled),
        ((rex.RedisError,), setup if connecting else refused),
        ((builtins.TimeoutError,), conn if connecting else timeout),
        ((OSError,), conn),
    )


def _refused(exc: BaseException) -> bool:
    """True when nothing listens at all (no TLS mismatch can explain that)."""
    return "refused" in str(exc).lower() or isinstance(exc.__cause__, ConnectionRefusedError)


def pubsub_hard_limit(reply: Any) -> int | None:
    """The hard ``client-output-buffer-limit`` of Pub/Sub clients, in bytes, from a
    ``CONFIG GET client-output-buffer-limit`` reply (None when unknown or unlimited)."""
    try:
        text = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        words = text.split()
        for i, word in enumerate(words):
            if word == "pubsub":
                hard = int(words[i + 1])
                return hard or None
    except (IndexError, TypeError, ValueError, AttributeError):
        pass
    return None


def pubsub_gap(
    where: str, channel: bytes, received: int, received_bytes: int, limit: int | None, gaps: int
) -> BrokerConnectionError:
    """A Pub/Sub subscription was cut and restored: messages published meanwhile are
    lost. Logged at WARNING here; the error is what the next receive() raises."""
    name = channel.decode(errors="replace")
    if limit:
        average = received_bytes / received if received else 0
        about = f", about {int(limit / average):,} messages of the size seen" if average else ""
        held = f"what Redis held for it when it cut it off (up to {limit:,} bytes{about})"
    else:
        held = "what Redis held for it when it cut it off"
    text = (
        f"the Pub/Sub subscription to {name!r} at redis {where} was cut and restored "
        f"({gaps} time(s) so far; {received:,} messages received before): messages "
        f"published in between are lost, at least {held} and everything published while "
        "it reconnected. Redis cuts a subscriber that falls behind at its "
        "client-output-buffer-limit for pubsub; receive faster, or use Streams mode "
        "(at-least-once), where nothing is lost"
    )
    log.warning("%s", text)
    return BrokerConnectionError(text, backend="redis")


class ErrorMapper:
    """``with mapper():`` maps redis-py exceptions (see :func:`error_table`); this is the
    one place where they are translated. ``mapper(connecting=True)`` for connect().
    Every error carries ``url`` (the password masked) as its ``.url``."""

    __slots__ = ("_connecting", "_secrets", "_table", "url", "where")

    def __init__(
        self, host: str, port: int, password: str | None, url: BrokerURL | None = None
    ) -> None:
        self.where = f"{host}:{port}"
        tls = url is not None and url.scheme == "rediss"
        self.url = url.without_query().render() if url is not None else None
        self._table = error_table(host, port, tls=tls)
        self._connecting = error_table(host, port, connecting=True, tls=tls)
        self._secrets = [password] if password else []

    def __call__(self, connecting: bool = False) -> AbstractContextManager[None]:
        return map_errors(
            self._connecting if connecting else self._table, secrets=self._secrets, url=self.url
        )


__all__ = [
    "DROP_EMPTY_HANDBACK",
    "HANDBACK",
    "LONG_IDLE_MS",
    "RAW_COMMANDS",
    "ErrorMapper",
    "backoff",
    "client_kwargs",
    "consumer_name",
    "endpoint",
    "id_key",
    "is_error",
    "private_group",
    "pubsub_gap",
    "pubsub_hard_limit",
    "raw_reply",
    "reply_text",
    "retries_for",
]
