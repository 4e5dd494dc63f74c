"""A test backend: the memory broker seen through Kafka-like cumulative acks.

The core then runs its commit watermark (``OffsetTracker``): it settles positions
``(partition, next_offset)`` and nacks rewind a partition. This adapter turns those back
into the memory broker's per-message acks, so the whole conformance suite checks the
core's cumulative path (``memoryoffsets://`` in tests/conftest.py).

Partitions: the memory broker shares one log among a group's members and hands nacked
messages to any of them, so offsets seen by one member are not always increasing. A
member's deliveries form a "partition" ``(member, epoch)`` whose epoch moves on whenever
an offset arrives below the last one, so that offsets increase within each partition.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from brokerkit._spec import BackendSpec, ConsumerConfig, ProducerConfig
from brokerkit._types import Capabilities, Delivery, Guarantee
from brokerkit._url import BrokerURL
from brokerkit.backends.memory import CAPABILITIES
from brokerkit.backends.memory import spec as memory_spec
from brokerkit.backends.memory._async.driver import AsyncMemoryConsumer, AsyncMemoryDriver

_members = itertools.count()


class OffsetsConsumer:
    def __init__(self, inner: AsyncMemoryConsumer) -> None:
        self._inner = inner
        self._member = next(_members)
        self._epoch = 0
        self._last = -1
        self._held: dict[Any, list[int]] = {}  # partition -> offsets fetched, not settled

    async def fetch(self, max_messages: int, timeout: float | None) -> list[Delivery]:
        out = []
        for d in await self._inner.fetch(max_messages, timeout):
            if d.token <= self._last:
                self._epoch += 1
            self._last = d.token
            part = (self._member, self._epoch)
            self._held.setdefault(part, []).append(d.token)
            out.append(d._replace(token=(part, d.token)))
        return out

    async def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        done: list[int] = []
        for part, position in acks:  # cumulative: every offset before the position
            held = self._held.get(part, [])
            done += [o for o in held if o < position]
            self._held[part] = [o for o in held if o >= position]
        back: list[tuple[int, float | None]] = []
        for (part, offset), delay in nacks:  # a seek: this offset and the later ones
            held = self._held.get(part, [])
            back += [(o, delay) for o in held if o >= offset]
            self._held[part] = [o for o in held if o < offset]
        await self._inner.settle(done, back, wait)

    async def close(self, timeout: float | None) -> None:
        await self._inner.close(timeout)


class OffsetsDriver(AsyncMemoryDriver):
    async def open_consumer(  # type: ignore[override]
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> OffsetsConsumer:
        if config.guarantee is Guarantee.AT_LEAST_ONCE:
            assert config.offsets is not None, "the core hands its OffsetTracker to the driver"
        return OffsetsConsumer(await super().open_consumer(topic, group, config))

    async def open_producer(self, topic: str, config: ProducerConfig) -> Any:
        return await super().open_producer(topic, config)


def _capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    return CAPABILITIES.replace(cumulative_ack=True)


spec: BackendSpec = dataclasses.replace(
    memory_spec,
    schemes=("memoryoffsets",),
    capabilities=_capabilities,
    async_driver=OffsetsDriver,
    sync_driver=None,
    test_variants={"memoryoffsets": "memoryoffsets://bk-{unique}"},
)
