"""The harness loops: one producer, one consumer, async and sync, identical for every
target. Per message they do only what the measurement needs (build a payload, count it);
everything else happens once per batch.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from dataclasses import dataclass, field

from brokerkit.errors import BrokerError

from .payload import KeyPlan, PayloadFactory
from .stats import Ledger, Tracker
from .targets import AsyncReceiver, AsyncSender, Receiver, Sender

__all__ = ["Plan", "Shared", "consume", "consume_async", "produce", "produce_async"]

#: A consumer waits this long per receive call, so it notices the end of a run.
POLL = 0.1

clock = time.perf_counter_ns


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


def _next_count(plan: Plan, local: int, start_ns: int) -> int:
    if plan.count is not None:
        return min(plan.batch_size, plan.count - local)
    assert plan.duration_ns is not None
    return plan.batch_size if clock() - start_ns < plan.duration_ns else 0


def _paced_count(plan: Plan, local: int, start_ns: int, n: int) -> int:
    """How many of the next ``n`` messages are due now (at least one)."""
    due = (clock() - start_ns) // plan.interval_ns + 1 - local
    return max(1, min(n, due))


async def produce_async(sender: AsyncSender, plan: Plan, shared: Shared) -> None:
    ledger = shared.ledger
    index = plan.index
    start = shared.start_ns
    interval = plan.interval_ns
    batch = plan.payloads.batch
    keys = plan.keys.keys
    lag = shared.send_lag.append
    local = 0
    try:
        while True:
            n = _next_count(plan, local, start)
            if n <= 0 or shared.aborted:
                break
            if interval:
                delay = start + local * interval - clock()
                if delay > 0:
                    await asyncio.sleep(delay / 1e9)
                n = _paced_count(plan, local, start, n)
                now = clock()
                lag(now - start - local * interval)
                values = batch(local, n, now)
            else:
                values = batch(local, n, clock())
            try:
                await sender.send(values, keys(local, n))
            except BrokerError as exc:
                ledger.fail(index, local, n, exc)
            local += n
            ledger.attempted[index] = local
            if not interval:
                await asyncio.sleep(0)  # let the consumers run: a pipeline, not two phases
        try:
            await sender.flush()
        except BrokerError as exc:
            ledger.fail_all(index, local, exc)
    finally:
        shared.producer_done()


async def consume_async(receiver: AsyncReceiver, tracker: Tracker, shared: Shared) -> None:
    batch_size = shared.batch_size
    record = tracker.record
    ack = shared.ack
    receive = receiver.receive
    while True:
        values = await receive(batch_size, POLL)
        if values:
            record(values, clock())
            if ack:
                await receiver.ack()
        if shared.finished():
            return


def produce(sender: Sender, plan: Plan, shared: Shared) -> None:
    ledger = shared.ledger
    index = plan.index
    start = shared.start_ns
    interval = plan.interval_ns
    batch = plan.payloads.batch
    keys = plan.keys.keys
    lag = shared.send_lag.append
    local = 0
    try:
        while True:
            n = _next_count(plan, local, start)
            if n <= 0 or shared.aborted:
                break
            if interval:
                delay = start + local * interval - clock()
                if delay > 0:
                    time.sleep(delay / 1e9)
                n = _paced_count(plan, local, start, n)
                now = clock()
                lag(now - start - local * interval)
                values = batch(local, n, now)
            else:
                values = batch(local, n, clock())
            try:
                sender.send(values, keys(local, n))
            except BrokerError as exc:
                ledger.fail(index, local, n, exc)
            local += n
            ledger.attempted[index] = local
        try:
            sender.flush()
        except BrokerError as exc:
            ledger.fail_all(index, local, exc)
    finally:
        shared.producer_done()


def consume(receiver: Receiver, tracker: Tracker, shared: Shared) -> None:
    batch_size = shared.batch_size
    record = tracker.record
    ack = shared.ack
    receive = receiver.receive
    while True:
        values = receive(batch_size, POLL)
        if values:
            record(values, clock())
            if ack:
                receiver.ack()
        if shared.finished():
            return
