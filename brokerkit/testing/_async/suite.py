"""The brokerkit conformance suite, async source.

``brokerkit/testing/_sync/suite.py`` (class ``SyncSuite``, fixture ``broker``) is generated
from this file by ``python tools/unasync.py``: every case runs through both APIs.

Cases use the fixtures ``abroker`` (an open AsyncBroker for ``broker_url``), ``topic`` and
``group`` (unique per test) from ``brokerkit.testing.plugin``. A case gated with
``@requires(...)`` asserts ``UnsupportedError`` instead where the backend lacks the
capability. No case sleeps to wait for the broker: helpers poll with a deadline.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from functools import partial
from typing import Any

import pytest

from brokerkit import (
    AsyncBroker,
    AsyncConsumer,
    AsyncMessage,
    Capabilities,
    ClosedError,
    ConfigurationError,
    Guarantee,
    UnsupportedError,
    connect_async,
)

from ..._acompat import AWaiter, asleep
from ..._optiontypes import CommitName, GuaranteeName
from ..._policy.deadletter import H_DELIVERY_COUNT, H_ORIGINAL_ID, H_ORIGINAL_TOPIC, H_REASON
from .._support import (
    DELIVERY_TIMEOUT,
    QUIET_PERIOD,
    agather,
    arun,
    guarantee_for,
    requires,
    unique_topic,
)
from .producing import AsyncProducingCases
from .support import acollect

#: close() must hand unacked messages back "at once": another member gets them within
#: this many seconds (far below any ack deadline / visibility timeout).
HANDBACK_BOUND = 3.0
#: ...and when the whole of a member's share changes hands on close: on a partitioned log
#: that is a group rebalance, which takes a couple of seconds.
HANDOVER_BOUND = 5.0


def _values(msgs: list[AsyncMessage]) -> list[bytes]:
    return [m.value for m in msgs]


async def _first_to_receive(members: list[Any]) -> tuple[Any, Any, AsyncMessage]:
    """Poll two members of a group in turn until one receives a message: (that member,
    the other one, the message). Polling both keeps each in its group (a log broker
    rebalances only members that poll)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        for i, member in enumerate(members):
            msg = await member.receive(timeout=0.2)
            if msg is not None:
                return member, members[1 - i], msg
    raise AssertionError("no member of the group received anything")


async def _ends(handle: Any, what: str) -> Any:
    """The result of a background call that must end within DELIVERY_TIMEOUT: an
    assertion that fails with ``what``, never a hang until the test runner's timeout."""
    try:
        return await handle.wait(DELIVERY_TIMEOUT)
    except TimeoutError:
        raise AssertionError(f"{what} did not end within {DELIVERY_TIMEOUT} s") from None


class AsyncSuite(AsyncProducingCases):
    """The portable behaviour of every brokerkit backend, through the async API.

    Subclass it in a test module (``class TestAsync(AsyncSuite): pass``) with the
    ``brokerkit.testing.plugin`` pytest plugin active.
    """

    # -- the Capabilities object -----------------------------------------------------------

    async def test_capabilities_describe_the_backend(self, abroker: AsyncBroker) -> None:
        caps = abroker.capabilities
        assert isinstance(caps, Capabilities)
        assert caps.at_least_once or caps.at_most_once, "a backend must offer some guarantee"
        with pytest.raises(dataclasses.FrozenInstanceError):
            caps.ordered = not caps.ordered  # type: ignore[misc]
        assert tuple(caps.as_dict()) == Capabilities.names()
        assert all(isinstance(v, bool) for v in caps.as_dict().values())

    # -- round trips -------------------------------------------------------------------

    async def test_round_trip_of_value_key_headers_topic_id(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        caps = abroker.capabilities
        g = guarantee_for(caps)
        headers = {"event-type": "created", "unicode": "żółw ✓", "empty": ""}
        async with abroker.consumer(topic, guarantee=g) as consumer:
            before = time.time()
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send(b"\x00payload\xff", key=b"k-1", headers=headers)
                await producer.send("text ✓", key="user-2")
                await producer.send(b"no key")
                await producer.flush()
            msgs = await acollect(consumer, 3, ack=True)
            after = time.time()
        assert len(msgs) == 3, f"expected 3 messages, got {_values(msgs)}"
        by_value = {m.value: m for m in msgs}
        assert set(by_value) == {b"\x00payload\xff", "text ✓".encode(), b"no key"}
        first, second, third = (
            by_value[b"\x00payload\xff"],
            by_value["text ✓".encode()],
            by_value[b"no key"],
        )
        assert type(first.value) is bytes
        assert first.key == b"k-1"
        assert second.key == b"user-2"
        assert third.key is None
        if caps.headers:
            assert first.headers == headers
        assert second.headers == {}
        assert third.headers == {}
        ids = set()
        for msg in msgs:
            assert msg.topic == topic
            assert isinstance(msg.id, str)
            assert msg.id
            ids.add(msg.id)
            if msg.timestamp is not None:
                assert isinstance(msg.timestamp, float)
                assert before - 60 <= msg.timestamp <= after + 60, (before, msg.timestamp, after)
            if caps.delivery_count:
                assert msg.delivery_count == 1
        assert len(ids) == 3, "message ids must differ"

    async def test_send_many_round_trip(self, abroker: AsyncBroker, topic: str) -> None:
        caps = abroker.capabilities
        g = guarantee_for(caps)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many(
                    [
                        b"plain",
                        "text",
                        (b"with-key", "k"),
                        (b"with-headers", b"k2", {"h": "v"}),
                        (b"none-headers", None, None),
                    ]
                )
                await producer.send_many([])
            msgs = await acollect(consumer, 5, ack=True)
        by_value = {m.value: m for m in msgs}
        assert sorted(by_value) == sorted(
            [b"plain", b"text", b"with-key", b"with-headers", b"none-headers"]
        )
        assert len(msgs) == 5
        assert by_value[b"plain"].key is None
        assert by_value[b"with-key"].key == b"k"
        assert by_value[b"with-headers"].key == b"k2"
        if caps.headers:
            assert by_value[b"with-headers"].headers == {"h": "v"}
        assert by_value[b"none-headers"].headers == {}

    async def test_empty_and_large_payloads(self, abroker: AsyncBroker, topic: str) -> None:
        g = guarantee_for(abroker.capabilities)
        big = os.urandom(1 << 20)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send(b"", key=b"empty")
                await producer.send(big, key=b"big")
            msgs = await acollect(consumer, 2, ack=True)
        by_key = {m.key: m.value for m in msgs}
        assert by_key == {b"empty": b"", b"big": big}

    async def test_many_messages_no_loss_no_duplicates(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        expected = [b"m%05d" % i for i in range(2000)]
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many(expected[:1000])
                for value in expected[1000:]:
                    await producer.send(value)
            msgs = await acollect(consumer, len(expected), ack=True)
            extra = await acollect(consumer, 1, QUIET_PERIOD)
        assert sorted(_values(msgs)) == expected
        assert extra == []

    async def test_topic_isolation(self, abroker: AsyncBroker, topic: str) -> None:
        g = guarantee_for(abroker.capabilities)
        other = unique_topic()
        async with (
            abroker.consumer(topic, guarantee=g) as mine,
            abroker.consumer(other, guarantee=g) as theirs,
        ):
            async with (
                abroker.producer(topic, guarantee=g) as p1,
                abroker.producer(other, guarantee=g) as p2,
            ):
                await p1.send_many([b"a1", b"a2"])
                await p2.send_many([b"b1", b"b2", b"b3"])
            got_mine = await acollect(mine, 2, ack=True)
            got_theirs = await acollect(theirs, 3, ack=True)
            assert sorted(_values(got_mine)) == [b"a1", b"a2"]
            assert sorted(_values(got_theirs)) == [b"b1", b"b2", b"b3"]
            assert {m.topic for m in got_mine} == {topic}
            assert {m.topic for m in got_theirs} == {other}
            assert await acollect(mine, 1, QUIET_PERIOD) == []
            assert await acollect(theirs, 1, QUIET_PERIOD) == []

    async def test_a_new_group_sees_earlier_messages_exactly_where_replay(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        caps = abroker.capabilities
        g = guarantee_for(caps)
        async with abroker.producer(topic, guarantee=g) as producer:
            await producer.send_many([b"early-1", b"early-2"])
            await producer.flush()
            async with abroker.consumer(
                topic, group=group if caps.consumer_groups else None, guarantee=g
            ) as consumer:
                await producer.send(b"late")
                await producer.flush()
                expected = [b"early-1", b"early-2", b"late"] if caps.replay else [b"late"]
                msgs = await acollect(consumer, len(expected), ack=True)
                assert sorted(_values(msgs)) == expected
                assert await acollect(consumer, 1, QUIET_PERIOD) == []

    # -- groups --------------------------------------------------------------------------

    @requires("consumer_groups")
    async def test_every_group_gets_every_message(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        expected = [b"v%d" % i for i in range(10)]
        async with (
            abroker.consumer(topic, group=group, guarantee=g) as c1,
            abroker.consumer(topic, group=group + "-other", guarantee=g) as c2,
        ):
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many(expected)
            got1 = await acollect(c1, 10, ack=True)
            got2 = await acollect(c2, 10, ack=True)
        assert sorted(_values(got1)) == expected
        assert sorted(_values(got2)) == expected

    async def test_private_consumers_each_get_every_message(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        expected = [b"p%d" % i for i in range(5)]
        async with (
            abroker.consumer(topic, guarantee=g) as c1,
            abroker.consumer(topic, group=None, guarantee=g) as c2,
        ):
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many(expected)
            got1 = await acollect(c1, 5, ack=True)
            got2 = await acollect(c2, 5, ack=True)
        assert sorted(_values(got1)) == expected
        assert sorted(_values(got2)) == expected

    @requires("consumer_groups")
    async def test_group_members_share_without_loss_or_duplicates(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        total = 60
        expected = [b"s%03d" % i for i in range(total)]
        received: list[bytes] = []

        async def take(consumer: Any) -> int:
            count = 0
            deadline = time.monotonic() + DELIVERY_TIMEOUT
            while len(received) < total and time.monotonic() < deadline:
                for msg in await consumer.receive_many(max_messages=5, timeout=0.1):
                    await msg.ack()
                    received.append(msg.value)
                    count += 1
            return count

        async with (
            abroker.consumer(topic, group=group, guarantee=g, prefetch=5) as c1,
            abroker.consumer(topic, group=group, guarantee=g, prefetch=5) as c2,
        ):
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many(expected)
            counts = await agather(partial(take, c1), partial(take, c2))
            assert sorted(received) == expected, "lost or duplicated messages"
            assert sum(counts) == total
            assert await acollect(c1, 1, QUIET_PERIOD) == []
            assert await acollect(c2, 1, QUIET_PERIOD) == []

    @requires("consumer_groups")
    async def test_group_name_is_scoped_to_its_topic(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        other = unique_topic()
        async with (
            abroker.consumer(topic, group=group, guarantee=g) as c1,
            abroker.consumer(other, group=group, guarantee=g) as c2,
        ):
            async with (
                abroker.producer(topic, guarantee=g) as p1,
                abroker.producer(other, guarantee=g) as p2,
            ):
                await p1.send_many([b"t1", b"t2"])
                await p2.send_many([b"o1", b"o2"])
            assert sorted(_values(await acollect(c1, 2, ack=True))) == [b"t1", b"t2"]
            assert sorted(_values(await acollect(c2, 2, ack=True))) == [b"o1", b"o2"]

    async def test_consumer_is_subscribed_when_consumer_returns(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        caps = abroker.capabilities
        g = guarantee_for(caps)
        cases: list[dict[str, Any]] = [{"group": None}]
        if caps.consumer_groups:
            cases.append({"group": group})
        for i, kwargs in enumerate(cases):
            name = f"{topic}-{i}"
            async with abroker.producer(name, guarantee=g) as producer:
                consumer = await abroker.consumer(name, guarantee=g, **kwargs)
                try:
                    await producer.send(b"right after consumer()")
                    await producer.flush()
                    msgs = await acollect(consumer, 1, ack=True)
                    assert _values(msgs) == [b"right after consumer()"], kwargs
                finally:
                    await consumer.close()

    # -- at-least-once ---------------------------------------------------------------------

    @requires("at_least_once")
    async def test_nack_redelivers(self, abroker: AsyncBroker, topic: str) -> None:
        caps = abroker.capabilities
        async with abroker.consumer(topic, commit="sync") as consumer:
            async with abroker.producer(topic) as producer:
                await producer.send(b"again", key=b"k")
            [first] = await acollect(consumer, 1)
            await first.nack()
            [second] = await acollect(consumer, 1)
            assert second.value == b"again"
            assert second.key == b"k"
            if caps.delivery_count:
                assert second.delivery_count == 2
            await second.nack()
            [third] = await acollect(consumer, 1)
            if caps.delivery_count:
                assert third.delivery_count == 3
            await third.ack()
            await third.ack()  # repeated: a no-op
            await third.nack()  # already settled: a no-op
            assert await acollect(consumer, 1, QUIET_PERIOD) == []

    @requires("at_least_once", "nack_delay")
    async def test_nack_with_delay_redelivers_after_the_delay(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        caps = abroker.capabilities
        delay = 0.6
        async with abroker.consumer(topic, commit="sync") as consumer:
            async with abroker.producer(topic) as producer:
                await producer.send(b"later")
            [first] = await acollect(consumer, 1)
            started = time.monotonic()
            await first.nack(delay=delay)
            early = await acollect(consumer, 1, delay / 2)
            assert early == [], "the message came back before its nack delay"
            [again] = await acollect(consumer, 1)
            elapsed = time.monotonic() - started
            assert again.value == b"later"
            assert elapsed >= delay * 0.8, f"came back after {elapsed:.3f} s, delay was {delay}"
            if caps.delivery_count:
                assert again.delivery_count == 2
            await again.ack()

    @requires("at_least_once", "consumer_groups")
    async def test_unacked_messages_come_back_after_close(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        caps = abroker.capabilities
        expected = [b"u1", b"u2", b"u3"]
        async with abroker.consumer(topic, group=group) as first:
            async with abroker.producer(topic) as producer:
                await producer.send_many([(v, b"k") for v in expected])
            got = await acollect(first, 3)
            assert sorted(_values(got)) == expected
        async with abroker.consumer(topic, group=group) as second:
            again = await acollect(second, 3, ack=True)
            assert sorted(_values(again)) == expected
            if caps.delivery_count:
                assert {m.delivery_count for m in again} == {2}
        async with abroker.consumer(topic, group=group) as third:
            assert await acollect(third, 1, QUIET_PERIOD) == []

    @pytest.mark.parametrize("commit", ["sync", "async"])
    @requires("at_least_once", "consumer_groups")
    async def test_out_of_order_acks_never_commit_past_an_unacked_message(
        self, abroker: AsyncBroker, topic: str, group: str, commit: CommitName
    ) -> None:
        async with abroker.consumer(topic, group=group, commit=commit) as first:
            async with abroker.producer(topic) as producer:
                await producer.send_many([(b"m1", b"k"), (b"m2", b"k"), (b"m3", b"k")])
            m1, m2, m3 = await acollect(first, 3)
            assert _values([m1, m2, m3]) == [b"m1", b"m2", b"m3"]
            await m3.ack()
            await m1.ack()
        async with abroker.consumer(topic, group=group, commit=commit) as second:
            if abroker.capabilities.cumulative_ack:
                # The committed position stops at m2: m3 (acked behind it) comes again.
                back = await acollect(second, 2, ack=True)
                assert _values(back) == [b"m2", b"m3"]
            else:
                back = await acollect(second, 1, ack=True)
                assert _values(back) == [b"m2"]
            assert await acollect(second, 1, QUIET_PERIOD) == []

    @pytest.mark.parametrize(
        "options",
        [
            {"commit": "sync"},
            {"commit": "async"},
            {"commit": "sync", "commit_every": 4},
            {"commit": "async", "commit_every": 3},
            {"commit": "async", "commit_every": 1000, "commit_interval": 60.0},
        ],
        ids=["sync", "async", "sync-every-4", "async-every-3", "async-batched-until-close"],
    )
    @requires("at_least_once", "consumer_groups")
    async def test_commits_survive_close_and_reopen(
        self, abroker: AsyncBroker, topic: str, group: str, options: dict[str, Any]
    ) -> None:
        caps = abroker.capabilities
        values = [b"c%02d" % i for i in range(10)]
        async with abroker.consumer(topic, group=group, **options) as first:
            async with abroker.producer(topic) as producer:
                await producer.send_many(values)
            got = await acollect(first, 10)
            assert sorted(_values(got)) == values
            for msg in got:
                if int(msg.value[1:]) % 2 == 0:
                    await msg.ack()
        unacked = [v for v in values if int(v[1:]) % 2]
        if caps.cumulative_ack:
            # Per partition, everything from the first unacked message on comes again.
            unacked = values[values.index(unacked[0]) :]
        async with abroker.consumer(topic, group=group, **options) as second:
            again = await acollect(second, len(unacked))
            assert sorted(_values(again)) == unacked
            if caps.delivery_count:
                assert {m.delivery_count for m in again} == {2}
            assert await acollect(second, 1, QUIET_PERIOD) == []
            for msg in again:
                await msg.ack()
            await second.commit()
        async with abroker.consumer(topic, group=group, **options) as third:
            assert await acollect(third, 1, QUIET_PERIOD) == []

    @pytest.mark.parametrize("commit", ["sync", "async"])
    @requires("at_least_once", "consumer_groups")
    async def test_ack_many_acks_a_batch_in_one_call(
        self, abroker: AsyncBroker, topic: str, group: str, commit: CommitName
    ) -> None:
        """ack_many() settles every message it is given, as ack() on each would: none comes
        back to the group; the ones left out (and none of another consumer) do."""
        values = [b"b%02d" % i for i in range(12)]
        async with abroker.consumer(topic, group=group, commit=commit) as first:
            async with abroker.producer(topic) as producer:
                await producer.send_many(values)
            got = await acollect(first, 12)
            assert sorted(_values(got)) == values
            async with abroker.consumer(topic, commit=commit) as stranger:
                with pytest.raises(ValueError, match="received from this consumer"):
                    await stranger.ack_many(got)
            with pytest.raises(TypeError, match="takes messages received from this consumer"):
                await first.ack_many([b"not a message"])  # type: ignore[list-item]
            acked = [m for m in got if m.value != b"b11"]  # the last one stays unacked
            await first.ack_many(acked)
            await first.ack_many(acked)  # repeated: a no-op, as ack() is
            await first.ack_many([])
            await first.commit()
        async with abroker.consumer(topic, group=group, commit=commit) as second:
            again = await acollect(second, 1)
            assert _values(again) == [b"b11"]
            await second.ack_many(again)
            assert await acollect(second, 1, QUIET_PERIOD) == []

    @requires("at_least_once", "consumer_groups")
    async def test_close_hands_unacked_messages_back_at_once(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        values = [b"h%d" % i for i in range(5)]
        members = [
            await abroker.consumer(topic, group=group),
            await abroker.consumer(topic, group=group),
        ]
        try:
            async with abroker.producer(topic) as producer:
                await producer.send_many(values)
            # The holder is whichever member the broker gives the messages to (on a
            # partitioned log, the one assigned the partition).
            holder, other, _ = await _first_to_receive(members)
            started = time.monotonic()
            await holder.close()
            got = await acollect(other, len(values), HANDOVER_BOUND, ack=True)
            elapsed = time.monotonic() - started
            assert sorted(_values(got)) == values, (
                f"after {elapsed:.2f} s the other member has {sorted(_values(got))}"
            )
        finally:
            for member in members:
                await member.close()

    @requires("at_least_once", "consumer_groups")
    async def test_close_hands_prefetched_messages_back_at_once(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        values = [b"p%02d" % i for i in range(20)]
        # prefetch=20: one fetch takes every message; one is handed out and acked, the
        # other 19 wait in the holder's buffer, never seen by the application.
        members = [
            await abroker.consumer(topic, group=group, prefetch=20, commit="sync"),
            await abroker.consumer(topic, group=group, prefetch=20, commit="sync"),
        ]
        try:
            async with abroker.producer(topic) as producer:
                await producer.send_many(values)
            holder, other, first = await _first_to_receive(members)
            await first.ack()
            started = time.monotonic()
            await holder.close()
            got = await acollect(other, len(values) - 1, HANDOVER_BOUND, ack=True)
            elapsed = time.monotonic() - started
            rest = sorted(set(values) - {first.value})
            assert sorted(_values(got)) == rest, (
                f"after {elapsed:.2f} s the other member has {len(got)} of the "
                f"{len(rest)} prefetched messages"
            )
            assert await acollect(other, 1, QUIET_PERIOD) == [], "the acked one came back"
        finally:
            for member in members:
                await member.close()

    # -- at-most-once ----------------------------------------------------------------------

    @requires("at_most_once", "consumer_groups")
    async def test_at_most_once_never_redelivers(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        amo = Guarantee.AT_MOST_ONCE
        async with abroker.consumer(topic, group=group, guarantee=amo) as first:
            async with abroker.producer(topic, guarantee=amo) as producer:
                await producer.send_many([b"x1", b"x2", b"x3"])
            got = await acollect(first, 3)
            assert sorted(_values(got)) == [b"x1", b"x2", b"x3"]
            # never acked: at-most-once committed them before handing them over
        async with abroker.consumer(topic, group=group, guarantee=amo) as second:
            assert await acollect(second, 1, QUIET_PERIOD) == []

    @requires("at_most_once")
    async def test_at_most_once_ack_is_accepted_and_does_nothing(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        amo = Guarantee.AT_MOST_ONCE
        async with abroker.consumer(topic, guarantee=amo) as consumer:
            async with abroker.producer(topic, guarantee=amo) as producer:
                await producer.send(b"once")
            [msg] = await acollect(consumer, 1)
            await msg.ack()
            await msg.ack()
            assert await acollect(consumer, 1, QUIET_PERIOD) == []

    # -- ordering ----------------------------------------------------------------------

    @requires("ordered")
    async def test_order_is_kept_per_key(self, abroker: AsyncBroker, topic: str) -> None:
        g = guarantee_for(abroker.capabilities)
        keys = [b"k0", b"k1", b"k2", b"k3"]
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                for i in range(40):
                    key = keys[i % len(keys)]
                    await producer.send(b"%d" % i, key=key)
                await producer.send_many([(b"%d" % i, keys[i % len(keys)]) for i in range(40, 80)])
            msgs = await acollect(consumer, 80, ack=True)
        assert len(msgs) == 80
        for key in keys:
            seq = [int(m.value) for m in msgs if m.key == key]
            assert seq == sorted(seq), f"key {key!r} out of order: {seq}"
            assert len(seq) == 20

    # -- producers ---------------------------------------------------------------------

    async def test_close_flushes_pipelined_sends_and_later_sends_raise(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        expected = [b"f%03d" % i for i in range(200)]
        async with abroker.consumer(topic, guarantee=g) as consumer:
            producer = await abroker.producer(topic, guarantee=g)
            await producer.send_many(expected[:100])
            for value in expected[100:]:
                await producer.send(value)
            await producer.close()
            await producer.close()  # idempotent
            with pytest.raises(ClosedError):
                await producer.send(b"late")
            with pytest.raises(ClosedError):
                await producer.send_many([b"late"])
            with pytest.raises(ClosedError):
                await producer.flush()
            msgs = await acollect(consumer, len(expected), ack=True)
        assert sorted(_values(msgs)) == expected

    # -- dead letters ------------------------------------------------------------------

    @requires("at_least_once", "delivery_count")
    async def test_max_deliveries_moves_a_poison_message_to_the_dead_letter_topic(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        dlt = topic + "-dlq"
        limit = 2
        async with (
            abroker.consumer(dlt) as dlq,
            abroker.consumer(
                topic, group=group, commit="sync", max_deliveries=limit, dead_letter_topic=dlt
            ) as consumer,
        ):
            async with abroker.producer(topic) as producer:
                await producer.send(b"poison", key=b"pk", headers={"app": "x"})
            deliveries = 0
            original_id = None
            while deliveries < limit:
                [msg] = await acollect(consumer, 1)
                assert msg.value == b"poison"
                deliveries += 1
                assert msg.delivery_count == deliveries
                original_id = msg.id
                await msg.nack()
            dead: list[AsyncMessage] = []
            deadline = time.monotonic() + DELIVERY_TIMEOUT
            while not dead and time.monotonic() < deadline:
                again = await consumer.receive(timeout=0.05)
                assert again is None, (
                    f"delivered again (delivery_count={again.delivery_count}) despite "
                    f"max_deliveries={limit}"
                )
                dead = await dlq.receive_many(timeout=0.05)
            assert len(dead) == 1, "the poison message never reached the dead letter topic"
            [dl] = dead
            await dl.ack()
            assert dl.value == b"poison"
            assert dl.key == b"pk"
            assert dl.topic == dlt
            assert dl.headers["app"] == "x"
            assert dl.headers[H_ORIGINAL_TOPIC] == topic
            assert dl.headers[H_ORIGINAL_ID] == original_id
            assert "max_deliveries" in dl.headers[H_REASON]
            assert int(dl.headers[H_DELIVERY_COUNT]) == limit, "the deliveries made"
            assert await acollect(consumer, 1, QUIET_PERIOD) == []
        async with abroker.consumer(topic, group=group) as reopened:
            assert await acollect(reopened, 1, QUIET_PERIOD) == [], "dead-lettered, not acked"

    async def test_dead_letter_moves_the_message_and_acks_it(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        caps = abroker.capabilities
        g = guarantee_for(caps)
        dlt = topic + "-dlq"
        kwargs: dict[str, Any] = {"group": group} if caps.consumer_groups else {}
        async with (
            abroker.consumer(dlt, guarantee=g) as dlq,
            abroker.consumer(topic, guarantee=g, dead_letter_topic=dlt, **kwargs) as consumer,
        ):
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send(b"bad", key=b"bk", headers={"trace": "t-1"})
                await producer.send(b"good")
            msgs = await acollect(consumer, 2)
            by_value = {m.value: m for m in msgs}
            await by_value[b"bad"].dead_letter("cannot parse")
            await by_value[b"good"].ack()
            [dl] = await acollect(dlq, 1, ack=True)
            assert dl.value == b"bad"
            assert dl.key == b"bk"
            if caps.headers:
                assert dl.headers["trace"] == "t-1"
                assert dl.headers[H_ORIGINAL_TOPIC] == topic
                assert dl.headers[H_ORIGINAL_ID] == by_value[b"bad"].id
                assert dl.headers[H_REASON] == "cannot parse"
                assert int(dl.headers[H_DELIVERY_COUNT]) == by_value[b"bad"].delivery_count
        if caps.at_least_once and caps.consumer_groups:
            async with abroker.consumer(topic, group=group) as reopened:
                assert await acollect(reopened, 1, QUIET_PERIOD) == [], "dead_letter() acks"

    @requires("at_least_once")
    async def test_nack_without_requeue_dead_letters(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        dlt = topic + "-dlq"
        async with (
            abroker.consumer(dlt) as dlq,
            abroker.consumer(topic, dead_letter_topic=dlt) as consumer,
        ):
            async with abroker.producer(topic) as producer:
                await producer.send(b"reject")
            [msg] = await acollect(consumer, 1)
            await msg.nack(requeue=False)
            [dl] = await acollect(dlq, 1, ack=True)
            assert dl.value == b"reject"
            assert dl.headers[H_ORIGINAL_TOPIC] == topic
            assert await acollect(consumer, 1, QUIET_PERIOD) == []

    async def test_dead_letter_needs_a_dead_letter_topic(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send(b"x")
            [msg] = await acollect(consumer, 1)
            with pytest.raises(ConfigurationError, match="dead_letter_topic"):
                await msg.dead_letter("no topic")
            await msg.ack()

    # -- receiving ---------------------------------------------------------------------

    async def test_receive_times_out_with_none(self, abroker: AsyncBroker, topic: str) -> None:
        g = guarantee_for(abroker.capabilities)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            started = time.monotonic()
            assert await consumer.receive(timeout=0.2) is None
            assert await consumer.receive_many(max_messages=10, timeout=0.2) == []
            assert time.monotonic() - started < DELIVERY_TIMEOUT
            with pytest.raises(ValueError, match="max_messages"):
                await consumer.receive_many(max_messages=0)

    async def test_receive_many_returns_at_most_max_messages(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        expected = [b"r%d" % i for i in range(10)]
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many(expected)
            got: list[AsyncMessage] = []
            deadline = time.monotonic() + DELIVERY_TIMEOUT
            while len(got) < 10 and time.monotonic() < deadline:
                batch = await consumer.receive_many(max_messages=3, timeout=0.5)
                assert len(batch) <= 3
                for msg in batch:
                    await msg.ack()
                got.extend(batch)
        assert sorted(_values(got)) == expected

    async def test_iteration_ends_when_the_consumer_is_closed_elsewhere(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send(b"one")
            first_seen = AWaiter()
            seen = []

            async def iterate() -> None:
                async for msg in consumer:
                    seen.append(msg.value)
                    await msg.ack()
                    first_seen.set()

            iteration = arun(iterate)
            assert await first_seen.wait(DELIVERY_TIMEOUT), "the message never came"
            # Let the iteration block on the empty topic again (either order must end it).
            await asleep(0.2)
            await consumer.close()
            await _ends(iteration, "iterating a consumer closed elsewhere")
        assert seen == [b"one"]

    async def test_iteration_ends_when_closed_in_the_loop(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                await producer.send_many([b"1", b"2", b"3"])
            seen = []

            async def iterate() -> None:
                async for msg in consumer:
                    seen.append(msg.value)
                    await msg.ack()
                    await consumer.close()

            await _ends(arun(iterate), "iterating a consumer closed in the loop body")
            assert len(seen) == 1

            async def iterate_closed() -> list[Any]:
                return [msg async for msg in consumer]

            seen2 = await _ends(arun(iterate_closed), "iterating a closed consumer")
            assert seen2 == [], "iterating a closed consumer ends at once"

    # -- bad input ---------------------------------------------------------------------

    async def test_wrong_payload_key_and_header_types_raise_type_error(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            async with abroker.producer(topic, guarantee=g) as producer:
                bad: Any = 123
                with pytest.raises(TypeError, match="bytes"):
                    await producer.send(bad)
                with pytest.raises(TypeError):
                    await producer.send(None)  # type: ignore[arg-type]
                with pytest.raises(TypeError, match="key"):
                    await producer.send(b"v", key=bad)
                with pytest.raises(TypeError, match="header"):
                    await producer.send(b"v", headers={"n": bad})
                with pytest.raises(TypeError, match="header"):
                    await producer.send(b"v", headers={bad: "v"})
                with pytest.raises(TypeError, match="Mapping"):
                    await producer.send(b"v", headers=["n", "v"])  # type: ignore[arg-type]
                with pytest.raises(TypeError):
                    await producer.send_many([bad])
                with pytest.raises(TypeError):
                    await producer.send_many([(b"v", None, {"n": bad})])
                with pytest.raises(TypeError):
                    await producer.send_many([(b"v", None, None, None)])  # type: ignore[list-item]
                await producer.send(b"still works")
            msgs = await acollect(consumer, 1, ack=True)
            assert _values(msgs) == [b"still works"], "a rejected send must send nothing"
            assert await acollect(consumer, 1, QUIET_PERIOD) == []

    async def test_reserved_header_prefix_raises_value_error(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        async with abroker.producer(topic, guarantee=g) as producer:
            with pytest.raises(ValueError, match="reserved"):
                await producer.send(b"v", headers={"brokerkit-original-topic": "x"})
            with pytest.raises(ValueError, match="reserved"):
                await producer.send_many([(b"v", None, {"brokerkit-anything": "x"})])

    async def test_unknown_option_or_bad_value_raises_configuration_error(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        with pytest.raises(ConfigurationError, match="bogus") as info:
            await abroker.producer(topic, bogus=1)  # type: ignore[call-arg]
        assert "guarantee" in str(info.value), "the message lists the valid options"
        with pytest.raises(ConfigurationError, match="commmit") as info:
            await abroker.consumer(topic, commmit="sync")  # type: ignore[call-arg]
        assert "commit_every" in str(info.value)
        assert "did you mean 'commit'" in str(info.value)
        with pytest.raises(ConfigurationError, match="at-least-once"):
            await abroker.consumer(topic, guarantee="exactly-once")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="at-most-once"):
            await abroker.producer(topic, guarantee="exactly-once")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="commit_every"):
            await abroker.consumer(topic, commit_every=0)
        with pytest.raises(ConfigurationError, match="bogus_connect_option"):
            await connect_async(abroker.url, bogus_connect_option=1)  # type: ignore[call-arg]
        with pytest.raises((TypeError, ValueError)):
            await abroker.producer("")
        with pytest.raises((TypeError, ValueError)):
            await abroker.consumer(topic, group="")

    async def test_use_after_close_raises_closed_error(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        caps = abroker.capabilities
        g = guarantee_for(caps)
        consumer = await abroker.consumer(topic, guarantee=g)
        producer = await abroker.producer(topic, guarantee=g)
        await producer.send(b"x")
        [msg] = await acollect(consumer, 1)
        await consumer.close()
        await consumer.close()  # idempotent
        with pytest.raises(ClosedError):
            await consumer.receive(timeout=0.1)
        with pytest.raises(ClosedError):
            await consumer.receive_many(timeout=0.1)
        if g is Guarantee.AT_LEAST_ONCE:
            with pytest.raises(ClosedError):
                await msg.ack()
        else:
            await msg.ack()  # at-most-once: accepted, does nothing
        await abroker.close()
        await abroker.close()  # idempotent
        with pytest.raises(ClosedError):
            await producer.send(b"after the broker closed")
        with pytest.raises(ClosedError):
            await abroker.producer(topic, guarantee=g)
        with pytest.raises(ClosedError):
            await abroker.consumer(topic, guarantee=g)

    # -- capability gating: checked, not skipped ---------------------------------------

    @pytest.mark.parametrize("guarantee", ["at-least-once", "at-most-once"])
    async def test_gating_guarantee(
        self, abroker: AsyncBroker, topic: str, guarantee: GuaranteeName
    ) -> None:
        capability = guarantee.replace("-", "_")
        if getattr(abroker.capabilities, capability):
            async with abroker.consumer(topic, guarantee=guarantee) as consumer:
                assert consumer.guarantee == Guarantee(guarantee)
            async with abroker.producer(topic, guarantee=guarantee) as producer:
                assert producer.guarantee == Guarantee(guarantee)
            return
        with pytest.raises(UnsupportedError) as info:
            await abroker.producer(topic, guarantee=guarantee)
        assert info.value.capability == capability
        with pytest.raises(UnsupportedError) as info:
            await abroker.consumer(topic, guarantee=guarantee)
        assert info.value.capability == capability

    async def test_gating_consumer_groups(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        g = guarantee_for(abroker.capabilities)
        if abroker.capabilities.consumer_groups:
            async with abroker.consumer(topic, group=group, guarantee=g) as consumer:
                assert consumer.group == group
            return
        with pytest.raises(UnsupportedError) as info:
            await abroker.consumer(topic, group=group, guarantee=g)
        assert info.value.capability == "consumer_groups"

    async def test_gating_max_deliveries(self, abroker: AsyncBroker, topic: str) -> None:
        caps = abroker.capabilities
        dlt = topic + "-dlq"
        if caps.at_least_once:
            with pytest.raises(ConfigurationError, match="dead_letter_topic"):
                await abroker.consumer(topic, max_deliveries=3)
        if caps.at_most_once:
            with pytest.raises(ConfigurationError, match="at-least-once"):
                await abroker.consumer(
                    topic, guarantee="at-most-once", max_deliveries=3, dead_letter_topic=dlt
                )
        if caps.at_least_once and caps.delivery_count:
            async with abroker.consumer(topic, max_deliveries=3, dead_letter_topic=dlt):
                pass
            return
        with pytest.raises(UnsupportedError) as info:
            await abroker.consumer(topic, max_deliveries=3, dead_letter_topic=dlt)
        assert info.value.capability in ("at_least_once", "delivery_count")

    @requires("at_least_once")
    async def test_gating_nack_delay(self, abroker: AsyncBroker, topic: str) -> None:
        async with abroker.consumer(topic, commit="sync") as consumer:
            async with abroker.producer(topic) as producer:
                await producer.send(b"d")
            [msg] = await acollect(consumer, 1)
            if abroker.capabilities.nack_delay:
                await msg.nack(delay=0.05)
                assert _values(await acollect(consumer, 1, ack=True)) == [b"d"]
                return
            with pytest.raises(UnsupportedError) as info:
                await msg.nack(delay=0.05)
            assert info.value.capability == "nack_delay"
            await msg.nack(delay=0)  # no delay asked: fine
            assert _values(await acollect(consumer, 1, ack=True)) == [b"d"]

    # -- faults no other case notices ----------------------------------------------------

    @requires("at_least_once")
    async def test_nack_without_requeue_and_without_dead_letter_topic_drops(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        """``nack(requeue=False)`` with no dead_letter_topic drops the message: it is not
        delivered again, neither to this consumer nor after a reopen of the group."""
        caps = abroker.capabilities
        kwargs: dict[str, Any] = {"group": group} if caps.consumer_groups else {}
        async with abroker.consumer(topic, commit="sync", **kwargs) as consumer:
            async with abroker.producer(topic) as producer:
                await producer.send_many([b"drop me", b"keep me"])
            got = await acollect(consumer, 2)
            by_value = {m.value: m for m in got}
            assert sorted(by_value) == [b"drop me", b"keep me"]
            await by_value[b"drop me"].nack(requeue=False)
            await by_value[b"keep me"].ack()
            assert await acollect(consumer, 1, QUIET_PERIOD) == [], "a dropped message came back"
        if caps.consumer_groups:
            async with abroker.consumer(topic, **kwargs) as reopened:
                assert await acollect(reopened, 1, QUIET_PERIOD) == [], (
                    "a message nacked with requeue=False came back to its group"
                )

    @requires("at_least_once", "consumer_groups")
    async def test_closing_one_member_hands_back_only_its_own_messages(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        """close() hands back what the closing member holds, never what another member
        holds unacked: that one stays with its holder (no redelivery to a third member)."""
        if abroker.capabilities.cumulative_ack:
            pytest.skip(
                "cumulative_ack: members of a group own whole partitions, none holds "
                "single messages of another's (the close-hands-back cases cover it)"
            )
        async with (
            abroker.consumer(topic, group=group, commit="sync", prefetch=1) as keeper,
            abroker.consumer(topic, group=group, commit="sync", prefetch=1) as watcher,
        ):
            leaver = await abroker.consumer(topic, group=group, commit="sync", prefetch=1)
            try:
                async with abroker.producer(topic) as producer:
                    await producer.send(b"kept")
                [kept] = await acollect(keeper, 1)
                async with abroker.producer(topic) as producer:
                    await producer.send(b"left")
                [left] = await acollect(leaver, 1)
                assert left.value == b"left"
            finally:
                await leaver.close()
            got = await acollect(watcher, 2, HANDBACK_BOUND)
            assert _values(got) == [b"left"], (
                f"closing one member handed back {_values(got)}; only b'left' was its own"
            )
            for msg in got:
                await msg.ack()
            await kept.ack()
            assert await acollect(watcher, 1, QUIET_PERIOD) == []

    @requires("at_most_once", "consumer_groups")
    async def test_at_most_once_close_loses_nothing_fetched_ahead(
        self, abroker: AsyncBroker, topic: str, group: str
    ) -> None:
        """An at-most-once consumer may lose what it was handed, never what it fetched
        ahead and did not hand out: after a clean close, the rest goes to the group.
        The other member joins first (a broker that keeps nothing for a group member not
        yet there needs it), except on a partitioned log: there it could own the only
        partition, and ``first`` would get nothing; it joins after the close instead."""
        amo = Guarantee.AT_MOST_ONCE
        values = [b"m%02d" % i for i in range(20)]
        later: AsyncConsumer | None = None
        if not abroker.capabilities.cumulative_ack:
            later = await abroker.consumer(topic, group=group, guarantee=amo)
        try:
            first = await abroker.consumer(topic, group=group, guarantee=amo)
            try:
                async with abroker.producer(topic, guarantee=amo) as producer:
                    await producer.send_many(values)
                msg = await first.receive(timeout=DELIVERY_TIMEOUT)
                assert msg is not None
            finally:
                await first.close()
            if later is None:
                later = await abroker.consumer(topic, group=group, guarantee=amo)
            rest = await acollect(later, len(values) - 1)
        finally:
            if later is not None:
                await later.close()
        assert sorted([msg.value, *_values(rest)]) == values, (
            f"{len(values) - 1 - len(rest)} messages fetched ahead were lost on close"
        )

    # -- hardening: what the core promises on every backend --------------------------------

    async def test_wrong_receive_argument_types_say_what_is_accepted(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        """receive(timeout="1") and receive_many("10") used to fail with a raw TypeError
        from a comparison deep inside: now a TypeError saying what is accepted."""
        g = guarantee_for(abroker.capabilities)
        async with abroker.consumer(topic, guarantee=g) as consumer:
            with pytest.raises(TypeError, match="timeout must be a number of seconds"):
                await consumer.receive(timeout="1")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="max_messages must be an int >= 1, got str"):
                await consumer.receive_many("10")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=">= 0"):
                await consumer.receive(timeout=-1)
            assert await consumer.receive(timeout=0) is None

    @requires("at_least_once")
    async def test_nack_without_requeue_and_dead_letter_topic_logs_a_warning(
        self, abroker: AsyncBroker, topic: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The drop is on purpose, but not silent: WARNING with the message id and topic."""
        caplog.set_level(logging.WARNING, logger="brokerkit")
        async with abroker.consumer(topic, commit="sync") as consumer:
            async with abroker.producer(topic) as producer:
                await producer.send(b"drop me")
            [msg] = await acollect(consumer, 1)
            await msg.nack(requeue=False)
        said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(msg.id in text and repr(topic) in text and "dropped" in text for text in said)

    async def test_dead_letter_on_a_closed_consumer_raises_closed_error(
        self, abroker: AsyncBroker, topic: str
    ) -> None:
        """Not a complaint about a missing dead_letter_topic: the consumer is closed."""
        g = guarantee_for(abroker.capabilities)
        consumer = await abroker.consumer(topic, guarantee=g)
        async with abroker.producer(topic, guarantee=g) as producer:
            await producer.send(b"x")
        [msg] = await acollect(consumer, 1)
        await consumer.close()
        with pytest.raises(ClosedError, match="closed"):
            await msg.dead_letter("too late")
