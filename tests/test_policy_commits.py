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
