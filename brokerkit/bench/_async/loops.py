"""The harness loops: one producer, one consumer, identical for every target. Per message
they do only what the measurement needs (build a payload, count it); everything else
happens once per batch.
"""

from __future__ import annotations

from brokerkit.errors import BrokerError

from .._compat import alet_others_run, asleep
from ..harness import POLL, Plan, Shared, clock, next_count, paced_count
from ..payload import PRIMER_STAMP
from ..stats import Tracker
from .protocols import AsyncReceiver, AsyncSender

__all__ = ["consume", "prime", "produce", "receive_primers"]


async def prime(sender: AsyncSender, plan: Plan, shared: Shared) -> None:
    """Before the clock: send the producer's first message and wait for its acknowledgement
    (connections, metadata, a Kafka producer id). ``produce()`` goes on after it."""
    if plan.count == 0:
        return
    try:
        await sender.send(plan.payloads.batch(0, 1, PRIMER_STAMP), plan.keys.keys(0, 1))
        await sender.flush()
    except BrokerError as exc:
        shared.ledger.fail(plan.index, 0, 1, exc)
    shared.ledger.attempted[plan.index] = 1


async def receive_primers(
    receiver: AsyncReceiver, tracker: Tracker, shared: Shared, expected: int, deadline_ns: int
) -> None:
    """Before the clock: receive (and ack) until the consumers have every producer's primer
    between them (a consumer group has formed, partitions are assigned), or until
    ``deadline_ns``."""
    while shared.received_unique() < expected and clock() < deadline_ns:
        values = await receiver.receive(shared.batch_size, POLL)
        if values:
            tracker.record(values, clock())
            if shared.ack:
                await receiver.ack()


async def produce(sender: AsyncSender, plan: Plan, shared: Shared) -> None:
    ledger = shared.ledger
    index = plan.index
    start = shared.start_ns
    interval = plan.interval_ns
    batch = plan.payloads.batch
    keys = plan.keys.keys
    lag = shared.send_lag.append
    local = ledger.attempted[index]  # after the primer
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
