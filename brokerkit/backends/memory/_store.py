"""The in-process broker behind ``memory://``: thread-safe, shared by the sync and async APIs.

Each topic is an append-only log; each group keeps a cursor into it, the deliveries its
members hold (pending), and the messages handed back (nacked, or held by a member that
left). Every operation takes the broker's lock once per batch. Waiters (sync events or
asyncio futures) are woken when a topic gets messages.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from ..._async.driver import Delivery as Delivery
from ..._types import Record

log = logging.getLogger("brokerkit")

#: A topic's log is trimmed of what every group has consumed once this many entries, or
#: this many payload bytes, were appended since the last trim.
_TRIM_AT = 1 << 15
_TRIM_BYTES = 1 << 20


class WakeUp(Protocol):
    def set(self) -> None: ...


class Group:
    __slots__ = ("counts", "cursor", "delayed", "members", "name", "pending", "ready")

    def __init__(self, name: str, cursor: int) -> None:
        self.name = name
        self.cursor = cursor  # next offset never delivered to this group
        self.pending: dict[int, int] = {}  # offset -> member id holding it
        self.ready: deque[int] = deque()  # offsets handed back, delivered before new ones
        self.delayed: list[tuple[float, int]] = []  # heap of (due time, offset)
        self.counts: dict[int, int] = {}  # offset -> deliveries so far, when > 1 expected
        self.members = 0

    def low_water(self) -> int:
        low = self.cursor
        if self.pending:
            low = min(low, min(self.pending))
        if self.ready:
            low = min(low, min(self.ready))
        if self.delayed:
            low = min(low, min(off for _, off in self.delayed))
        return low


class Topic:
    __slots__ = (
        "base",
        "bytes_since_trim",
        "dropped",
        "groups",
        "log",
        "name",
        "trim_at",
        "waiters",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.dropped = 0  # messages published while the topic had no group
        self.log: list[tuple[bytes, bytes | None, Any, float]] = []
        self.base = 0  # offset of log[0]
        self.groups: dict[str, Group] = {}
        self.waiters: list[WakeUp] = []
        self.trim_at = _TRIM_AT
        self.bytes_since_trim = 0

    @property
    def end(self) -> int:
        return self.base + len(self.log)


class Member:
    """One consumer's handle on its group."""

    __slots__ = ("group", "id", "private", "topic")

    def __init__(self, topic: Topic, group: Group, member_id: int, private: bool) -> None:
        self.topic = topic
        self.group = group
        self.id = member_id
        self.private = private


class MemoryBroker:
    """One named in-process broker. Groups are durable for the life of the process."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.topics: dict[str, Topic] = {}
        self._ids = itertools.count(1)

    def _topic(self, name: str) -> Topic:
        topic = self.topics.get(name)
        if topic is None:
            topic = self.topics[name] = Topic(name)
        return topic

    # -- producing ---------------------------------------------------------------------

    def publish(self, topic_name: str, records: Sequence[Record]) -> None:
        now = time.time()
        entries = [(v, k, h, now) for v, k, h in records]  # built outside the lock
        size = sum([len(e[0]) for e in entries])
        with self.lock:
            topic = self._topic(topic_name)
            if not topic.groups:  # nobody subscribed and no replay: nothing keeps them
                if self._drop(topic, len(entries)):
                    first = True
                else:
                    return
            else:
                topic.log.extend(entries)
                waiters = self._appended(topic, size)
                first = False
        if first:
            self._said_dropped(topic_name)
            return
        for waiter in waiters:
            waiter.set()

    def _drop(self, topic: Topic, count: int) -> bool:
        """Messages for a topic no group subscribes to (lock held): nothing keeps them.
        True the first time since the topic last had a group: the caller says so once
        (outside the lock), so a typo in a topic name does not lose messages silently."""
        topic.base = topic.end + count
        topic.log = []
        topic.dropped += count
        return topic.dropped == count

    def _said_dropped(self, topic: str) -> None:
        log.info(
            "memory://%s: topic %r has no subscriber, messages sent to it are dropped "
            "(memory:// keeps a message only for the groups that exist when it is sent)",
            self.name,
            topic,
        )

    def _appended(self, topic: Topic, size: int) -> list[WakeUp]:
        """After an append (lock held): trim if due; return the waiters to wake."""
        topic.bytes_since_trim += size
        if len(topic.log) > topic.trim_at or topic.bytes_since_trim > _TRIM_BYTES:
            self._trim(topic)
        waiters = topic.waiters
        if waiters:
            topic.waiters = []
        return waiters

    def _trim(self, topic: Topic) -> None:
        low = min(group.low_water() for group in topic.groups.values())
        drop = low - topic.base
        if drop > 0:
            del topic.log[:drop]
            topic.base = low
        topic.trim_at = len(topic.log) + _TRIM_AT
        topic.bytes_since_trim = 0

    # -- consuming ---------------------------------------------------------------------

    def join(self, topic_name: str, group_name: str | None) -> Member:
        with self.lock:
            topic = self._topic(topic_name)
            member_id = next(self._ids)
            private = group_name is None
            name = f"\0private-{member_id}" if group_name is None else group_name
            group = topic.groups.get(name)
            if group is None:
                group = topic.groups[name] = Group(name, topic.end)
                topic.dropped = 0
            group.members += 1
            return Member(topic, group, member_id, private)

    def leave(self, member: Member) -> None:
        """Hand the member's unacked deliveries back to its group at once."""
        with self.lock:
            group = member.group
            group.members -= 1
            if member.private:
                member.topic.groups.pop(group.name, None)
                return
            mine = sorted(off for off, mid in group.pending.items() if mid == member.id)
            for off in mine:
                del group.pending[off]
            group.ready.extend(mine)
            if len(group.ready) > len(mine):
                group.ready = deque(sorted(group.ready))
            waiters = member.topic.waiters if mine else []
            if waiters:
                member.topic.waiters = []
        for waiter in waiters:
            waiter.set()

    def fetch(
        self, member: Member, n: int, at_most_once: bool, waiter: WakeUp | None = None
    ) -> tuple[list[Delivery], float | None]:
        """Up to ``n`` deliveries for ``member``; when none, register ``waiter`` and return
        the time the next delayed message is due (or None)."""
        out: list[Delivery] = []
        with self.lock:
            topic = member.topic
            group = member.group
            log = topic.log
            base = topic.base
            mid = member.id
            pending = group.pending
            if group.delayed:
                now = time.monotonic()
                while group.delayed and group.delayed[0][0] <= now:
                    group.ready.append(heapq.heappop(group.delayed)[1])
            if group.ready:
                counts = group.counts
                ready = group.ready
                while ready and len(out) < n:
                    off = ready.popleft()
                    count = counts.get(off, 1) + 1
                    v, k, h, ts = log[off - base]
                    if at_most_once:
                        counts.pop(off, None)
                    else:
                        counts[off] = count
                        pending[off] = mid
                    out.append(Delivery(off, str(off), v, k, dict(h) if h else None, ts, count))
            start = group.cursor
            stop = min(topic.base + len(log), start + n - len(out))
            if stop > start:
                group.cursor = stop
                fresh = log[start - base : stop - base]
                if not at_most_once:
                    pending.update(dict.fromkeys(range(start, stop), mid))
            elif out or waiter is None:
                return out, None
            else:
                topic.waiters.append(waiter)
                return out, group.delayed[0][0] if group.delayed else None
        # New deliveries are built outside the lock: other members and producers go on.
        out.extend(
            [
                Delivery(off, str(off), v, k, dict(h) if h else None, ts, 1)
                for off, (v, k, h, ts) in zip(range(start, stop), fresh, strict=True)
            ]
        )
        return out, None

    def discard_waiter(self, member: Member, waiter: WakeUp) -> None:
        with self.lock, contextlib.suppress(ValueError):
            member.topic.waiters.remove(waiter)

    def ack(self, member: Member, offsets: Sequence[int]) -> None:
        with self.lock:
            group = member.group
            pending = group.pending
            counts = group.counts
            mid = member.id
            for off in offsets:
                if pending.get(off) == mid:
                    del pending[off]
                    if counts:
                        counts.pop(off, None)

    def nack(self, member: Member, offsets: Sequence[int], delay: float | None) -> None:
        with self.lock:
            group = member.group
            mid = member.id
            mine = [off for off in offsets if group.pending.get(off) == mid]
            for off in mine:
                del group.pending[off]
            if delay:
                due = time.monotonic() + delay
                for off in mine:
                    heapq.heappush(group.delayed, (due, off))
                waiters: list[WakeUp] = []
            else:
                group.ready.extend(mine)
                waiters = member.topic.waiters
                if waiters:
                    member.topic.waiters = []
        for waiter in waiters:
            waiter.set()


_brokers: dict[str, MemoryBroker] = {}
_brokers_lock = threading.Lock()


def get_broker(name: str) -> MemoryBroker:
    """The process-wide broker called ``name`` (same name, same broker)."""
    with _brokers_lock:
        broker = _brokers.get(name)
        if broker is None:
            broker = _brokers[name] = MemoryBroker(name)
        return broker
