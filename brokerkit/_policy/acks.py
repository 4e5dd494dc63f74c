"""Safe commit positions on log brokers (Kafka) when acks arrive out of order."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Mapping


class _Partition:
    __slots__ = ("acked", "committable", "outstanding", "position")

    def __init__(self) -> None:
        self.outstanding: deque[int] = deque()  # delivered, in delivery (offset) order
        self.acked: set[int] = set()  # acked but still behind an unacked offset
        self.committable: int | None = None  # next offset to commit, when it advanced
        self.position: int | None = None  # the safe position, once something was acked


class OffsetTracker:
    """Tracks delivered and acked offsets per partition.

    The position it yields for a partition is the first offset not yet acked, so a commit
    never passes a message the application has not acked, whatever order acks come in.
    Deliveries must be recorded in increasing offset order per partition (as a log
    consumer sees them); amortised O(1) per message.
    """

    def __init__(self) -> None:
        self._parts: dict[Hashable, _Partition] = {}

    def delivered(self, partition: Hashable, offset: int) -> None:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        part.outstanding.append(offset)

    def delivered_many(self, partition: Hashable, offsets: Iterable[int]) -> None:
        part = self._parts.get(partition)
        if part is None:
            part = self._parts[partition] = _Partition()
        part.outstanding.extend(offsets)

    def ack(self, partition: Hashable, offset: int) -> None:
        part = self._parts.get(partition)
        if part is None:
            return  # unknown or revoked
        outstanding = part.outstanding
        if not outstanding:
            return  # already committed
        first = outstanding[0]
        if offset != first:
            if offset > first:
                part.acked.add(offset)
            return  # out of order (waits for ``first``), or already committed
        outstanding.popleft()
        acked = part.acked
        if acked:  # acks that came ahead of this one
            while outstanding and outstanding[0] in acked:
                offset = outstanding.popleft()
                acked.discard(offset)
        part.committable = part.position = offset + 1

    def positions(self) -> dict[Hashable, int]:
        """Partitions whose safe position advanced since the last call -> next offset to commit."""
        out: dict[Hashable, int] = {}
        # A copy: release() may drop a partition from a rebalance callback's thread.
        for key, part in list(self._parts.items()):
            if part.committable is not None:
                out[key] = part.committable
                part.committable = None
        return out

    def pending(self, partition: Hashable) -> int:
        """How many delivered messages of ``partition`` are not yet covered by a commit."""
        part = self._parts.get(partition)
        return len(part.outstanding) if part else 0

    def rewind(self, partition: Hashable, offset: int) -> None:
        """A nack of ``offset``: the partition is read again from there, so the deliveries
        from ``offset`` on are forgotten (acked or not: they come again and are recorded
        anew). The position never moves past ``offset`` until it is acked again."""
        part = self._parts.get(partition)
        if part is None:
            return
        outstanding = part.outstanding
        while outstanding and outstanding[-1] >= offset:
            outstanding.pop()
        if part.acked:
            part.acked = {o for o in part.acked if o < offset}

    def revoke(self, partition: Hashable) -> None:
        """Forget a partition (rebalance): its unacked messages will come again."""
        self._parts.pop(partition, None)

    def release(self, partitions: Iterable[Hashable]) -> Mapping[Hashable, int]:
        """Forget ``partitions`` (taken from this member by a rebalance) and return, for
        each one where something was acked, its safe position: the first offset not
        acked, whether or not a commit already carried it (an asynchronous one may have
        failed). Later acks of their messages are ignored; the next owner resumes at that
        position."""
        out: dict[Hashable, int] = {}
        for partition in partitions:
            part = self._parts.pop(partition, None)
            if part is not None and part.position is not None:
                out[partition] = part.position
        return out
