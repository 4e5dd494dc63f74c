"""The one place where nats-py exceptions become brokerkit errors (nats:// and memphis://).

Messages name the server (host:port), never a password or token: the mapper scrubs the
URL's secrets from every message it builds.
"""

from __future__ import annotations

import asyncio
import builtins
import ssl
from contextlib import AbstractContextManager

from nats import errors as nerr
from nats.js import errors as jerr

from ...errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    DeliveryError,
    ErrorTable,
    TimeoutError,
    map_errors,
)

_AUTH = (nerr.AuthorizationError, nerr.InvalidUserCredentialsError)
_LOST = (
    nerr.NoServersError,
    nerr.ConnectionClosedError,
    nerr.StaleConnectionError,
    nerr.ConnectionReconnectingError,
    nerr.ConnectionDrainingError,
    nerr.SecureConnRequiredError,
    nerr.SecureConnWantedError,
    nerr.SecureConnFailedError,
    nerr.ProtocolError,
    ssl.SSLError,
    OSError,
)
_TIMEOUTS = (nerr.TimeoutError, asyncio.TimeoutError, builtins.TimeoutError)


def describe(exc: BaseException) -> str:
    """A short text for a nats-py exception (many have an empty str())."""
    if isinstance(exc, jerr.APIError):
        parts = [exc.description or type(exc).__name__]
        if exc.err_code:
            parts.append(f"(err_code {exc.err_code})")
        return " ".join(parts)
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text and text != name else name


class ErrorMapper:
    """``with mapper():`` maps nats-py exceptions; ``mapper(connecting=True)`` for connect,
    where anything that goes wrong means the broker cannot be used."""

    __slots__ = ("_connecting", "_secrets", "_table", "backend", "where")

    def __init__(self, backend: str, where: str, secrets: list[str]) -> None:
        self.backend = backend
        self.where = where
        self._secrets = [s for s in secrets if s]
        self._table = self._make(connecting=False)
        self._connecting = self._make(connecting=True)

    def __call__(self, connecting: bool = False) -> AbstractContextManager[None]:
        return map_errors(self._connecting if connecting else self._table, secrets=self._secrets)

    def _make(self, *, connecting: bool) -> ErrorTable:
        where, backend = self.where, self.backend

        def auth(exc: BaseException) -> BrokerError:
            return BrokerConnectionError(
                f"nats at {where} rejected the credentials: {describe(exc)}", backend=backend
            )

        def lost(exc: BaseException) -> BrokerError:
            return BrokerConnectionError(
                f"cannot reach nats at {where}: {describe(exc)}", backend=backend
            )

        def timeout(exc: BaseException) -> BrokerError:
            if connecting:
                return lost(exc)
            return TimeoutError(f"nats at {where} did not answer in time", backend=backend)

        def full(exc: BaseException) -> BrokerError:
            return BrokerConnectionError(
                f"the connection to nats at {where} is down and its reconnect buffer "
                "(option pending_size) is full",
                backend=backend,
            )

        def no_js(exc: BaseException) -> BrokerError:
            return BrokerConnectionError(
                f"JetStream does not answer at {where} (no responders): is the server "
                "running with JetStream enabled (nats-server -js)? Use ?jetstream=false "
                "for core NATS",
                backend=backend,
            )

        def api(exc: BaseException) -> BrokerError:
            assert isinstance(exc, jerr.APIError)
            if exc.code == 503:
                return no_js(exc)
            if exc.code == 400:
                return ConfigurationError(
                    f"nats at {where} refused the request: {describe(exc)}", backend=backend
                )
            return DeliveryError(f"nats at {where} refused: {describe(exc)}", backend=backend)

        def too_big(exc: BaseException) -> BrokerError:
            return DeliveryError(
                f"message larger than the max_payload of nats at {where}", backend=backend
            )

        def other(exc: BaseException) -> BrokerError:
            if connecting:
                return lost(exc)
            return DeliveryError(f"nats at {where}: {describe(exc)}", backend=backend)

        return (
            (_AUTH, auth),
            ((nerr.OutboundBufferLimitError,), full),
            (
                (nerr.NoRespondersError, jerr.NoStreamResponseError, jerr.ServiceUnavailableError),
                no_js,
            ),
            ((jerr.TooManyStalledMsgsError,), timeout),
            (_TIMEOUTS, timeout),
            ((jerr.APIError,), api),
            ((nerr.MaxPayloadError,), too_big),
            (_LOST, lost),
            ((nerr.Error,), other),
        )

    def publish_failure(self, exc: BaseException) -> BrokerError:
        """The brokerkit error for one record whose PubAck came back as an error."""
        if isinstance(exc, jerr.NoStreamResponseError):
            return DeliveryError(
                f"nats at {self.where}: no JetStream stream took the message (no responders: "
                "was the stream deleted, or is JetStream unavailable?)",
                backend=self.backend,
            )
        if isinstance(exc, jerr.APIError):
            return DeliveryError(
                f"nats at {self.where} refused the message: {describe(exc)}", backend=self.backend
            )
        try:
            with self():
                raise exc
        except BrokerError as err:
            return err
        except BaseException:  # not a nats-py error: wrap it all the same
            return DeliveryError(f"nats at {self.where}: {describe(exc)}", backend=self.backend)
        raise AssertionError("unreachable")  # pragma: no cover
