"""What the core hands a producer driver for send_many(): the batch as one run.

A send_many() batch is one entry of the producer's buffer (no tuple per message for plain
bytes values: a :class:`~brokerkit._types.Values`); the flusher cuts a run longer than
``batch_size``, joins short runs of the same kind, keeps send order across send() and
send_many(), and counts messages, not entries, for ``buffer_size``. Checked through the
async and the sync producer (a thread there) with a memory:// driver that records each
batch it is handed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import brokerkit
from brokerkit._spec import BackendSpec, ProducerConfig
from brokerkit._types import Record, Values
from brokerkit.backends.memory import spec as memory_spec
from brokerkit.backends.memory._async.driver import AsyncMemoryDriver
from brokerkit.backends.memory._sync.driver import SyncMemoryDriver

pytestmark = pytest.mark.memory

#: Each batch handed to publish(): its type and its records (copied at once).
BATCHES: list[tuple[type, list[Record]]] = []
#: Cleared: publish() waits until it is set (a broker that does not answer yet).
ASYNC_GATE: dict[str, asyncio.Event] = {}
SYNC_GATE = threading.Event()


class AsyncRecordingProducer:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        BATCHES.append((type(records), list(records)))
        gate = ASYNC_GATE.get("gate")
        if gate is not None:
            await gate.wait()
        return await self._inner.publish(records, timeout)

    async def wait(self, handle: Any, timeout: float | None) -> Any:
        return await self._inner.wait(handle, timeout)

    async def close(self, timeout: float | None) -> None:
        await self._inner.close(timeout)


class SyncRecordingProducer:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        BATCHES.append((type(records), list(records)))
        SYNC_GATE.wait(10)
        return self._inner.publish(records, timeout)

    def wait(self, handle: Any, timeout: float | None) -> Any:
        return self._inner.wait(handle, timeout)

    def close(self, timeout: float | None) -> None:
        self._inner.close(timeout)


class AsyncRecordingDriver(AsyncMemoryDriver):
    async def open_producer(  # type: ignore[override]
        self, topic: str, config: ProducerConfig
    ) -> AsyncRecordingProducer:
        return AsyncRecordingProducer(await super().open_producer(topic, config))


class SyncRecordingDriver(SyncMemoryDriver):
    def open_producer(  # type: ignore[override]
        self, topic: str, config: ProducerConfig
    ) -> SyncRecordingProducer:
        return SyncRecordingProducer(super().open_producer(topic, config))


SPEC: BackendSpec = dataclasses.replace(
    memory_spec,
    schemes=("memoryruns",),
    async_driver=AsyncRecordingDriver,
    sync_driver=SyncRecordingDriver,
    test_variants={},
)


@pytest.fixture(autouse=True)
def _memoryruns() -> Iterator[None]:
    brokerkit.register_backend("memoryruns", SPEC, replace=True)
    BATCHES.clear()
    ASYNC_GATE.clear()
    SYNC_GATE.set()
    yield
    SYNC_GATE.set()
    brokerkit.unregister_backend("memoryruns")


def values(n: int, prefix: bytes = b"m") -> list[bytes]:
    return [b"%s%d" % (prefix, i) for i in range(n)]


def sizes() -> list[tuple[str, int]]:
    return [(kind.__name__, len(records)) for kind, records in BATCHES]


def sent_values() -> list[bytes]:
    return [record[0] for _, records in BATCHES for record in records]


# -- Values, the run of bare values -------------------------------------------------------


def test_values_reads_as_a_sequence_of_records() -> None:
    run = Values([b"a", b"b", b"c"])
    assert len(run) == 3
    assert list(run) == [(b"a", None, None), (b"b", None, None), (b"c", None, None)]
    assert run[1] == (b"b", None, None)
    assert run[-1] == (b"c", None, None)
    assert run[1:] == Values([b"b", b"c"])
    assert isinstance(run[:2], Values)
    assert run == [(b"a", None, None), (b"b", None, None), (b"c", None, None)]
    assert run != Values([b"a"])
    assert (b"b", None, None) in run
    assert next(reversed(run)) == (b"c", None, None)
    kept = list(run)  # tuples the caller keeps are its own, not one reused tuple
    assert kept[0] is not kept[1]
    assert kept[0] == (b"a", None, None)


# -- async producer -------------------------------------------------------------------------


async def test_a_large_send_many_is_cut_at_batch_size_in_order() -> None:
    async with (
        brokerkit.connect_async("memoryruns://cut") as b,
        b.consumer("t", group="g") as consumer,
    ):
        async with b.producer("t", batch_size=1000) as producer:
            await producer.send_many(values(2001))
        assert sizes() == [("Values", 1000), ("Values", 1000), ("list", 1)]
        assert sent_values() == values(2001)
        got = await consumer.receive_many(max_messages=2500, timeout=5)
        assert [m.value for m in got] == values(2001)


async def test_short_runs_are_joined_and_kinds_kept_apart() -> None:
    async with (
        brokerkit.connect_async("memoryruns://join") as b,
        b.consumer("t", group="g") as consumer,
    ):
        # linger: the flusher waits for the senders below before it takes a batch
        async with b.producer("t", linger=0.3) as producer:
            await producer.send(b"a")
            await producer.send_many([b"b", b"c"])
            await producer.send_many([b"d", b"e", b"f"])
            await producer.send_many([(b"g", "k1"), (b"h", "k2")])
            await producer.send(b"i")
            await producer.send_many([b"j"])  # one message: a record, not a run
        assert sizes() == [("list", 1), ("Values", 5), ("list", 4)]
        assert BATCHES[1][1] == [(v, None, None) for v in [b"b", b"c", b"d", b"e", b"f"]]
        assert BATCHES[2][1][0] == (b"g", b"k1", None)
        got = await consumer.receive_many(max_messages=20, timeout=5)
        assert [m.value for m in got] == [
            b"a",
            b"b",
            b"c",
            b"d",
            b"e",
            b"f",
            b"g",
            b"h",
            b"i",
            b"j",
        ]
        assert [m.key for m in got][6:8] == [b"k1", b"k2"]


async def test_the_callers_list_may_be_reused_after_send_many() -> None:
    async with (
        brokerkit.connect_async("memoryruns://reuse") as b,
        b.consumer("t", group="g") as consumer,
    ):
        async with b.producer("t", linger=0.2) as producer:
            batch = [b"x", b"y"]
            await producer.send_many(batch)
            batch[0] = b"changed"
            batch.clear()
        got = await consumer.receive_many(max_messages=10, timeout=5)
        assert [m.value for m in got] == [b"x", b"y"]


async def test_buffer_size_counts_the_messages_of_runs() -> None:
    ASYNC_GATE["gate"] = asyncio.Event()  # the broker does not answer
    async with brokerkit.connect_async("memoryruns://room") as b:
        producer = await b.producer(
            "t", batch_size=10, max_in_flight=1, buffer_size=100, delivery_timeout=0.1
        )
        await producer.send_many(values(50))
        await asyncio.sleep(0.05)  # the flusher took 10 and waits in publish()
        await producer.send_many(values(50, b"n"))  # 90 buffered: room left
        with pytest.raises(brokerkit.TimeoutError, match=r"buffer stayed full \(140 messages\)"):
            await producer.send_many(values(50, b"o"))
        ASYNC_GATE["gate"].set()
        await producer.close()
    assert sent_values() == values(50) + values(50, b"n") + values(50, b"o")


# -- sync producer (the flusher is a thread) -----------------------------------------------


def test_sync_a_large_send_many_is_cut_at_batch_size_in_order() -> None:
    with brokerkit.connect("memoryruns://synccut") as b, b.consumer("t", group="g") as consumer:
        with b.producer("t", batch_size=1000) as producer:
            producer.send_many(values(2001))
            producer.flush()
            assert sizes() == [("Values", 1000), ("Values", 1000), ("list", 1)]
        got = consumer.receive_many(max_messages=2500, timeout=5)
        assert [m.value for m in got] == values(2001)


def test_sync_senders_on_several_threads_keep_each_ones_order() -> None:
    with SyncBrokerConsumer("memoryruns://syncthreads") as (b, consumer):
        with b.producer("t", batch_size=64) as producer:

            def sender(prefix: bytes) -> None:
                for i in range(50):
                    if i % 3 == 0:
                        producer.send(b"%s-%d-0" % (prefix, i))
                    else:
                        producer.send_many([b"%s-%d-%d" % (prefix, i, j) for j in range(7)])

            threads = [threading.Thread(target=sender, args=(p,)) for p in (b"p", b"q", b"r")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            producer.flush()
        got = [m.value for m in consumer.receive_many(max_messages=5000, timeout=5)]
        for prefix in (b"p", b"q", b"r"):
            mine = [v for v in got if v.startswith(prefix + b"-")]
            expected = [
                b"%s-%d-%d" % (prefix, i, j)
                for i in range(50)
                for j in range(1 if i % 3 == 0 else 7)
            ]
            assert mine == expected
        assert all(n <= 64 for _, n in sizes())


def test_sync_buffer_size_counts_the_messages_of_runs() -> None:
    SYNC_GATE.clear()  # the broker does not answer
    with brokerkit.connect("memoryruns://syncroom") as b:
        producer = b.producer(
            "t", batch_size=10, max_in_flight=1, buffer_size=100, delivery_timeout=0.1
        )
        producer.send_many(values(50))
        for _ in range(100):  # until the flusher took its first batch
            if BATCHES:
                break
            threading.Event().wait(0.01)
        producer.send_many(values(50, b"n"))
        with pytest.raises(brokerkit.TimeoutError, match=r"buffer stayed full \(140 messages\)"):
            producer.send_many(values(50, b"o"))
        SYNC_GATE.set()
        producer.close()
    assert sent_values() == values(50) + values(50, b"n") + values(50, b"o")


class SyncBrokerConsumer:
    """A sync broker and a consumer of topic t, group g."""

    def __init__(self, url: str) -> None:
        self._url = url

    def __enter__(self) -> tuple[Any, Any]:
        self._b = brokerkit.connect(self._url)
        self._c = self._b.consumer("t", group="g")
        return self._b, self._c

    def __exit__(self, *exc: object) -> None:
        self._c.close()
        self._b.close()


# -- any mix of send() and send_many(), any batch size ------------------------------------

#: One operation: ("one", n) a send() loop of n, ("bare", n) send_many() of n plain values,
#: ("keyed", n) send_many() of n (value, key) pairs.
OPS = st.lists(
    st.tuples(st.sampled_from(["one", "bare", "keyed"]), st.integers(1, 25)),
    min_size=1,
    max_size=12,
)


def _expected(ops: list[tuple[str, int]]) -> list[Record]:
    out: list[Record] = []
    for i, (kind, n) in enumerate(ops):
        for j in range(n):
            value = b"%d-%d" % (i, j)
            out.append((value, b"k%d" % j if kind == "keyed" else None, None))
    return out


def _calls(ops: list[tuple[str, int]]) -> list[tuple[str, Any]]:
    """The producer calls of ``ops``: (method name, its one argument)."""
    out: list[tuple[str, Any]] = []
    for i, (kind, n) in enumerate(ops):
        if kind == "one":
            out.extend(("send", b"%d-%d" % (i, j)) for j in range(n))
        elif kind == "bare":
            out.append(("send_many", [b"%d-%d" % (i, j) for j in range(n)]))
        else:
            out.append(("send_many", [(b"%d-%d" % (i, j), b"k%d" % j) for j in range(n)]))
    return out


def _check_batches(ops: list[tuple[str, int]], batch_size: int) -> None:
    assert [r for _, records in BATCHES for r in records] == _expected(ops)
    for kind, records in BATCHES:
        assert 1 <= len(records) <= batch_size
        if kind is Values:
            assert all(key is None and headers is None for _, key, headers in records)


@settings(max_examples=60, deadline=None)
@given(
    ops=OPS,
    batch_size=st.integers(1, 12),
    buffer_size=st.integers(1, 40),
    linger=st.sampled_from([0.0, 0.002]),
)
def test_sync_any_mix_arrives_whole_in_order_in_bounded_batches(
    ops: list[tuple[str, int]], batch_size: int, buffer_size: int, linger: float
) -> None:
    BATCHES.clear()
    with (
        brokerkit.connect("memoryruns://mix") as b,
        b.producer("t", batch_size=batch_size, buffer_size=buffer_size, linger=linger) as producer,
    ):
        for method, arg in _calls(ops):
            getattr(producer, method)(arg)
    _check_batches(ops, batch_size)


@settings(max_examples=60, deadline=None)
@given(
    ops=OPS,
    batch_size=st.integers(1, 12),
    buffer_size=st.integers(1, 40),
    linger=st.sampled_from([0.0, 0.002]),
)
def test_async_any_mix_arrives_whole_in_order_in_bounded_batches(
    ops: list[tuple[str, int]], batch_size: int, buffer_size: int, linger: float
) -> None:
    async def run() -> None:
        async with (
            brokerkit.connect_async("memoryruns://amix") as b,
            b.producer("t", batch_size=batch_size, buffer_size=buffer_size, linger=linger) as p,
        ):
            for method, arg in _calls(ops):
                await getattr(p, method)(arg)

    BATCHES.clear()
    asyncio.run(run())
    _check_batches(ops, batch_size)
