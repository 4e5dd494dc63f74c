"""The kafka:// baseline: confluent-kafka (librdkafka) used directly, as its guide shows.

Producing: ``produce()`` with a delivery callback per message (``acks=all`` with
idempotence, or ``acks=0`` for at-most-once), ``poll(0)`` after each batch, a full local
queue served with ``poll()``; ``flush()`` once at the end, then every delivery report is
checked. Consuming: ``poll(timeout)`` for the first message and ``consume(n, 0)`` for the
rest of the batch (``consume(n, timeout)`` alone waits out its timeout for a full batch),
then one synchronous ``commit()`` of the batch's offsets per batch (at-least-once), or the
commit before the messages are counted (at-most-once). Both use the same librdkafka
settings as brokerkit for the URL (linger, fetch wait, session timeout, partitions of a
new topic), so the ratio measures brokerkit's own cost. The async session runs the
blocking consume on a worker thread (``run_in_executor``), as an asyncio application of
the sync client would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from brokerkit._options import COMMON_OPTIONS
from brokerkit._types import Guarantee
from brokerkit._url import make_url
from brokerkit.backends.kafka import spec
from brokerkit.backends.kafka._common import (
    ErrorMapper,
    base_config,
    bootstrap,
    consumer_config,
    producer_config,
)
from brokerkit.errors import DeliveryError

from ..._spec import ConsumerConfig
from ..targets import GROUP, Setup

__all__ = ["BASELINE"]


class _Config:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.options: Mapping[str, Any] = COMMON_OPTIONS.extend(*spec.options).resolve(
            parsed.query_dict, {}, context="kafka baseline"
        )
        self.base: dict[str, Any] = base_config(
            parsed, self.options, ErrorMapper(bootstrap(parsed), None)
        )

    def create(self, topic: str) -> None:
        admin = AdminClient(dict(self.base))
        new = NewTopic(
            topic,
            num_partitions=self.options["partitions"],
            replication_factor=self.options["replication_factor"] or -1,
        )
        try:
            admin.create_topics([new])[topic].result(30)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


class _Sender:
    def __init__(self, config: _Config, topic: str, guarantee: Guarantee) -> None:
        conf = producer_config(config.base, config.options, guarantee)
        self._producer = Producer(conf)
        self._topic = topic
        self._acked = guarantee is Guarantee.AT_LEAST_ONCE
        self._failed: list[Any] = []

    def _report(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed.append(err)

    def send_now(self, values: list[bytes], keys: list[bytes] | None) -> None:
        produce = self._producer.produce
        topic = self._topic
        callback = self._report if self._acked else None
        for i, value in enumerate(values):
            key = keys[i] if keys is not None else None
            while True:
                try:
                    produce(topic, value, key, on_delivery=callback)
                    break
                except BufferError:
                    self._producer.poll(0.001)
        self._producer.poll(0)

    def flush_now(self) -> None:
        self._producer.flush(60)
        if self._failed:
            raise DeliveryError(f"{len(self._failed)} message(s) failed: {self._failed[0]}")


class _Receiver:
    def __init__(self, config: _Config, topic: str, guarantee: Guarantee) -> None:
        conf = consumer_config(config.base, config.options, GROUP, ConsumerConfig())
        self._consumer = Consumer(conf)
        self._consumer.subscribe([topic])
        self._topic = topic
        self._at_most_once = guarantee is Guarantee.AT_MOST_ONCE
        self._last: dict[int, int] = {}

    def receive_now(self, max_messages: int, timeout: float) -> list[bytes]:
        consumer = self._consumer
        first = consumer.poll(timeout)
        if first is None:
            return []
        msgs = [first]
        if max_messages > 1:
            msgs.extend(consumer.consume(max_messages - 1, 0))
        out: list[bytes] = []
        last = self._last
        m: Any
        for m in msgs:
            if m.error() is None:
                out.append(m.value())
                last[m.partition()] = m.offset() + 1
        if self._at_most_once:
            self.ack_now()
        return out

    def ack_now(self) -> None:
        if self._last:
            offsets = [TopicPartition(self._topic, p, o) for p, o in self._last.items()]
            self._last = {}
            self._consumer.commit(offsets=offsets, asynchronous=False)

    def close_now(self) -> None:
        self._consumer.close()


class SyncSender:
    def __init__(self, sender: _Sender) -> None:
        self._s = sender

    def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        self._s.send_now(values, keys)

    def flush(self) -> None:
        self._s.flush_now()

    def close(self) -> None:
        self._s.flush_now()


class SyncReceiver:
    def __init__(self, receiver: _Receiver) -> None:
        self._r = receiver

    def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        return self._r.receive_now(max_messages, timeout)

    def ack(self) -> None:
        if not self._r._at_most_once:
            self._r.ack_now()

    def close(self) -> None:
        self._r.close_now()


class AsyncSender:
    def __init__(self, sender: _Sender) -> None:
        self._s = sender

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        self._s.send_now(values, keys)

    async def flush(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._s.flush_now)

    async def close(self) -> None:
        await self.flush()


class AsyncReceiver:
    def __init__(self, receiver: _Receiver) -> None:
        self._r = receiver

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._r.receive_now, max_messages, timeout)

    async def ack(self) -> None:
        if not self._r._at_most_once:
            await asyncio.get_running_loop().run_in_executor(None, self._r.ack_now)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._r.close_now)


class SyncKafkaSession:
    def __init__(self, setup: Setup) -> None:
        self._config = _Config(setup.url)
        self._guarantee: Any = Guarantee.parse(setup.workload.guarantee, "guarantee")
        self._receivers: list[_Receiver] = []

    def sender(self, topic: str) -> SyncSender:
        self._config.create(topic)
        return SyncSender(_Sender(self._config, topic, self._guarantee))

    def receiver(self, topic: str) -> SyncReceiver:
        self._config.create(topic)
        receiver = _Receiver(self._config, topic, self._guarantee)
        self._receivers.append(receiver)
        return SyncReceiver(receiver)

    def close(self) -> None:
        return None


class AsyncKafkaSession:
    def __init__(self, setup: Setup) -> None:
        self._sync = SyncKafkaSession(setup)

    async def sender(self, topic: str) -> AsyncSender:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._sync._config.create, topic)
        return AsyncSender(_Sender(self._sync._config, topic, self._sync._guarantee))

    async def receiver(self, topic: str) -> AsyncReceiver:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._sync._config.create, topic)
        return AsyncReceiver(_Receiver(self._sync._config, topic, self._sync._guarantee))

    async def close(self) -> None:
        return None


class KafkaBaseline:
    name = "raw"

    async def open_async(self, setup: Setup) -> AsyncKafkaSession:
        return AsyncKafkaSession(setup)

    def open_sync(self, setup: Setup) -> SyncKafkaSession:
        return SyncKafkaSession(setup)

    def cleanup(self, url: str, topics: list[str]) -> None:
        if not topics:
            return
        config = _Config(url)
        admin = AdminClient(dict(config.base))
        for future in admin.delete_topics(topics, operation_timeout=10).values():
            with contextlib.suppress(KafkaException):
                future.result(30)

    def versions(self, url: str) -> dict[str, str]:
        return {
            "confluent-kafka": confluent_kafka.version()[0],
            "librdkafka": confluent_kafka.libversion()[0],
        }


BASELINE = KafkaBaseline()
