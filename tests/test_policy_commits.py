"""AckBatcher: commit_every / commit_interval for SYNC and ASYNC commits, on a fake clock."""

from __future__ import annotations

from brokerkit import Commit
from brokerkit._policy.commits import ASYNC_EVERY, ASYNC_INTERVAL, AckBatcher


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sync_default_commits_every_ack() -> None:
    b = AckBatcher(Commit.SYNC, clock=Clock())
    assert b.add(1) is True
    assert b.take() == [1]
    assert b.add(2) is True


def test_sync_with_commit_every_batches() -> None:
    b = AckBatcher(Commit.SYNC, every=3, clock=Clock())
    assert [b.add(i) for i in range(3)] == [False, False, True]
    assert b.take() == [0, 1, 2]
    assert b.tokens == []


def test_async_defaults_count_and_interval() -> None:
    clock = Clock()
    b = AckBatcher(Commit.ASYNC, clock=clock)
    assert (b.every, b.interval) == (ASYNC_EVERY, ASYNC_INTERVAL)
    assert b.add("a") is False
    clock.now += ASYNC_INTERVAL / 2
    assert b.add("b") is False
    assert b.due() is False
    clock.now += ASYNC_INTERVAL
    assert b.due() is True
    assert b.add("c") is True
    assert b.take() == ["a", "b", "c"]
    assert b.due() is False  # nothing pending


def test_async_count_limit() -> None:
    b = AckBatcher(Commit.ASYNC, every=2, interval=60, clock=Clock())
    assert b.add(1) is False
    assert b.add(2) is True


def test_interval_restarts_with_each_batch() -> None:
    clock = Clock()
    b = AckBatcher(Commit.ASYNC, every=100, interval=1.0, clock=clock)
    b.add(1)
    clock.now += 5
    assert b.due()
    b.take()
    b.add(2)  # a new batch: its deadline starts now
    assert not b.due()
    clock.now += 1.0
    assert b.due()


def test_add_many_counts_like_add() -> None:
    b = AckBatcher(Commit.ASYNC, every=5, interval=60, clock=Clock())
    assert b.add_many([]) is False
    assert b.add_many([1, 2, 3]) is False
    assert b.add_many([4, 5]) is True
    assert b.take() == [1, 2, 3, 4, 5]
    sync = AckBatcher(Commit.SYNC, clock=Clock())
    assert sync.add_many([1, 2]) is True  # SYNC: every ack is due at once, one commit
    assert sync.take() == [1, 2]


def test_add_many_interval_starts_with_the_first_ack() -> None:
    clock = Clock()
    b = AckBatcher(Commit.ASYNC, every=100, interval=1.0, clock=clock)
    assert b.add_many(["a", "b"]) is False
    clock.now += 0.5
    assert b.add_many(["c"]) is False
    clock.now += 0.6
    assert b.add_many(["d"]) is True  # 1.1 s after the first pending ack
    b.take()
    assert b.add_many(["e"]) is False  # a new batch: its deadline starts now
    assert not b.due()
