"""The toolkit for backend authors: the seam a driver implements, and the helpers every
backend would otherwise write again.

A backend is a thin translation to one client library. The core (brokerkit's facade and
its sans-I/O ``_policy``) does buffering, batching, ack/commit policy, the commit watermark
of cumulative-ack brokers, delivery limits and dead-lettering (unless the broker does them
natively), and decides what to raise and when. A driver implements:

- :class:`AsyncDriver` (and optionally :class:`SyncDriver`; else the sync API runs the
  async driver on a background loop): ``connect``, ``open_producer``, ``open_consumer``,
  ``close``;
- :class:`AsyncProducerDriver`: ``publish(records, timeout) -> handle`` and
  ``wait(handle, timeout) -> Outcomes``, ``close``;
- :class:`AsyncConsumerDriver`: ``fetch(max_messages, timeout) -> [Delivery]``,
  ``settle(acks, nacks, wait)``, ``close``.

The helpers here are plain functions and sans-I/O classes, the same in sync and async code:

- :class:`DelayScheduler`: nacks with a delay on a broker without native delayed redelivery;
- :func:`retry` / :func:`aretry`: reconnect with exponential backoff under a deadline;
- :func:`map_errors`: translate client exceptions onto the brokerkit error tree (passwords
  scrubbed from messages), one table per driver;
- :func:`delivery_error`: the partial-batch :class:`~brokerkit.DeliveryError` from
  :data:`Outcomes`.

See docs/testing.md for a complete third-party backend built on this module.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from .._async.driver import AsyncConsumerDriver, AsyncDriver, AsyncProducerDriver, Outcomes
from .._spec import BackendSpec, ConsumerConfig, ProducerConfig
from .._sync.driver import SyncConsumerDriver, SyncDriver, SyncProducerDriver
from .._types import H_MESSAGE_ID, Capabilities, Delivery, Record
from ..errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    DeliveryError,
    ErrorTable,
    SettleLostError,
    TimeoutError,
    UnsupportedError,
    map_errors,
    scrub,
)
from ._tls import ssl_context, tls_options

__all__ = [
    "H_MESSAGE_ID",
    "AsyncConsumerDriver",
    "AsyncDriver",
    "AsyncProducerDriver",
    "BackendSpec",
    "BrokerConnectionError",
    "BrokerError",
    "Capabilities",
    "ConfigurationError",
    "ConsumerConfig",
    "DelayScheduler",
    "Delivery",
    "DeliveryError",
    "ErrorTable",
    "Outcomes",
    "ProducerConfig",
    "Record",
    "SettleLostError",
    "SyncConsumerDriver",
    "SyncDriver",
    "SyncProducerDriver",
    "TimeoutError",
    "UnsupportedError",
    "aretry",
    "backoff_delays",
    "delivery_error",
    "map_errors",
    "retry",
    "scrub",
    "ssl_context",
    "tls_options",
]

T = TypeVar("T")


# -- nack(delay) without native delayed redelivery -------------------------------------------


class DelayScheduler:
    """A sans-I/O heap of ``(due, tokens)``: what to hand back to the broker, and when.

    A driver whose broker cannot redeliver after a delay keeps nacked tokens here and, at
    each ``fetch()``, nacks the :meth:`pop_due` ones for real (and waits no longer than
    :meth:`next_due`). On close it hands back :meth:`drain` at once. No clock of its own:
    every call takes ``now`` (``time.monotonic()``, or a test's fake time).
    """

    __slots__ = ("_count", "_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()  # ties keep insertion order; tokens never compared
        self._count = 0

    def add(self, tokens: Sequence[Any], delay: float, now: float) -> None:
        """Hand ``tokens`` back ``delay`` seconds after ``now``."""
        if tokens:
            heapq.heappush(self._heap, (now + delay, next(self._seq), list(tokens)))
            self._count += len(tokens)

    def pop_due(self, now: float) -> list[Any]:
        """The tokens due at ``now`` (in due order), removed from the scheduler."""
        heap = self._heap
        out: list[Any] = []
        while heap and heap[0][0] <= now:
            out.extend(heapq.heappop(heap)[2])
        self._count -= len(out)
        return out

    def next_due(self) -> float | None:
        """When the next tokens are due (same clock as ``now``), or None when empty."""
        return self._heap[0][0] if self._heap else None

    def drain(self) -> list[Any]:
        """Every token still waiting, in due order (on close: hand them back at once)."""
        out: list[Any] = []
        while self._heap:
            out.extend(heapq.heappop(self._heap)[2])
        self._count = 0
        return out

    def __len__(self) -> int:
        """How many tokens wait."""
        return self._count


# -- reconnect with backoff under a deadline ---------------------------------------------------


def backoff_delays(base: float = 0.05, cap: float = 1.0, jitter: float = 0.1) -> Iterator[float]:
    """Exponential backoff: ``base``, ``2*base``, ... up to ``cap`` seconds, each with up to
    ``jitter`` (a fraction) added at random so that many clients do not retry in step."""
    delay = base
    while True:
        yield delay * (1 + random.random() * jitter)
        delay = min(cap, delay * 2)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def retry(
    fn: Callable[[], T],
    *,
    timeout: float | None,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    base: float = 0.05,
    cap: float = 1.0,
) -> T:
    """Call ``fn()`` until it returns, retrying the ``retry_on`` exceptions with exponential
    backoff for at most ``timeout`` seconds (None: no bound), then re-raising the last one
    (let the driver's :func:`map_errors` turn it into BrokerConnectionError). The last
    attempt starts before the deadline; a sleep never passes it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for delay in backoff_delays(base, cap):
        try:
            return fn()
        except retry_on:
            left = _remaining(deadline)
            if left is not None and left <= 0:
                raise
            time.sleep(delay if left is None else min(delay, left))
    raise AssertionError("unreachable")  # pragma: no cover


async def aretry(
    fn: Callable[[], Awaitable[T]],
    *,
    timeout: float | None,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    base: float = 0.05,
    cap: float = 1.0,
) -> T:
    """:func:`retry` for a coroutine function: ``await fn()`` until it returns."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for delay in backoff_delays(base, cap):
        try:
            return await fn()
        except retry_on:
            left = _remaining(deadline)
            if left is not None and left <= 0:
                raise
            await asyncio.sleep(delay if left is None else min(delay, left))
    raise AssertionError("unreachable")  # pragma: no cover


# -- a partial-batch DeliveryError -------------------------------------------------------------


def delivery_error(
    records: Sequence[Record], outcomes: Outcomes, *, backend: str, where: str = ""
) -> DeliveryError | None:
    """The DeliveryError for a published batch whose :data:`Outcomes` name refused
    records (None when every record is stored): it says how many of how many were refused,
    quotes the first reason, and lists ``(value, reason)`` in ``failures``."""
    if outcomes is None:
        return None
    if len(outcomes) != len(records):
        raise ValueError(
            f"outcomes has {len(outcomes)} entries for a batch of {len(records)} records"
        )
    failures = [
        (record[0], str(outcome) or type(outcome).__name__)
        for record, outcome in zip(records, outcomes, strict=True)
        if outcome is not None
    ]
    if not failures:
        return None
    at = f" at {where}" if where else ""
    return DeliveryError(
        f"{backend}{at} refused {len(failures)} of {len(records)} messages: {failures[0][1]}",
        failures=failures,
        backend=backend,
    )
