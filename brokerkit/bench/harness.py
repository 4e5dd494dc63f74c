"""What the harness loops (``_async/loops.py`` and its generated ``_sync`` twin) are
given and share: each producer's :class:`Plan`, the run's :class:`Shared` state, and the
pacing arithmetic.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from .payload import KeyPlan, PayloadFactory
from .stats import Ledger, Tracker

__all__ = ["POLL", "Plan", "Shared", "clock", "next_count", "paced_count"]

#: A consumer waits this long per receive call, so it notices the end of a run.
POLL = 0.1

clock: Callable[[], int] = time.perf_counter_ns


@dataclass
class Plan:
    """What one producer sends."""

    index: int
    payloads: PayloadFactory
    keys: KeyPlan
    batch_size: int
    count: int | None
    """Messages to send, or None: send until ``end_ns``."""
    duration_ns: int | None
    interval_ns: int
    """Nanoseconds between two messages of this producer; 0: as fast as possible."""


@dataclass
class Shared:
    """State the loops of one run share: start, producer progress, consumer trackers."""

    ledger: Ledger
    trackers: list[Tracker]
    fanout: bool
    drain_timeout_ns: int
    ack: bool
    """Whether consumers ack (at-least-once)."""
    batch_size: int
    start_ns: int = 0
    consume_start_ns: int = 0
    """When the consumers started: ``start_ns``, or later when the phases run apart."""
    producers_running: int = 0
    produce_end_ns: int = 0
    aborted: bool = False
    """Set when a loop failed: the others stop."""
    send_lag: array[int] = field(default_factory=lambda: array("q"))
    """Paced producers: how late each batch went out, in ns (the "publish delay")."""

    def received_unique(self) -> int:
        return sum(t.unique for t in self.trackers)

    def finished(self) -> bool:
        """True when the consumers can stop: the producers are done and every message
        that was sent came (each consumer's share, with fanout), or nothing came lately."""
        if self.aborted:
            return True
        if self.producers_running:
            return False
        expected = self.ledger.total * (len(self.trackers) if self.fanout else 1)
        if self.received_unique() >= expected:
            return True
        last = max([t.last_ns for t in self.trackers] + [self.produce_end_ns])
        return clock() - last >= self.drain_timeout_ns

    def producer_done(self) -> None:
        self.producers_running -= 1
        self.produce_end_ns = max(self.produce_end_ns, clock())


def next_count(plan: Plan, local: int, start_ns: int) -> int:
    """How many messages the producer sends next (0: it is done)."""
    if plan.count is not None:
        return min(plan.batch_size, plan.count - local)
    assert plan.duration_ns is not None
    return plan.batch_size if clock() - start_ns < plan.duration_ns else 0


def paced_count(plan: Plan, local: int, start_ns: int, n: int) -> int:
    """How many of the next ``n`` messages are due now (at least one)."""
    due = (clock() - start_ns) // plan.interval_ns + 1 - local
    return max(1, min(n, due))
