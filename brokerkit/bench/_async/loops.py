"""The harness loops: one producer, one consumer, identical for every target. Per message
they do only what the measurement needs (build a payload, count it); everything else
happens once per batch.
"""

from __future__ import annotations

from brokerkit.errors import BrokerError

from .._compat import alet_others_run, asleep
from ..harness import POLL, Plan, Shared, clock, next_count, paced_count
from ..stats import Tracker
from .protocols import AsyncReceiver, AsyncSender

__all__ = ["consume", "produce"]


async def produce(sender: AsyncSender, plan: Plan, shared: Shared) -> None:
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
            n = next_count(plan, local, start)
            if n <= 0 or shared.aborted:
                break
            if interval:
                delay = start + local * interval - clock()
                if delay > 0:
                    await asleep(delay / 1e9)
                n = paced_count(plan, local, start, n)
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
                await alet_others_run()  # async: a pipeline with the consumers, not two phases
        try:
            await sender.flush()
        except BrokerError as exc:
            ledger.fail_all(index, local, exc)
    finally:
        shared.producer_done()


async def consume(receiver: AsyncReceiver, tracker: Tracker, shared: Shared) -> None:
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
