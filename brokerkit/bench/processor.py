"""Processor overhead: a processor with a trivial handler against a hand-written
receive/ack loop, on the same broker, in the same run (ratios, not absolute figures).

    python -m brokerkit.bench.processor --url memory:// --url redis://127.0.0.1:6379/0

Each round pre-fills a fresh topic with ``--messages`` messages for a subscribed group,
then times draining them: the hand-written loop (``receive_many`` + ``ack`` per message),
and a ``brokerkit.Processor`` with an async and with a sync trivial handler (its
``before_processing`` hook fills the topic, so production is outside the timing).
Contenders alternate over ``--rounds`` rounds; the median rate of each is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import brokerkit
from brokerkit.processor import Processor

__all__ = ["compare", "main"]

BATCH = 500


_made: list[str] = []


def _topic() -> str:
    topic = f"bk-bench-proc-{uuid.uuid4().hex[:12]}"
    _made.append(topic)
    return topic


def _cleanup(url: str) -> None:
    """Delete the topics this run made, where the broker has a baseline that can."""
    from .baselines import get_baseline

    baseline = get_baseline(brokerkit.make_url(url).scheme)
    topics = list(_made)
    _made.clear()
    if baseline is not None and topics:
        baseline.cleanup(url, topics)


async def _fill(broker: brokerkit.AsyncBroker, topic: str, n: int) -> None:
    async with broker.producer(topic) as producer:
        for i in range(0, n, BATCH):
            await producer.send_many([b"m%08d" % j for j in range(i, min(n, i + BATCH))])
        await producer.flush()


async def hand_written(url: str, n: int, batch_size: int) -> float:
    """Messages per second of a receive_many / ack loop draining ``n`` messages."""
    topic = _topic()
    async with (
        brokerkit.connect_async(url) as broker,
        broker.consumer(topic, group="bench") as consumer,
    ):
        await _fill(broker, topic, n)
        seen = 0
        t0 = time.perf_counter()
        while seen < n:
            batch = await consumer.receive_many(batch_size, timeout=1.0)
            for message in batch:
                _ = message.value  # the trivial handler
                await message.ack()
            seen += len(batch)
        elapsed = time.perf_counter() - t0
    return n / elapsed


async def processor(url: str, n: int, batch_size: int, kind: str, concurrency: int) -> float:
    """Messages per second of a Processor with a trivial ``kind`` handler draining ``n``."""
    topic = _topic()
    proc = Processor()
    state = {"t0": 0.0, "t1": 0.0}

    def done() -> None:
        state["t1"] = time.perf_counter()
        proc.stop()

    counter = itertools.count(1)  # thread-safe without a lock

    if kind == "async":

        @proc.handle_for(lambda m: True)
        async def trivial(message: Any, ctx: Any) -> None:
            if next(counter) == n:
                done()

    else:

        @proc.handle_for(lambda m: True)
        def trivial_sync(message: Any, ctx: Any) -> None:
            if next(counter) == n:
                done()

    @proc.before_processing
    async def fill(ctx: Any) -> None:
        async with brokerkit.connect_async(url) as broker:
            await _fill(broker, topic, n)
        state["t0"] = time.perf_counter()

    await proc.run_async(
        url,
        topics=topic,
        group="bench",
        concurrency=concurrency,
        batch_size=batch_size,
        handle_signals=False,
    )
    return n / (state["t1"] - state["t0"])


async def compare(
    url: str, n: int = 20_000, rounds: int = 3, batch_size: int = BATCH, concurrency: int = 1
) -> dict[str, float]:
    """Median messages/s of each contender on ``url``, alternating over ``rounds``."""
    contenders: dict[str, Callable[[], Awaitable[float]]] = {
        "hand-written loop": lambda: hand_written(url, n, batch_size),
        "processor (async handler)": lambda: processor(url, n, batch_size, "async", concurrency),
        "processor (sync handler)": lambda: processor(url, n, batch_size, "sync", concurrency),
    }
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    try:
        for _ in range(rounds):
            for name, run in contenders.items():
                rates[name].append(await run())
    finally:
        await asyncio.to_thread(_cleanup, url)
    return {name: statistics.median(r) for name, r in rates.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m brokerkit.bench.processor",
        description="A Processor with a trivial handler vs a hand-written receive/ack loop.",
    )
    parser.add_argument("--url", action="append", help="broker URL (repeatable)")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    for url in args.url or ["memory://"]:
        shown = brokerkit.make_url(url).render()
        result = asyncio.run(
            compare(url, args.messages, args.rounds, args.batch_size, args.concurrency)
        )
        base = result["hand-written loop"]
        print(f"{shown}  ({args.messages} messages, median of {args.rounds} rounds)")
        for name, rate in result.items():
            print(f"  {name:<28} {rate:>10,.0f} msg/s   ratio {rate / base:.2f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
