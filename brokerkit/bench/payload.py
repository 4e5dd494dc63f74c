"""What a benchmark message carries, built cheaply, and the keys that go with it.

Every payload starts with a 16-byte header, little-endian: the send time in nanoseconds
of ``time.perf_counter_ns()`` (CLOCK_MONOTONIC on Linux: one clock for every process of
the machine) and the message id; random filler bytes make up the rest. Producer ``p`` of
``P`` sends ids ``p, p + P, p + 2P, ...``, so ids are unique across producers and dense.

A producer's first message, its *primer*, goes out and is acknowledged before the clock
starts (a client's start-up is not throughput: a Kafka producer's first acknowledgement
waits 0.5 to 1 s for its producer id); it carries the stamp :data:`PRIMER_STAMP`, and its
latency is not recorded.
"""

from __future__ import annotations

import random
from struct import Struct

__all__ = ["HEADER", "HEADER_SIZE", "PRIMER_STAMP", "KeyPlan", "PayloadFactory"]

HEADER = Struct("<qQ")
HEADER_SIZE = HEADER.size
#: The send time a primer carries: so far before any clock reading that its latency
#: (above :data:`brokerkit.bench.stats.PRIMED_NS`) tells it apart.
PRIMER_STAMP = -(1 << 62)

#: Seeded, so two runs of a workload send the same bytes.
_FILLER_SEED = 0x0B0C


class PayloadFactory:
    """Builds batches of payloads for one producer: one ``pack`` and one concatenation
    per message, the filler bytes made once."""

    __slots__ = ("_filler", "index", "stride")

    def __init__(self, message_size: int, index: int, producers: int) -> None:
        if message_size < HEADER_SIZE:
            raise ValueError(f"message_size must be >= {HEADER_SIZE}, got {message_size}")
        self._filler = random.Random(_FILLER_SEED).randbytes(message_size - HEADER_SIZE)
        self.index: int = index
        self.stride: int = producers

    def batch(self, local: int, n: int, stamp_ns: int) -> list[bytes]:
        """Messages ``local .. local + n - 1`` of this producer, all stamped ``stamp_ns``."""
        pack = HEADER.pack
        filler = self._filler
        stride = self.stride
        first = local * stride + self.index
        return [pack(stamp_ns, i) + filler for i in range(first, first + n * stride, stride)]


class KeyPlan:
    """The key of each message: none, round-robin over ``count`` keys, or drawn uniformly
    at random (a precomputed, seeded sequence, so drawing costs a slice)."""

    __slots__ = ("_cycle",)

    CYCLE = 1 << 14

    def __init__(self, distribution: str, count: int, index: int = 0) -> None:
        keys = [f"key-{i}".encode() for i in range(count)]
        if distribution == "none":
            self._cycle: list[bytes] | None = None
        elif distribution == "round-robin":
            length = max(count, self.CYCLE - self.CYCLE % count)
            self._cycle = [keys[i % count] for i in range(length)]
        elif distribution == "random":
            rng = random.Random(index)
            self._cycle = [rng.choice(keys) for _ in range(self.CYCLE)]
        else:
            raise ValueError(f"unknown key distribution {distribution!r}")

    @property
    def keyed(self) -> bool:
        return self._cycle is not None

    def keys(self, local: int, n: int) -> list[bytes] | None:
        """The keys of messages ``local .. local + n - 1`` (None: no keys)."""
        cycle = self._cycle
        if cycle is None:
            return None
        size = len(cycle)
        start = local % size
        if start + n <= size:
            return cycle[start : start + n]
        return [cycle[(local + i) % size] for i in range(n)]
