"""When acknowledgements are sent to the broker: commit_every / commit_interval batching."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .._types import Commit

#: Defaults from API.md: ASYNC coalesces (1000 acks or 0.2 s); SYNC commits every ack.
ASYNC_EVERY = 1000
ASYNC_INTERVAL = 0.2


class AckBatcher:
    """Collects ack tokens and says when they are due to be sent to the broker.

    ``add()`` is on the per-message path: an append, a length check and, only when an
    interval is set, a clock read.
    """

    __slots__ = ("clock", "deadline", "every", "interval", "tokens")

    def __init__(
        self,
        commit: Commit,
        every: int | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if commit is Commit.SYNC:
            self.every = every if every is not None else 1
            self.interval = interval or 0.0
        else:
            self.every = every if every is not None else ASYNC_EVERY
            self.interval = interval if interval is not None else ASYNC_INTERVAL
        self.clock = clock
        self.tokens: list[Any] = []
        self.deadline = 0.0

    def add(self, token: Any) -> bool:
        """Record an ack; True when the pending acks should be sent now."""
        tokens = self.tokens
        tokens.append(token)
        n = len(tokens)
        if n >= self.every:
            return True
        if self.interval:
            if n == 1:
                self.deadline = self.clock() + self.interval
                return False
            return self.clock() >= self.deadline
        return False

    def add_many(self, tokens: list[Any]) -> bool:
        """Record several acks at once (one call for a handled chunk); True when the
        pending acks should be sent now."""
        pending = self.tokens
        before = len(pending)
        pending.extend(tokens)
        n = len(pending)
        if n == before:
            return False
        if n >= self.every:
            return True
        if self.interval:
            if before == 0:
                self.deadline = self.clock() + self.interval
                return False
            return self.clock() >= self.deadline
        return False

    def due(self) -> bool:
        """True when acks are pending and the count or the interval says send them."""
        n = len(self.tokens)
        if not n:
            return False
        return n >= self.every or (bool(self.interval) and self.clock() >= self.deadline)

    def take(self) -> list[Any]:
        """Hand over the pending acks and start a new batch."""
        tokens = self.tokens
        self.tokens = []
        return tokens
