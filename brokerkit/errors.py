"""The brokerkit exception tree.

Every error brokerkit raises on purpose derives from :class:`BrokerError`::

    BrokerError(Exception)                      root; .backend, masked .url when known
    ├── ConfigurationError(.., ValueError)      bad URL/scheme/option/value, missing extra
    ├── UnsupportedError(.., NotImplementedError)  .capability the backend lacks
    ├── BrokerConnectionError(.., ConnectionError) unreachable, no answer, bad credentials
    ├── DeliveryError                           broker refused or lost a send; .failures
    ├── ClosedError                             use after close() (or before opening)
    └── TimeoutError(.., builtins.TimeoutError) an operation did not finish in time

Client-library exceptions never escape: each backend maps them here in one place with
:func:`map_errors`, chaining the original as ``__cause__`` and scrubbing credentials.
Errors are picklable.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = [
    "BrokerConnectionError",
    "BrokerError",
    "ClosedError",
    "ConfigurationError",
    "DeliveryError",
    "TimeoutError",
    "UnsupportedError",
    "map_errors",
    "scrub",
]

_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@"
)


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """Mask URL passwords (``scheme://user:pw@`` -> ``scheme://user:***@``) and ``secrets``."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class BrokerError(Exception):
    """Root of every error brokerkit raises."""

    def __init__(
        self, message: str = "", *, backend: str | None = None, url: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.backend = backend
        self.url = url

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[BrokerError], message: str, state: dict[str, Any]) -> BrokerError:
    err = cls.__new__(cls)
    BrokerError.__init__(err, message)
    err.__dict__.update(state)
    return err


class ConfigurationError(BrokerError, ValueError):
    """A bad URL, scheme, option or value, or a missing client library (with an install hint)."""


class UnsupportedError(BrokerError, NotImplementedError):
    """The backend cannot keep the guarantee or feature asked for (never silently downgraded)."""

    def __init__(self, message: str = "", *, capability: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.capability = capability


class BrokerConnectionError(BrokerError, ConnectionError):
    """The broker cannot be reached, does not answer, or rejected the credentials."""


class SettleLostError(BrokerConnectionError):
    """Acks or nacks that cannot reach the broker any more: they belong to a connection
    (a channel, a session) that is gone, and the broker redelivers those messages. A
    driver raises it from ``settle()``; unlike other connection errors the core does not
    try the settle again (it cannot succeed) and raises it at once."""


class DeliveryError(BrokerError):
    """The broker refused or lost one or more sends. ``failures`` lists (value, reason) pairs."""

    def __init__(
        self, message: str = "", *, failures: Sequence[tuple[bytes, str]] = (), **kw: Any
    ) -> None:
        super().__init__(message, **kw)
        self.failures: list[tuple[bytes, str]] = list(failures)


class ClosedError(BrokerError):
    """The broker, producer or consumer was used after close(), or (async API) before it
    was opened with ``await`` or ``async with``."""


class TimeoutError(BrokerError, builtins.TimeoutError):
    """An operation did not complete in time."""


for _cls in (
    BrokerError,
    ConfigurationError,
    UnsupportedError,
    BrokerConnectionError,
    DeliveryError,
    ClosedError,
    TimeoutError,
):
    _cls.__module__ = "brokerkit"

ErrorTable = Sequence[
    tuple[
        type[BaseException] | tuple[type[BaseException], ...],
        Callable[[BaseException], BrokerError],
    ]
]


@contextmanager
def map_errors(
    table: ErrorTable, *, secrets: Sequence[str] = (), url: str | None = None
) -> Iterator[None]:
    """Translate client-library exceptions through ``table`` (first match wins).

    Each row is ``(exception types, factory)``; the factory builds the brokerkit error.
    Its message is scrubbed of credentials and the original is chained as ``__cause__``;
    ``url`` (already masked, e.g. ``BrokerURL.render()``) becomes its ``.url`` unless the
    factory set one. BrokerErrors pass through untouched.
    """
    try:
        yield
    except BrokerError:
        raise
    except BaseException as exc:
        for types, factory in table:
            if isinstance(exc, types):
                err = factory(exc)
                err.message = scrub(err.message, secrets)
                err.args = (err.message,)
                if err.url is None and url is not None:
                    err.url = scrub(url, secrets)
                raise err from exc
        raise
