"""The instrumentation hook: what producers and consumers report, and how it is installed.

One :class:`Instrumentation` object sees every event of the brokers it is installed on,
sync and async alike (its methods are plain functions, called on the thread or task that
caused the event). The core calls it only where one is installed: a broker without
instrumentation pays one ``is None`` check per message, nothing more.

Events and how often they come:

- ``send``: per message, before it is buffered (the hook may add headers: trace context);
- ``publish``: per batch the broker answered (its records, their outcomes, the time from
  handing the batch to the driver to the broker's answer);
- ``deliver``: per ``receive()`` / ``receive_many()`` that hands messages out;
- ``ack`` / ``nack`` / ``dead_letter``: per message settled by the application or by the
  core (``max_deliveries``), with the seconds since it was delivered;
- ``commit``: per request that sends acknowledgements to the broker, with its duration;
- ``reconnect``: per retry of a lost connection by the core (a blocking receive, a
  confirmed ack), with the attempt number and the backoff.

Install with ``brokerkit.connect(url, instrumentation=[...])`` (one broker) or
``brokerkit.instrument(...)`` (every broker connected afterwards).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._types import Record
from .errors import ConfigurationError

__all__ = [
    "Endpoint",
    "Instrumentation",
    "MessageView",
    "combine",
    "installed",
    "instrument",
    "uninstrument",
]


@dataclass(frozen=True)
class Endpoint:
    """Where an event happened: one producer or consumer of one broker.

    ``backend`` is the backend's name (``"redis"``, ``"kafka"``, ...), ``topic`` the
    producer's or consumer's topic, ``group`` the consumer group (None for a producer and
    for a consumer's private group), ``server`` the first host and port of the URL (None
    for ``memory://``) and ``url`` the broker URL with the password masked.
    """

    backend: str
    topic: str
    group: str | None
    kind: str
    """``"producer"`` or ``"consumer"``."""
    server: tuple[str, int | None] | None
    url: str

    def __post_init__(self) -> None:
        # Hooks key their per-endpoint state by endpoint, per message: hash it once.
        fields = (self.backend, self.topic, self.group, self.kind, self.server, self.url)
        object.__setattr__(self, "_hash", hash(fields))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined,no-any-return]


class MessageView(Protocol):
    """What an instrumentation sees of a received message (a Message or AsyncMessage)."""

    value: bytes
    key: bytes | None
    headers: dict[str, str]
    topic: str
    id: str
    delivery_count: int


class Instrumentation:
    """Base class of instrumentation hooks: override the events you need; the others do
    nothing. An exception raised by a hook propagates to the caller of the API call that
    caused the event, so hooks should not raise."""

    def send(self, endpoint: Endpoint, headers: dict[str, str]) -> None:
        """Per message sent, before it is buffered. ``headers`` is the message's own copy:
        entries added here travel with the message (e.g. ``traceparent``)."""

    def publish(
        self,
        endpoint: Endpoint,
        records: Sequence[Record],
        errors: Sequence[BaseException | None],
        seconds: float,
    ) -> None:
        """Per batch the broker answered: ``records`` as ``(value, key, headers)``,
        ``errors[i]`` None where record ``i`` is stored, ``seconds`` from publishing the
        batch to the answer."""

    def deliver(self, endpoint: Endpoint, messages: Sequence[MessageView]) -> None:
        """Per receive() (one message) or receive_many() (its list), as they are handed
        to the application."""

    def ack(self, endpoint: Endpoint, message: MessageView, seconds: float) -> None:
        """The application acked ``message``, ``seconds`` after it was delivered."""

    def nack(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        requeue: bool,
        delay: float | None,
    ) -> None:
        """``message`` was nacked: delivered again (after ``delay``), or, with
        ``requeue=False`` and no dead_letter_topic, dropped."""

    def dead_letter(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        reason: str,
        dead_letter_topic: str,
    ) -> None:
        """``message`` was moved to ``dead_letter_topic`` (by dead_letter(), a nack with
        requeue=False, or max_deliveries) and acked."""

    def commit(
        self, endpoint: Endpoint, count: int, seconds: float, error: BaseException | None
    ) -> None:
        """One request sent ``count`` acknowledgements (or partition positions) to the
        broker in ``seconds``; ``error`` is set if it failed."""

    def reconnect(
        self, endpoint: Endpoint, attempt: int, error: BaseException, delay: float
    ) -> None:
        """The connection was lost (``error``); the core tries again, attempt number
        ``attempt``, after ``delay`` seconds."""


class _Fanout(Instrumentation):
    """Several hooks installed at once: each event goes to each, in order."""

    __slots__ = ("hooks",)

    def __init__(self, hooks: Sequence[Instrumentation]) -> None:
        self.hooks = tuple(hooks)

    def send(self, endpoint: Endpoint, headers: dict[str, str]) -> None:
        for hook in self.hooks:
            hook.send(endpoint, headers)

    def publish(
        self,
        endpoint: Endpoint,
        records: Sequence[Record],
        errors: Sequence[BaseException | None],
        seconds: float,
    ) -> None:
        for hook in self.hooks:
            hook.publish(endpoint, records, errors, seconds)

    def deliver(self, endpoint: Endpoint, messages: Sequence[MessageView]) -> None:
        for hook in self.hooks:
            hook.deliver(endpoint, messages)

    def ack(self, endpoint: Endpoint, message: MessageView, seconds: float) -> None:
        for hook in self.hooks:
            hook.ack(endpoint, message, seconds)

    def nack(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        requeue: bool,
        delay: float | None,
    ) -> None:
        for hook in self.hooks:
            hook.nack(endpoint, message, seconds, requeue, delay)

    def dead_letter(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        reason: str,
        dead_letter_topic: str,
    ) -> None:
        for hook in self.hooks:
            hook.dead_letter(endpoint, message, seconds, reason, dead_letter_topic)

    def commit(
        self, endpoint: Endpoint, count: int, seconds: float, error: BaseException | None
    ) -> None:
        for hook in self.hooks:
            hook.commit(endpoint, count, seconds, error)

    def reconnect(
        self, endpoint: Endpoint, attempt: int, error: BaseException, delay: float
    ) -> None:
        for hook in self.hooks:
            hook.reconnect(endpoint, attempt, error, delay)


_lock = threading.Lock()
_global: tuple[Instrumentation, ...] = ()


def _check(hook: object, where: str) -> Instrumentation:
    if not isinstance(hook, Instrumentation):
        raise ConfigurationError(
            f"{where}: {hook!r} is not an instrumentation hook; accepted: instances of "
            "brokerkit.Instrumentation subclasses, e.g. brokerkit.otel.Tracing() or "
            "brokerkit.prometheus.Metrics()"
        )
    return hook


def instrument(*hooks: Instrumentation) -> None:
    """Install ``hooks`` on every broker connected from now on (connect() and
    connect_async(); brokers already connected keep what they had). Installing a hook
    that is installed already does nothing."""
    global _global
    checked = [_check(h, "brokerkit.instrument()") for h in hooks]
    with _lock:
        _global = _global + tuple(h for h in checked if h not in _global)


def uninstrument(*hooks: Instrumentation) -> None:
    """Remove ``hooks`` installed by instrument() (all of them when none is named), for
    brokers connected from now on."""
    global _global
    with _lock:
        _global = tuple(h for h in _global if hooks and h not in hooks)


def installed() -> tuple[Instrumentation, ...]:
    """The hooks brokerkit.instrument() installed, in order."""
    return _global


def combine(option: Any) -> Instrumentation | None:
    """The hook a new broker calls: the global ones then those of the ``instrumentation``
    option (one hook or an iterable of hooks), as one object; None when there are none."""
    hooks: list[Instrumentation] = list(_global)
    if option is not None:
        items: Iterable[Any] = (
            [option] if isinstance(option, Instrumentation) or not _iterable(option) else option
        )
        for item in items:
            hook = _check(item, "option 'instrumentation'")
            if hook not in hooks:
                hooks.append(hook)
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]
    return _Fanout(hooks)


def _iterable(value: Any) -> bool:
    return hasattr(value, "__iter__") and not isinstance(value, str | bytes)
