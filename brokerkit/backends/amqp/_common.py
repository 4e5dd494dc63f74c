"""What the amqp driver needs besides the driver itself: connection settings from the URL
and options, names of exchanges and queues, headers in and out, and the error table (the
one place where aio-pika/aiormq exceptions become brokerkit errors).
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
import uuid
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

from aiormq import exceptions as ax

from ..._url import BrokerURL
from ...errors import (
    BrokerConnectionError,
    BrokerError,
    ClosedError,
    ConfigurationError,
    DeliveryError,
    ErrorTable,
    TimeoutError,
    map_errors,
)
from .._tls import TLS_FILES
from .._tls import ssl_context as tls_context

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 5672
DEFAULT_TLS_PORT = 5671

#: The message key travels as the routing key (when it is UTF-8) and as this header
#: (bytes), which the consumer strips.
H_KEY = "brokerkit-key"
#: Deliveries a message had before it went through a delay queue (nack(delay=...)): the
#: copy that comes back is a new message for the broker, so its own count restarts.
H_DELIVERIES = "brokerkit-deliveries"
#: Headers RabbitMQ adds (delivery count of quorum queues, dead-letter history); they
#: are not the application's and are stripped from Message.headers.
BROKER_HEADERS = frozenset(
    {
        "x-delivery-count",
        "x-death",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
STRIP = BROKER_HEADERS | {H_KEY, H_DELIVERIES}


def is_broker_header(name: str, value: Any, headers: Mapping[str, Any]) -> bool:
    """True for a header of ``STRIP`` that brokerkit or RabbitMQ set, not the application.

    An application's headers are always strings, so a header named like RabbitMQ's is the
    broker's only with the broker's type: ``x-delivery-count`` an int, ``x-death`` an array;
    ``x-first-death-*`` / ``x-last-death-*`` when the message carries such an ``x-death``.
    """
    if name in (H_KEY, H_DELIVERIES):
        return True  # brokerkit-* names are reserved: never the application's
    if name == "x-delivery-count":
        return type(value) is int
    if name == "x-death":
        return type(value) is list
    return type(headers.get("x-death")) is list


#: Delay queues are deleted by the broker when unused this long after their delay.
DELAY_QUEUE_EXPIRY_MS = 60_000


def endpoint(url: BrokerURL) -> tuple[str, int]:
    if len(url.hosts) > 1:
        raise ConfigurationError(
            f"an amqp URL names one broker, got {len(url.hosts)} hosts in {url}; expected "
            "amqp://[user[:password]@]host[:port][/vhost]"
        )
    default = DEFAULT_TLS_PORT if url.scheme == "amqps" else DEFAULT_PORT
    return url.host or DEFAULT_HOST, url.port or default


def vhost(url: BrokerURL) -> str:
    """The virtual host: the URL path ('' or '/' is RabbitMQ's default vhost '/')."""
    return url.path or "/"


def connection_name(options: Mapping[str, Any]) -> str:
    """The client-provided connection name (shown by rabbitmqctl list_connections)."""
    return str(options.get("client_id") or "brokerkit")


def ssl_context(url: BrokerURL, options: Mapping[str, Any]) -> ssl.SSLContext | None:
    """amqps://: a context from tls_ca_file / tls_cert_file / tls_key_file / tls_verify."""
    if url.scheme != "amqps":
        for name in TLS_FILES:
            if options.get(name):
                raise ConfigurationError(
                    f"option {name!r} applies to amqps:// URLs only; use amqps://host:5671/ for TLS"
                )
        return None
    return tls_context(options, backend="amqp")


def exchange_name(topic: str) -> str:
    return topic


def queue_name(topic: str, group: str) -> str:
    return f"{topic}.{group}"


def private_queue(topic: str) -> str:
    return f"{topic}.brokerkit-private-{uuid.uuid4().hex[:16]}"


def delay_queue(queue: str, delay_ms: int) -> str:
    return f"{queue}.brokerkit-delay-{delay_ms}ms"


def routing_key_of(key: bytes | None) -> str:
    """The routing key for a message key: its UTF-8 text when it is one (<= 255 bytes)."""
    if not key or len(key) > 255:
        return ""
    try:
        return key.decode()
    except UnicodeDecodeError:
        return ""


def number(value: Any) -> int:
    """A count from a header (an int, or its text), 0 when absent or not a number."""
    if type(value) is int:
        return value
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def text(value: Any) -> str:
    """An AMQP header value as the str brokerkit's headers hold."""
    if type(value) is str:
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


# -- errors ------------------------------------------------------------------------------


def _reply(exc: BaseException) -> str:
    """The broker's reply text of an AMQP error, else the exception's own text."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if isinstance(exc, ax.ChannelClosed | ax.ConnectionClosed) and len(args) >= 2:
        return f"{args[0]} {args[1]}"
    return str(exc) or type(exc).__name__


def error_table(where: str, *, connecting: bool = False) -> ErrorTable:
    """aio-pika/aiormq exceptions -> brokerkit errors, naming the broker (never the password).

    ``connecting``: the table for connect(), where anything that goes wrong means the broker
    cannot be used: BrokerConnectionError.
    """

    def auth(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"RabbitMQ at {where} rejected the credentials (or the vhost): {exc}", backend="amqp"
        )

    def conn(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"cannot reach RabbitMQ at {where}: {_reply(exc)}", backend="amqp"
        )

    def protocol(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"the server at {where} does not answer like an AMQP 0-9-1 broker: {exc!r}",
            backend="amqp",
        )

    def precondition(exc: BaseException) -> BrokerError:
        reply = _reply(exc)
        if "unknown delivery tag" in reply:
            return BrokerConnectionError(
                f"RabbitMQ at {where} closed the channel: {reply} (an ack or nack for a "
                "delivery of a channel that was lost); the message will be delivered again",
                backend="amqp",
            )
        if "inequivalent" not in reply:
            return ConfigurationError(f"RabbitMQ at {where} refused: {reply}", backend="amqp")
        return ConfigurationError(
            f"RabbitMQ at {where} refused a declaration: {_reply(exc)}; an exchange or queue "
            "of that name exists with other settings (type, durability, arguments such as "
            "x-queue-type): use the same settings, another name, or declare=false to use it "
            "as it is",
            backend="amqp",
        )

    def not_found(exc: BaseException) -> BrokerError:
        return ConfigurationError(
            f"RabbitMQ at {where}: {_reply(exc)} (with declare=false the exchange/queue must "
            "exist; with declare=true brokerkit creates it)",
            backend="amqp",
        )

    def refused(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"RabbitMQ at {where} refused access: {_reply(exc)} (check the user's "
            "permissions on this vhost)",
            backend="amqp",
        )

    def locked(exc: BaseException) -> BrokerError:
        return ConfigurationError(
            f"RabbitMQ at {where}: {_reply(exc)} (an exclusive queue of another connection)",
            backend="amqp",
        )

    def channel(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"RabbitMQ at {where} closed the channel: {_reply(exc)}", backend="amqp"
        )

    def gone(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"the channel to RabbitMQ at {where} is closed (connection lost?): {exc}",
            backend="amqp",
        )

    def nacked(exc: BaseException) -> BrokerError:
        return DeliveryError(f"RabbitMQ at {where} refused a message: {exc}", backend="amqp")

    def timeout(exc: BaseException) -> BrokerError:
        return TimeoutError(f"RabbitMQ at {where} did not answer in time", backend="amqp")

    def silent(exc: BaseException) -> BrokerError:
        return BrokerConnectionError(
            f"RabbitMQ at {where} did not answer within the connect timeout", backend="amqp"
        )

    if connecting:
        return (
            ((builtins.TimeoutError,), silent),
            (
                (ax.ProbableAuthenticationError, ax.AuthenticationError, ax.ConnectionNotAllowed),
                auth,
            ),
            ((ax.IncompatibleProtocolError, ax.ProtocolSyntaxError), protocol),
            ((ax.AMQPError, ConnectionError, OSError, builtins.TimeoutError), conn),
        )
    return (
        ((ax.ChannelPreconditionFailed,), precondition),
        ((ax.ChannelNotFoundEntity,), not_found),
        ((ax.ChannelAccessRefused,), refused),
        ((ax.ChannelLockedResource,), locked),
        ((ax.ChannelClosed,), channel),
        ((ax.ChannelInvalidStateError,), gone),
        ((ax.ProbableAuthenticationError, ax.AuthenticationError), auth),
        ((ax.DeliveryError,), nacked),
        ((builtins.TimeoutError,), timeout),
        ((ax.AMQPError, ConnectionError, OSError, RuntimeError), conn),
    )


class ErrorMapper:
    """``with errors():`` maps aio-pika/aiormq exceptions; ``errors(connecting=True)`` for
    connect(); :meth:`outcome` maps one publish outcome."""

    __slots__ = ("_connecting", "_secrets", "_table", "where")

    def __init__(self, host: str, port: int, password: str | None) -> None:
        self.where: str = f"{host}:{port}"
        self._table = error_table(self.where)
        self._connecting = error_table(self.where, connecting=True)
        self._secrets = [password] if password else []

    def __call__(self, connecting: bool = False) -> AbstractContextManager[None]:
        return map_errors(self._connecting if connecting else self._table, secrets=self._secrets)

    def convert(self, exc: BaseException) -> BaseException:
        """``exc`` as a brokerkit error (an exception it does not know is returned as is)."""
        try:
            with self():
                raise exc
        except BaseException as mapped:
            return mapped

    def outcome(self, result: Any, exchange: str, routing_key: str) -> BaseException | None:
        """One publisher-confirm outcome: None (stored) or the error saying why not."""
        if isinstance(result, BaseException):
            if isinstance(result, ax.PublishError):
                return DeliveryError(
                    f"RabbitMQ at {self.where} returned a message as unroutable: no queue is "
                    f"bound to exchange {exchange!r} for routing key {routing_key!r}",
                    backend="amqp",
                )
            if isinstance(result, ax.DeliveryError):
                return DeliveryError(
                    f"RabbitMQ at {self.where} refused (nacked) a message to exchange "
                    f"{exchange!r} (a queue over its length limit with overflow=reject-publish?)",
                    backend="amqp",
                )
            if isinstance(result, ax.ChannelNotFoundEntity):
                return DeliveryError(
                    f"RabbitMQ at {self.where}: no exchange {exchange!r} ({_reply(result)})",
                    backend="amqp",
                )
            if isinstance(result, asyncio.CancelledError):
                return BrokerConnectionError(
                    f"the channel to RabbitMQ at {self.where} closed before the broker "
                    "confirmed the message",
                    backend="amqp",
                )
            return self.convert(result)
        if result is None or type(result).__name__ == "Ack":
            return None
        # A Basic.Return delivered as a message (on_return_raises=False): unroutable.
        return DeliveryError(
            f"RabbitMQ at {self.where} returned a message as unroutable: no queue is bound "
            f"to exchange {exchange!r} for routing key {routing_key!r}",
            backend="amqp",
        )


def cancelled_error(queue: str) -> ClosedError:
    return ClosedError(
        f"RabbitMQ cancelled the consumer of queue {queue!r} (the queue was deleted, or its "
        "node went away); this consumer gets no more messages: close it and open a new one",
        backend="amqp",
    )


__all__ = [
    "BROKER_HEADERS",
    "DELAY_QUEUE_EXPIRY_MS",
    "H_DELIVERIES",
    "H_KEY",
    "STRIP",
    "ErrorMapper",
    "cancelled_error",
    "connection_name",
    "delay_queue",
    "endpoint",
    "exchange_name",
    "is_broker_header",
    "private_queue",
    "queue_name",
    "routing_key_of",
    "ssl_context",
    "text",
    "vhost",
]
