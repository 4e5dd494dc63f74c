"""Counting what arrived (lost, duplicated) and how late (an HDR histogram).

The consumer side records each received payload in a :class:`Tracker`: one ``unpack``, one
bytearray look-up and one array append per message. Latencies are folded into an
``hdrh`` histogram in bulk (quantized to the histogram's precision first), because
``HdrHistogram.record_value`` costs about a microsecond per call.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from hdrh.histogram import HdrHistogram

from .payload import HEADER

__all__ = [
    "PERCENTILES",
    "Counts",
    "LatencySummary",
    "Ledger",
    "Tracker",
    "new_histogram",
    "summarize",
    "verify",
]

#: Latencies are kept in nanoseconds, from 1 ns to 1 hour, 3 significant digits.
LOWEST_NS = 1
HIGHEST_NS = 3_600 * 10**9
SIGNIFICANT = 3

#: The percentiles reported in the table.
PERCENTILES = (50.0, 95.0, 99.0, 99.9)
#: The percentiles of the latency curves in the JSON and the plots.
CURVE = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999, 100.0)

_FOLD_AT = 1 << 20
#: A latency this large is a primer's (sent with ``payload.PRIMER_STAMP``): not recorded.
PRIMED_NS = 1 << 61
_unpack = HEADER.unpack_from


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT)


def fold(histogram: HdrHistogram, latencies_ns: Sequence[int] | array[int]) -> None:
    """Add many latencies to ``histogram`` with one ``record_value`` per distinct value,
    after rounding each down to ``SIGNIFICANT`` digits (what the histogram keeps anyway).
    Primers' latencies (``PRIMED_NS`` and above) are left out."""
    if not len(latencies_ns):
        return
    values = np.asarray(latencies_ns, dtype=np.int64)
    values = values[values < PRIMED_NS]
    if not len(values):
        return
    values = np.clip(values, LOWEST_NS, HIGHEST_NS)
    digits = np.floor(np.log10(values.astype(np.float64))).astype(np.int64)
    step = 10 ** np.maximum(digits - (SIGNIFICANT - 1), 0)
    values = (values // step) * step
    distinct, counts = np.unique(values, return_counts=True)
    record = histogram.record_value
    for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
        record(value, count)


class Tracker:
    """What one consumer received: a byte per message id (how often it came, up to 1; a
    second arrival counts as a duplicate), latencies, and the time of the last batch."""

    __slots__ = ("duplicates", "histogram", "last_ns", "latencies", "received", "seen")

    def __init__(self, expected: int = 0) -> None:
        self.seen: bytearray = bytearray(max(expected, 1024))
        self.duplicates: int = 0
        self.received: int = 0
        self.last_ns: int = 0
        self.latencies: array[int] = array("q")
        self.histogram: HdrHistogram = new_histogram()

    @property
    def unique(self) -> int:
        return self.received - self.duplicates

    def record(self, payloads: Iterable[bytes], now_ns: int) -> None:
        """Count a batch of payloads received at ``now_ns`` (hot path)."""
        seen = self.seen
        append = self.latencies.append
        dups = 0
        n = 0
        for payload in payloads:
            sent_ns, ident = _unpack(payload)
            try:
                if seen[ident]:
                    dups += 1
                else:
                    seen[ident] = 1
            except IndexError:
                self._grow(ident)
                seen[ident] = 1
            append(now_ns - sent_ns)
            n += 1
        self.received += n
        self.duplicates += dups
        self.last_ns = now_ns
        if len(self.latencies) >= _FOLD_AT:
            self.flush()

    def _grow(self, ident: int) -> None:
        self.seen.extend(bytes(max(ident + 1, 2 * len(self.seen)) - len(self.seen)))

    def flush(self) -> None:
        """Move the latencies recorded so far into the histogram."""
        fold(self.histogram, self.latencies)
        self.latencies = array("q")


@dataclass
class Ledger:
    """What the producers handed over: per producer, how many messages they tried to send
    and which ranges of them failed (a send that raised: not acknowledged)."""

    producers: int
    attempted: list[int] = field(default_factory=list)
    failed: list[tuple[int, int, int]] = field(default_factory=list)
    """(producer index, first local sequence number, count)"""
    errors: list[str] = field(default_factory=list)
    """The first few error messages."""
    error_count: int = 0
    """Calls that raised."""

    def __post_init__(self) -> None:
        if not self.attempted:
            self.attempted = [0] * self.producers

    @property
    def total(self) -> int:
        return sum(self.attempted)

    @property
    def acked(self) -> int:
        return self.total - sum(n for _, _, n in self.failed)

    def fail(self, producer: int, local: int, n: int, error: BaseException) -> None:
        """Messages ``local .. local + n - 1`` of ``producer`` were refused."""
        self.failed.append((producer, local, n))
        self._note(error)

    def fail_all(self, producer: int, n: int, error: BaseException) -> None:
        """None of the first ``n`` messages of ``producer`` can count as acknowledged
        (a flush failed without saying which)."""
        self.failed = [f for f in self.failed if f[0] != producer] + [(producer, 0, n)]
        self._note(error)

    def _note(self, error: BaseException) -> None:
        self.error_count += 1
        if len(self.errors) < 10:
            self.errors.append(f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class Counts:
    """The verdict of :func:`verify`."""

    lost: int
    """Acknowledged (at-least-once) or sent (at-most-once) messages that never arrived."""
    duplicates: int
    """Arrivals beyond the first of a message."""
    unexpected: int
    """Arrivals of ids that were never sent (corrupted payloads)."""
    unique: int


def _masks(ledger: Ledger, size: int) -> tuple[np.ndarray, np.ndarray]:
    sent = np.zeros(size, dtype=bool)
    acked = np.zeros(size, dtype=bool)
    stride = ledger.producers
    for index, count in enumerate(ledger.attempted):
        stop = index + count * stride
        sent[index:stop:stride] = True
        acked[index:stop:stride] = True
    for index, local, n in ledger.failed:
        start = index + local * stride
        acked[start : start + n * stride : stride] = False
    return sent, acked


def verify(ledger: Ledger, trackers: Sequence[Tracker], *, fanout: bool = False) -> Counts:
    """Compare what arrived with what was sent. Consumers of one group share the messages
    (their arrivals are added up); with ``fanout`` every consumer should get every
    message, and each is checked on its own."""
    groups = [[t] for t in trackers] if fanout else [list(trackers)]
    lost = duplicates = unexpected = unique = 0
    for group in groups:
        size = max(
            [ledger.producers * max(ledger.attempted, default=0)] + [len(t.seen) for t in group]
        )
        sent, acked = _masks(ledger, size)
        arrived = np.zeros(size, dtype=np.int64)
        for tracker in group:
            seen = np.frombuffer(bytes(tracker.seen), dtype=np.uint8)
            arrived[: len(seen)] += seen
            duplicates += tracker.duplicates
        duplicates += int(np.maximum(arrived - 1, 0).sum())
        lost += int(np.count_nonzero(acked & (arrived == 0)))
        unexpected += int(np.count_nonzero(~sent & (arrived > 0)))
        unique += int(np.count_nonzero(arrived))
    return Counts(lost=lost, duplicates=duplicates, unexpected=unexpected, unique=unique)


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles and maximum in milliseconds; ``curve`` is [(percentile, ms)]."""

    count: int
    p50: float
    p95: float
    p99: float
    p999: float
    max: float
    curve: list[tuple[float, float]]


def merged(trackers: Iterable[Tracker]) -> HdrHistogram:
    """One histogram of every tracker's latencies."""
    out = new_histogram()
    for tracker in trackers:
        tracker.flush()
        if tracker.histogram.get_total_count():
            out.add(tracker.histogram)
    return out


def summarize(histogram: HdrHistogram) -> LatencySummary | None:
    """The reported figures of ``histogram`` (None when it is empty). One pass over the
    histogram's counts for every percentile (hdrh's per-call look-ups are slow)."""
    if not histogram.get_total_count():
        return None
    wanted = sorted(set(PERCENTILES) | {p for p in CURVE if p < 100.0})
    at = histogram.get_percentile_to_value_dict(wanted)
    top = float(histogram.get_max_value()) / 1e6

    def ms(percentile: float) -> float:
        return top if percentile >= 100.0 else float(at[percentile]) / 1e6

    return LatencySummary(
        count=int(histogram.get_total_count()),
        p50=ms(50.0),
        p95=ms(95.0),
        p99=ms(99.0),
        p999=ms(99.9),
        max=top,
        curve=[(p, ms(p)) for p in CURVE],
    )
