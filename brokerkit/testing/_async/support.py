"""The suite's helpers that do I/O, written once (async); ``_sync/support.py`` is
generated from this file by tools/unasync.py."""

from __future__ import annotations

import time
from typing import Any

from ..._types import Capabilities, Guarantee
from ...errors import UnsupportedError
from .._support import (
    _UNASKABLE,
    DELIVERY_TIMEOUT,
    _expect_unsupported,
    _no_probe,
    guarantee_for,
)


async def acollect(
    consumer: Any, count: int, timeout: float = DELIVERY_TIMEOUT, *, ack: bool = False
) -> list[Any]:
    """Receive until ``count`` messages came or ``timeout`` seconds passed; return them all
    (more than ``count`` when a batch brought more). ``ack=True`` acks each one."""
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        batch = await consumer.receive_many(max_messages=count - len(out), timeout=left)
        for msg in batch:
            if ack:
                await msg.ack()
            out.append(msg)
    return out


async def aprobe_unsupported(broker: Any, topic: str, capability: str) -> None:
    """Assert that asking ``broker`` for ``capability`` (false in its Capabilities) raises
    UnsupportedError when the producer/consumer is created (or, for nack_delay, at nack)."""
    caps: Capabilities = broker.capabilities
    if capability in _UNASKABLE:
        _no_probe(capability)
    guarantee = guarantee_for(caps)
    try:
        if capability in ("at_least_once", "at_most_once"):
            g = Guarantee.AT_LEAST_ONCE if capability == "at_least_once" else Guarantee.AT_MOST_ONCE
            try:
                await broker.producer(topic, guarantee=g)
            except UnsupportedError as exc:
                _expect_unsupported(capability, exc)
            else:
                raise AssertionError(f"producer(guarantee={g.value!r}) did not raise")
            await broker.consumer(topic, guarantee=g)
        elif capability == "consumer_groups":
            await broker.consumer(topic, group="bk-probe", guarantee=guarantee)
        elif capability == "delivery_count":
            if not caps.at_least_once:
                return await aprobe_unsupported(broker, topic, "at_least_once")
            await broker.consumer(
                topic,
                guarantee=Guarantee.AT_LEAST_ONCE,
                max_deliveries=2,
                dead_letter_topic=topic + "-dlq",
            )
        elif capability == "nack_delay":
            if not caps.at_least_once:
                return await aprobe_unsupported(broker, topic, "at_least_once")
            async with broker.consumer(topic) as consumer:
                async with broker.producer(topic) as producer:
                    await producer.send(b"probe")
                msgs = await acollect(consumer, 1)
                assert msgs, "the nack_delay probe message never arrived"
                await msgs[0].nack(delay=1.0)
        else:
            raise ValueError(f"unknown capability {capability!r}")
    except UnsupportedError as exc:
        _expect_unsupported(capability, exc)
        return
    raise AssertionError(
        f"capability {capability!r} is false, yet asking for it did not raise UnsupportedError"
    )
