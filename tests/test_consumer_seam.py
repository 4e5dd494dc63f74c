"""What the core hands a consumer driver: one settle() per batch, acks and nacks together,
and on close the prefetched messages the application never saw, nacked at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import brokerkit
from brokerkit._spec import BackendSpec, ConsumerConfig
from brokerkit.backends.memory import spec as memory_spec
from brokerkit.backends.memory._async.driver import AsyncMemoryDriver

pytestmark = pytest.mark.memory

CALLS: list[tuple[str, Any]] = []


class RecordingConsumer:
    def __init__(self, inner: Any, config: ConsumerConfig) -> None:
        self._inner = inner
        CALLS.append(("open", config))

    async def fetch(self, max_messages: int, timeout: float | None) -> Any:
        out = await self._inner.fetch(max_messages, timeout)
        if out:
            CALLS.append(("fetch", len(out)))
        return out

    async def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        CALLS.append(("settle", (list(acks), list(nacks), wait)))
        await self._inner.settle(acks, nacks, wait)

    async def close(self, timeout: float | None) -> None:
        CALLS.append(("close", None))
        await self._inner.close(timeout)


class RecordingDriver(AsyncMemoryDriver):
    async def open_consumer(  # type: ignore[override]
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> RecordingConsumer:
        return RecordingConsumer(await super().open_consumer(topic, group, config), config)


SPEC: BackendSpec = dataclasses.replace(
    memory_spec,
    schemes=("memoryrec",),
    async_driver=RecordingDriver,
    sync_driver=None,
    test_variants={},
)


@pytest.fixture(autouse=True)
def _memoryrec() -> Iterator[None]:
    brokerkit.register_backend("memoryrec", SPEC, replace=True)
    CALLS.clear()
    yield
    brokerkit.unregister_backend("memoryrec")


def _settles() -> list[tuple[list[Any], list[tuple[Any, float | None]], bool]]:
    return [args for kind, args in CALLS if kind == "settle"]


async def test_close_nacks_the_prefetched_messages_in_its_last_settle() -> None:
    async with brokerkit.connect_async("memoryrec://close") as b:
        consumer = await b.consumer("t", group="g", prefetch=10, commit="async")
        async with b.producer("t") as producer:
            await producer.send_many([b"m%d" % i for i in range(10)])
        first = await consumer.receive(timeout=5)
        second = await consumer.receive(timeout=5)
        assert first is not None
        assert second is not None
        await first.ack()  # pending (ASYNC, coalesced)
        # second: held unacked by the application; 8 more wait in the buffer
        await consumer.close()
        # The first fetch takes one message (prefetch_bytes: sizes unknown), the next
        # the rest of prefetch=10.
        assert [n for kind, n in CALLS if kind == "fetch"] == [1, 9]
        [(acks, nacks, wait)] = _settles()  # one call: the acks and the nacks together
        assert len(acks) == 1
        assert len(nacks) == 8
        assert all(delay is None for _, delay in nacks)
        assert wait is True
        assert CALLS[-1] == ("close", None)  # then the driver hands back the held one
        other = await b.consumer("t", group="g")
        again = await other.receive_many(max_messages=20, timeout=1)
        assert sorted(m.value for m in again) == [b"m%d" % i for i in range(1, 10)]
        assert {m.value: m.delivery_count for m in again}[b"m2"] == 2  # it was fetched once
        await other.close()


async def test_a_nack_settles_pending_acks_in_the_same_call() -> None:
    async with (
        brokerkit.connect_async("memoryrec://nack") as b,
        b.consumer("t", group="g", commit="async") as consumer,
    ):
        async with b.producer("t") as producer:
            await producer.send_many([b"a", b"b"])
        a, b_ = await consumer.receive_many(max_messages=2, timeout=5)
        await a.ack()
        await b_.nack(delay=0.01)
        [(acks, nacks, wait)] = _settles()
        assert (len(acks), len(nacks), wait) == (1, 1, True)
        assert nacks[0][1] == 0.01


async def test_the_consumer_config_carries_the_dead_letter_settings() -> None:
    async with (
        brokerkit.connect_async("memoryrec://config") as b,
        b.consumer("t", group="g", max_deliveries=3, dead_letter_topic="dl"),
    ):
        pass
    [config] = [args for kind, args in CALLS if kind == "open"]
    assert config.max_deliveries == 3
    assert config.dead_letter_topic == "dl"
    assert config.offsets is None  # per-message acks: no watermark
