"""The two contexts handed to hooks and handlers, and the decision a handling ends with.

A decision is a small tuple ``(kind, arg)``: ``ACKED`` (the default when a handler
returns), ``(NACK, delay)``, ``(DEAD, reason)`` or ``RELEASED`` (left unsettled: the
message goes back to the group when the consumer closes, used while stopping).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

__all__ = [
    "ACK",
    "ACKED",
    "DEAD",
    "NACK",
    "RELEASE",
    "RELEASED",
    "Decision",
    "HandlingContext",
    "ProcessingContext",
]

ACK, NACK, DEAD, RELEASE = 0, 1, 2, 3
Decision = tuple[int, Any]
ACKED: Decision = (ACK, None)
RELEASED: Decision = (RELEASE, None)


class ProcessingContext:
    """One run of a processor (or one test client): given to every hook.

    ``state`` is a free namespace for the run (connections, caches); ``topics``, ``group``
    and ``url`` (password masked) say what is consumed; ``stopping`` is true once a stop
    was asked for.
    """

    def __init__(
        self,
        processor: Any,
        url: str,
        topics: tuple[str, ...],
        group: str | None,
        stop_flag: threading.Event,
    ) -> None:
        self.processor = processor
        self.url = url
        self.topics = topics
        self.group = group
        self.state: SimpleNamespace = SimpleNamespace()
        self._stop_flag = stop_flag

    @property
    def stopping(self) -> bool:
        return self._stop_flag.is_set()

    def __repr__(self) -> str:
        return f"<ProcessingContext {self.url} topics={list(self.topics)} group={self.group!r}>"


class HandlingContext:
    """One message being handled: given to the handler and to the per-message hooks.

    ``message`` is the brokerkit message, ``payload`` the decoded value (the message
    itself when there is no decoder), ``state`` a free namespace for this message,
    ``handler`` the chosen handler's name and ``attempt`` counts from 1. ``ack()``,
    ``nack(delay=...)`` and ``dead_letter(reason)`` decide how the message is settled once
    the handler returns (the first decision wins); returning without one acks.
    """

    __slots__ = (
        "_decision",
        "_entry",
        "_state",
        "attempt",
        "message",
        "payload",
        "processing",
    )

    def __init__(
        self, processing: ProcessingContext, message: Any, payload: Any, handler: Any
    ) -> None:
        # One per message on the hot path: as few stores as will do.
        self._entry = handler
        self.processing: ProcessingContext = processing
        self.message: Any = message
        self.payload: Any = payload
        self.attempt: int = 1
        self._decision: Decision | None = None
        self._state: SimpleNamespace | None = None

    @property
    def handler(self) -> str:
        """The chosen handler's name."""
        name: str = self._entry.name
        return name

    @property
    def state(self) -> SimpleNamespace:
        state = self._state
        if state is None:
            state = self._state = SimpleNamespace()
        return state

    @property
    def decision(self) -> Decision | None:
        """The decision taken so far, or None."""
        return self._decision

    def ack(self) -> None:
        """Acknowledge the message once the handler returns."""
        if self._decision is None:
            self._decision = ACKED

    def nack(self, delay: float | None = None) -> None:
        """Have the message delivered again (after ``delay`` seconds where the broker can)."""
        if delay is not None and (not isinstance(delay, int | float) or delay < 0):
            raise ValueError(f"nack delay must be a number of seconds >= 0 or None, got {delay!r}")
        if self._decision is None:
            self._decision = (NACK, delay)

    def dead_letter(self, reason: str) -> None:
        """Move the message to the dead-letter store with ``reason``."""
        if self._decision is None:
            self._decision = (DEAD, str(reason))

    def __repr__(self) -> str:
        return f"<HandlingContext handler={self.handler!r} message={self.message!r}>"
