"""OffsetTracker: the committed position never passes an unacked message."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from brokerkit._policy.acks import OffsetTracker


def test_in_order_acks_advance_one_by_one() -> None:
    t = OffsetTracker()
    t.delivered_many(0, range(10, 13))
    t.ack(0, 10)
    assert t.positions() == {0: 11}
    t.ack(0, 11)
    t.ack(0, 12)
    assert t.positions() == {0: 13}
    assert t.positions() == {}  # reported once


def test_out_of_order_ack_holds_the_watermark() -> None:
    t = OffsetTracker()
    t.delivered_many("p", [0, 1, 2, 3])
    t.ack("p", 2)
    t.ack("p", 3)
    assert t.positions() == {}  # 0 and 1 are still unacked
    t.ack("p", 0)
    assert t.positions() == {"p": 1}
    t.ack("p", 1)
    assert t.positions() == {"p": 4}
    assert t.pending("p") == 0


def test_partitions_are_independent_and_revocable() -> None:
    t = OffsetTracker()
    t.delivered(0, 5)
    t.delivered(1, 7)
    t.ack(1, 7)
    assert t.positions() == {1: 8}
    t.revoke(0)
    t.ack(0, 5)  # ignored: the partition was revoked
    assert t.positions() == {}


def test_duplicate_and_unknown_acks_are_ignored() -> None:
    t = OffsetTracker()
    t.delivered_many(0, [1, 2])
    t.ack(0, 1)
    t.ack(0, 1)
    t.ack(0, 99)
    t.ack(3, 1)
    assert t.positions() == {0: 2}


@given(st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=60), st.randoms())
def test_watermark_is_always_the_first_unacked(gaps: list[int], rnd: random.Random) -> None:
    offsets = []
    off = 0
    for gap in gaps:  # increasing offsets with gaps, as a compacted log gives
        off += gap + 1
        offsets.append(off)
    t = OffsetTracker()
    t.delivered_many(0, offsets)
    order = offsets[:]
    rnd.shuffle(order)
    acked: set[int] = set()
    committed = None
    for o in order:
        t.ack(0, o)
        acked.add(o)
        committed = t.positions().get(0, committed)
        if committed is not None:
            # everything below the committed position was acked
            assert all(x in acked for x in offsets if x < committed)
            # and it sits right after an acked offset, never past an unacked one
            first_unacked = next((x for x in offsets if x not in acked), None)
            if first_unacked is not None:
                assert committed <= first_unacked
    assert committed == offsets[-1] + 1


def test_rewind_forgets_the_nacked_offset_and_the_ones_after_it() -> None:
    t = OffsetTracker()
    t.delivered_many("p", [5, 6, 7, 8])
    t.ack("p", 7)
    t.rewind("p", 6)  # 6 nacked: 6, 7, 8 come again
    assert t.pending("p") == 1
    t.ack("p", 5)
    assert t.positions() == {"p": 6}  # never past the nacked message
    t.delivered_many("p", [6, 7, 8])  # read again from the nacked offset
    t.ack("p", 8)
    t.ack("p", 6)
    assert t.positions() == {"p": 7}  # 7's earlier ack was forgotten: it came again
    t.ack("p", 7)
    assert t.positions() == {"p": 9}


def test_rewind_of_an_unknown_partition_is_a_no_op() -> None:
    t = OffsetTracker()
    t.rewind("nowhere", 3)
    assert t.positions() == {}


def test_release_returns_the_safe_positions_even_once_taken_and_forgets() -> None:
    t = OffsetTracker()
    t.delivered_many("p", [0, 1, 2, 3])
    t.delivered_many("q", [10, 11])
    t.delivered_many("r", [20])
    t.ack("p", 0)
    t.ack("p", 2)  # 1 is not acked: the position stays at 1
    t.ack("q", 10)
    assert t.positions() == {"p": 1, "q": 11}  # taken by a commit (which may fail)
    # revoked: the positions again (what is safe to commit), none for r (nothing acked)
    assert t.release(["p", "q", "r", "unknown"]) == {"p": 1, "q": 11}
    t.ack("p", 1)  # an ack after the revocation: ignored
    assert t.positions() == {}
    assert t.pending("p") == 0
