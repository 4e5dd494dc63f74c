"""The kafka:// driver, async source (the sync twin is generated from this file).

It drives confluent-kafka's *sync* client (librdkafka); its own asyncio classes are not
used (``AIOProducer`` refuses headers and buffers behind our flush; ``AIOConsumer`` runs
every call through a thread pool, which is what this driver does too, but here with one
executor per consumer whose thread also runs the rebalance callbacks):

- producing: ``produce()`` and ``poll(0)`` on the caller's thread (the event loop's in the
  async API): they never block; a full local queue (``BufferError``) means serve delivery
  reports, sleep briefly and retry. A batch's outcomes come from its delivery reports,
  served by ``poll()``; wait() polls on the producer's executor (directly in the sync twin);
- consuming: ``poll()``/``consume()`` on the consumer's single-thread executor (directly in
  the sync twin); synchronous commits and ``close()`` on an executor, bounded by a timeout;
  asynchronous commits and seeks (nack) are non-blocking and run on the caller's thread.

Every client error is mapped in one place, :class:`~.._common.ErrorMapper`.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import length_hint, lt
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ...._acompat import asleep, monotonic
from ...._spec import ConsumerConfig, ProducerConfig
from ...._types import Capabilities, Guarantee, Record, Values
from ...._url import BrokerURL
from ....errors import BrokerError, ClosedError, ConfigurationError, TimeoutError
from .._common import (
    LOG,
    REBALANCING,
    Delivery,
    ErrorMapper,
    base_config,
    bootstrap,
    consumer_config,
    kafka_headers,
    our_headers,
    private_group,
    producer_config,
    topic_config,
)
from .._compat import arun_blocking, arun_bounded, executor

#: A wait without deadline polls in slices this long (so close() is never stuck behind it).
SLICE = 0.2
#: Redelivered (partition, offset) -> delivery count entries kept per consumer.
MAX_COUNTS = 100_000
#: confluent Message methods (typed loosely), to decode a batch a field at a time with map()
_error: Any = Message.error
_partition: Any = Message.partition
_offset: Any = Message.offset
_headers: Any = Message.headers
_value: Any = Message.value
_key: Any = Message.key
_timestamp: Any = Message.timestamp
NONES = itertools.repeat(None)
ONES = itertools.repeat(1)
#: Pause before retrying a produce() refused by a full local queue.
FULL_QUEUE_PAUSE = 0.001


class _Batch:
    """Delivery reports of one published batch, counted by one bound callback (no
    per-message closure). ``report`` may run on two threads (the loop's poll(0) and the
    executor's poll): itertools.count is atomic and list.append too, so none is lost. A
    failed report names its message by value and key; wait() finds its index then."""

    __slots__ = ("_done", "failed", "finished", "records", "refused", "size")

    def __init__(self, records: Sequence[Record]) -> None:
        self.records = records
        size = self.size = len(records)
        self.failed: list[tuple[Any, bytes | None, bytes | None]] = []
        self.refused: dict[int, BaseException] = {}
        self.finished = size == 0
        self._done = itertools.count(1)

    def report(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append((err, msg.value(), msg.key()))
        if next(self._done) == self.size:
            self.finished = True

    def refuse(self, index: int, exc: BaseException) -> None:
        """produce() itself refused record ``index`` (it never left)."""
        self.refused[index] = exc
        if next(self._done) == self.size:
            self.finished = True


class AsyncKafkaProducer:
    def __init__(
        self,
        producer: Any,
        topic: str,
        errors: ErrorMapper,
        acked: bool,
        pool: ThreadPoolExecutor,
        max_bytes: int,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._errors = errors
        self._acked = acked
        self._pool = pool
        self._closed = False
        #: librdkafka's limit (message.max.bytes, which also counts the record's framing):
        #: the core refuses larger values at send() at once.
        self.max_message_bytes = max_bytes

    async def publish(self, records: Sequence[Record], timeout: float | None) -> Any:
        if self._closed:
            raise ClosedError("the Kafka producer is closed")
        produce = self._producer.produce
        topic = self._topic
        batch = _Batch(records) if self._acked else None
        callback = batch.report if batch is not None else None
        deadline = None if timeout is None else monotonic() + timeout
        size = len(records)
        bare = type(records) is Values  # values only: no key, no headers
        # A list iterator either way: length_hint() tells where a refusal happened.
        it: Any = iter(records.values if bare else records)  # type: ignore[attr-defined]
        value: Any = None
        key: Any = None
        hdrs: Any = None
        while True:
            try:
                # The hot loops: positional arguments (partition -1: librdkafka's
                # partitioner) cost ~0.5 us less per call than on_delivery=... as a keyword.
                if bare:
                    for value in it:
                        produce(topic, value, None, -1, callback)
                else:
                    for value, key, headers in it:
                        if headers is None:
                            produce(topic, value, key, -1, callback)
                        else:
                            hdrs = kafka_headers(headers)
                            produce(topic, value, key, headers=hdrs, on_delivery=callback)
                            hdrs = None
                break
            except BufferError:  # the local queue is full: serve reports, retry
                left = length_hint(it)
                refused = await self._retry((topic, value, key), hdrs, callback, deadline, left + 1)
                if refused is not None:
                    self._refused(batch, size - left - 1, refused)
            except KafkaException as exc:  # refused before it left: too large...
                self._refused(batch, size - length_hint(it) - 1, exc)
            hdrs = None
        self._producer.poll(0)
        return batch

    async def _retry(
        self, args: tuple[Any, ...], hdrs: Any, callback: Any, deadline: float | None, left: int
    ) -> KafkaException | None:
        """produce() again until the full local queue takes it (None) or refuses it."""
        while True:
            await self._queue_full(deadline, left)
            try:
                self._producer.produce(*args, headers=hdrs, on_delivery=callback)
                return None
            except BufferError:
                continue
            except KafkaException as exc:
                return exc

    def _refused(self, batch: _Batch | None, index: int, exc: KafkaException) -> None:
        if batch is None:  # at-most-once: nothing reports it later
            with self._errors("send"):
                raise exc
        batch.refuse(index, exc)

    async def _queue_full(self, deadline: float | None, left: int) -> None:
        self._producer.poll(0)
        if deadline is not None and monotonic() >= deadline:
            raise TimeoutError(
                f"the Kafka producer's local queue stayed full: {left} message(s) not handed "
                f"over to Kafka at {self._errors.servers} in time"
            )
        await asleep(FULL_QUEUE_PAUSE)

    async def wait(
        self, handle: Any, timeout: float | None
    ) -> Sequence[BaseException | None] | None:
        if handle is None:
            return None
        batch: _Batch = handle
        poll = self._producer.poll
        deadline = None if timeout is None else monotonic() + timeout
        while not batch.finished:
            poll(0)
            if batch.finished:
                break
            step = SLICE
            if deadline is not None:
                left = deadline - monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"Kafka at {self._errors.servers} did not confirm the messages within "
                        f"{timeout:g} s"
                    )
                step = min(step, left)
            await arun_blocking(self._pool, poll, step)
        if not batch.failed and not batch.refused:
            return None
        return self._outcomes(batch)

    def _outcomes(self, batch: _Batch) -> list[BaseException | None]:
        outcomes: list[BaseException | None] = [None] * batch.size
        for index, exc in batch.refused.items():
            outcomes[index] = self._error(exc)
        if batch.failed:
            # a failed report names its message by value and key: find its record
            where: dict[tuple[Any, Any], list[int]] = {}
            for i, record in enumerate(batch.records):
                if i not in batch.refused:
                    where.setdefault((record[0], record[1]), []).append(i)
            for err, value, key in batch.failed:
                slots = where.get((value, key))
                if slots:
                    index = slots.pop(0)
                else:  # not expected; never let a failure pass for a success
                    index = next((i for i, o in enumerate(outcomes) if o is None), 0)
                outcomes[index] = self._error(err)
        return outcomes

    def _error(self, err: Any) -> BaseException:
        if isinstance(err, KafkaException) and err.args:
            err = err.args[0]
        if isinstance(err, KafkaError):
            return self._errors.error(err, "send")
        return BrokerError(f"send: {err}")

    def _close_now(self, timeout: float) -> None:
        """Flush what is still queued (bounded), drop what the broker did not take by then
        (the core reports those messages as unconfirmed), release the client."""
        producer = self._producer
        if producer.flush(timeout):
            producer.purge()
            producer.poll(0)
        if self._acked:
            # Every message is acknowledged: nothing is in flight. (With acks=0 "delivered"
            # only means written to the socket: closing at once can lose the last ones, so
            # the client is left to the garbage collector, as librdkafka's own examples do.)
            producer.close()

    async def close(self, timeout: float | None) -> None:
        if self._closed:
            return
        self._closed = True
        bound = 30.0 if timeout is None else timeout
        try:
            with self._errors("close"):
                await arun_bounded(self._pool, bound + 5, self._close_now, bound)
        except (builtins.TimeoutError, BrokerError) as exc:
            LOG.warning("closing the producer of %s: %s", self._topic, exc)
        finally:
            self._pool.shutdown(wait=False)


class AsyncKafkaConsumer:
    def __init__(
        self,
        conf: dict[str, Any],
        topic: str,
        errors: ErrorMapper,
        config: ConsumerConfig,
        request_timeout: float,
        counts: tuple[dict[int, int], dict[tuple[int, int], int]],
    ) -> None:
        self._topic = topic
        self._errors = errors
        self._offsets = config.offsets
        self._revoked_hook = config.revoked
        self._just_revoked: set[int] = set()  # revoked during the fetch in progress
        self._at_most_once = config.guarantee is Guarantee.AT_MOST_ONCE
        self._request_timeout = request_timeout
        self._pool = executor("brokerkit-kafka-consumer")
        self._committer = executor("brokerkit-kafka-commit")
        self._assigned: set[int] = set()
        self._rewound: dict[int, int] = {}  # partition -> offset a nack sought back to
        self._joined = False  # the first assignment came (even an empty one)
        self._join_wait = float(conf["session.timeout.ms"]) / 1000
        self._revoked = 0  # bumped by every revocation, so a fetch can tell
        # delivery counts, shared by this process's consumers of the group and topic:
        # partition -> highest offset delivered; redelivered (partition, offset) -> count
        self._highest, self._counts = counts
        self._closing = False
        self._using = threading.Lock()
        self.group_id = conf["group.id"]
        conf = dict(conf)
        conf["on_commit"] = self._on_commit
        with errors("consumer"):
            try:
                self._consumer = Consumer(conf)
            except (TypeError, ValueError) as exc:
                raise errors.error(
                    KafkaError(KafkaError._INVALID_ARG, str(exc)), "consumer"
                ) from exc

    def subscribe(self) -> None:
        with self._errors("subscribe"):
            self._consumer.subscribe(
                [self._topic],
                on_assign=self._on_assign,
                on_revoke=self._on_revoke,
                on_lost=self._on_lost,
            )

    # -- rebalance callbacks: they run inside poll()/consume()/close(), on that thread

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        self._joined = True
        self._assigned.update(tp.partition for tp in partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """The core forgets the partitions (and drops what it fetched of them but did not
        hand out); commit the positions it returns, the first message not acked of each,
        before the partitions go: the next owner resumes there."""
        revoked = {tp.partition for tp in partitions}
        positions = self._release(revoked)
        if positions and not self._at_most_once:
            commit = [TopicPartition(self._topic, p, o) for p, o in positions.items()]
            try:
                consumer.commit(offsets=commit, asynchronous=False)
            except KafkaException as exc:
                LOG.warning("commit on revocation of %s failed: %s", self._topic, exc)
        self._forget(revoked)

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        """Partitions lost (the group went on without this member): too late to commit."""
        revoked = {tp.partition for tp in partitions}
        self._release(revoked)
        self._forget(revoked)

    def _release(self, revoked: set[int]) -> Mapping[Any, int]:
        if self._revoked_hook is not None:
            return self._revoked_hook(revoked)
        if self._offsets is not None:  # no core (a driver opened on its own, in tests)
            return dict(self._offsets.release(revoked))
        return {}

    def _forget(self, revoked: set[int]) -> None:
        self._assigned.difference_update(revoked)
        self._just_revoked.update(revoked)
        for p in revoked:
            self._rewound.pop(p, None)
        self._revoked += 1

    def _on_commit(self, err: Any, partitions: Any) -> None:
        if err is not None and err.code() not in REBALANCING:
            LOG.warning("asynchronous commit on %s failed: %s", self._topic, self._errors.text(err))

    # -- fetching

    def _take(self, max_messages: int, timeout: float | None) -> list[Any]:
        """Runs on the consumer's executor (the caller's thread in the sync twin): wait for
        the first message (``poll``), then take what else is there at once
        (``consume(n, 0)``: consume() alone would wait out its timeout for a full batch).
        Holds ``_using`` so that close() never destroys the client under it."""
        with self._using:
            if self._closing:
                return []
            return self._take_now(max_messages, timeout)

    def _take_now(self, max_messages: int, timeout: float | None) -> list[Any]:
        consumer = self._consumer
        revoked = self._revoked
        deadline = None if timeout is None else monotonic() + timeout
        first = None
        while first is None and not self._closing:
            step = SLICE if deadline is None else min(SLICE, max(0.0, deadline - monotonic()))
            first = consumer.poll(step)
            if deadline is not None and monotonic() >= deadline:
                break
        if first is None:
            return []
        msgs = [first]
        if max_messages > 1:
            self._just_revoked = set()
            msgs.extend(consumer.consume(max_messages - 1, 0))
            if first.error() is None and first.partition() in self._just_revoked:
                # revoked while consume() ran: ``first`` came before, so it is stale even
                # if the partition came back (it is fetched again from the committed offset)
                del msgs[0]
        if self._revoked != revoked:  # a rebalance while fetching: keep what is still ours
            msgs = [m for m in msgs if m.error() is not None or m.partition() in self._assigned]
        if self._at_most_once and msgs:
            self._commit_taken(msgs)
        return msgs

    def _commit_taken(self, msgs: list[Any]) -> None:
        last: dict[int, int] = {}
        for m in msgs:
            if m.error() is None:
                last[m.partition()] = m.offset() + 1
        if last:
            self._consumer.commit(
                offsets=[TopicPartition(self._topic, p, o) for p, o in last.items()],
                asynchronous=False,
            )

    async def fetch(self, max_messages: int, timeout: float | None) -> list[Delivery]:
        if self._closing:
            raise ClosedError("the Kafka consumer is closed")
        with self._errors("receive"):
            msgs = await arun_blocking(self._pool, self._take, max_messages, timeout)
        return self._deliveries(msgs)

    def _deliveries(self, msgs: list[Any]) -> list[Any]:
        """Deliveries as plain tuples in :class:`Delivery`'s order (see there). The usual
        batch (no errors, one partition, new offsets in order: all first deliveries) is
        decoded a field at a time with ``map``, so no Python bytecode runs per message but
        the timestamps'; anything else goes message by message."""
        if not msgs:
            return []
        if any(map(_error, msgs)):
            return self._deliveries_each(msgs)
        parts = list(map(_partition, msgs))
        part = parts[0]
        if parts.count(part) != len(parts) or part in self._rewound:
            return self._deliveries_each(msgs)
        offsets = list(map(_offset, msgs))
        if offsets[0] <= self._highest.get(part, -1) or not all(
            map(lt, offsets, itertools.islice(offsets, 1, None))
        ):
            return self._deliveries_each(msgs)
        self._highest[part] = offsets[-1]
        hdrs = list(map(_headers, msgs))
        headers: Any = [our_headers(h) if h else None for h in hdrs] if any(hdrs) else NONES
        values = list(map(_value, msgs))
        if None in values:
            values = [v or b"" for v in values]
        stamps = [s / 1000 if k else None for k, s in map(_timestamp, msgs)]
        return list(
            zip(
                zip(itertools.repeat(part), offsets),
                map(f"{part}:".__add__, map(str, offsets)),
                values,
                map(_key, msgs),
                headers,
                stamps,
                ONES,
                strict=False,
            )
        )

    def _deliveries_each(self, msgs: list[Any]) -> list[Any]:
        out: list[Any] = []
        highest = self._highest
        counts = self._counts
        rewound = self._rewound
        for m in msgs:
            err = m.error()
            if err is not None:
                self._fetch_error(err)
                continue
            part = m.partition()
            offset = m.offset()
            if rewound and part in rewound:
                # nacked: the partition was sought back to rewound[part]; what a fetch
                # started before the seek brought is stale (it comes again): the core's
                # offset watermark must see every partition's offsets in order
                if offset != rewound[part]:
                    continue
                del rewound[part]
            if offset > highest.get(part, -1):
                highest[part] = offset
                count = 1
            else:
                count = counts.get((part, offset), 1) + 1
                counts[(part, offset)] = count
                if len(counts) > MAX_COUNTS:
                    del counts[next(iter(counts))]
            hdrs = m.headers()
            kind, stamp = m.timestamp()
            out.append(
                (
                    (part, offset),
                    f"{part}:{offset}",
                    m.value() or b"",
                    m.key(),
                    our_headers(hdrs) if hdrs else None,
                    stamp / 1000 if kind else None,
                    count,
                )
            )
        return out

    def _fetch_error(self, err: Any) -> None:
        if err.fatal() or err.code() in (
            KafkaError._AUTHENTICATION,
            KafkaError.TOPIC_AUTHORIZATION_FAILED,
        ):
            raise self._errors.error(err, "receive")
        LOG.debug("consumer of %s: %s", self._topic, self._errors.text(err))

    # -- settling

    def _commit_sync(self, offsets: list[Any]) -> None:
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if isinstance(err, KafkaError) and err.code() in REBALANCING:
                LOG.info("commit on %s skipped (rebalance): %s", self._topic, err)
                return
            raise

    async def settle(
        self, acks: Sequence[Any], nacks: Sequence[tuple[Any, float | None]], wait: bool
    ) -> None:
        if self._closing and not acks:
            return
        consumer = self._consumer
        topic = self._topic
        if nacks:
            rewind: dict[int, int] = {}
            for (part, offset), _delay in nacks:
                if offset < rewind.get(part, offset + 1):
                    rewind[part] = offset
            for part, offset in rewind.items():
                if part in self._assigned:
                    self._rewound[part] = offset
                    try:
                        consumer.seek(TopicPartition(topic, part, offset))
                    except KafkaException as exc:  # not fetching yet: it comes again anyway
                        LOG.debug("seek %s[%d]@%d: %s", topic, part, offset, exc)
        if not acks:
            return
        assigned = self._assigned
        offsets = [TopicPartition(topic, p, o) for p, o in acks if p in assigned]
        if not offsets:
            return
        with self._errors("commit"):
            if not wait:
                consumer.commit(offsets=offsets, asynchronous=True)
                return
            try:
                await arun_bounded(
                    self._committer, self._request_timeout * 2, self._commit_sync, offsets
                )
            except builtins.TimeoutError as exc:  # from the executor
                raise self._errors.error(
                    KafkaError(KafkaError._TIMED_OUT, "commit not confirmed"), "commit"
                ) from exc

    def _close_now(self) -> None:
        """Leave the group and release the client, once no fetch (another thread's, in
        the sync API: it ends within a poll slice) and no synchronous commit uses it."""
        self._committer.shutdown(wait=True)
        with self._using:
            consumer = self._consumer
            if not self._joined:
                # A member that leaves while its first JoinGroup is pending can leave the
                # group stuck on some brokers (seen with Tansu: the next member is never
                # assigned anything). Let the join finish first (bounded); whatever this
                # polls is not handed out nor committed: it comes again to the group.
                deadline = monotonic() + self._join_wait
                while not self._joined and monotonic() < deadline:
                    consumer.poll(0.05)
            consumer.close()

    async def close(self, timeout: float | None) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            with self._errors("close"):
                await arun_bounded(self._pool, timeout, self._close_now)
        except (builtins.TimeoutError, BrokerError) as exc:
            LOG.warning("closing the consumer of %s: %s", self._topic, exc)
        finally:
            self._pool.shutdown(wait=False)
            self._committer.shutdown(wait=False)


class AsyncKafkaDriver:
    """One admin client per broker (metadata, topic creation); a librdkafka producer per
    brokerkit producer, a librdkafka consumer per brokerkit consumer."""

    def __init__(
        self, url: BrokerURL, options: Mapping[str, Any], capabilities: Capabilities
    ) -> None:
        self._url = url
        self._options = options
        self._errors = ErrorMapper(bootstrap(url), url.password)
        self._base = base_config(url, options, self._errors)
        if not isinstance(options.get("topic_config") or {}, Mapping):
            raise ConfigurationError(
                "option 'topic_config' takes a mapping of topic configs, e.g. "
                f"{{'retention.ms': '86400000'}}, got {type(options['topic_config']).__name__}"
            )
        self._admin: Any = None
        self._pool = executor("brokerkit-kafka-admin")
        self._topics: set[str] = set()
        self._private: list[str] = []
        self._counts: dict[tuple[str, str], tuple[dict[int, int], dict[tuple[int, int], int]]] = {}

    def _new_admin(self) -> Any:
        with self._errors("connect"):
            try:
                return AdminClient(dict(self._base))
            except (TypeError, ValueError) as exc:
                raise self._errors.error(
                    KafkaError(KafkaError._INVALID_ARG, str(exc)), "client_options"
                ) from exc

    async def connect(self, timeout: float) -> None:
        admin = self._new_admin()
        try:
            await arun_bounded(self._pool, timeout + 1, admin.list_topics, None, timeout)
        except KafkaException as exc:
            admin.poll(0)  # serve error_cb: it may say why (a refused login...)
            raise self._errors.connect_error(exc, timeout) from exc
        except builtins.TimeoutError as exc:
            raise self._errors.connect_error(None, timeout) from exc
        self._admin = admin
        LOG.info("connected to Kafka at %s", self._errors.servers)

    def _live(self) -> Any:
        if self._admin is None:
            raise ClosedError("the Kafka connection is closed")
        return self._admin

    def _create_topic(self, topic: str) -> None:
        """Runs on the admin executor: create ``topic`` unless it exists (one CreateTopics
        request; a metadata request for it could make the broker auto-create it with
        its own defaults instead)."""
        opts = self._options
        timeout = float(opts["request_timeout"])
        new = NewTopic(
            topic,
            num_partitions=opts["partitions"],
            replication_factor=opts["replication_factor"] or -1,
            config=topic_config(opts),
        )
        future = self._live().create_topics([new], request_timeout=timeout)[topic]
        try:
            future.result(timeout)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise

    async def _ensure_topic(self, topic: str) -> None:
        if topic in self._topics or not self._options["create_topics"]:
            return
        timeout = float(self._options["request_timeout"]) * 2
        with self._errors(f"topic {topic!r}"):
            try:
                await arun_bounded(self._pool, timeout, self._create_topic, topic)
            except builtins.TimeoutError as exc:
                raise self._errors.connect_error(None, timeout) from exc
        self._topics.add(topic)

    async def open_producer(self, topic: str, config: ProducerConfig) -> AsyncKafkaProducer:
        self._live()
        await self._ensure_topic(topic)
        conf = producer_config(self._base, self._options, config.guarantee)
        with self._errors("producer"):
            try:
                producer = Producer(conf)
            except (TypeError, ValueError) as exc:
                raise self._errors.error(
                    KafkaError(KafkaError._INVALID_ARG, str(exc)), "producer"
                ) from exc
        acked = config.guarantee is not Guarantee.AT_MOST_ONCE
        max_bytes = int(conf["message.max.bytes"])
        return AsyncKafkaProducer(
            producer, topic, self._errors, acked, executor("brokerkit-kafka-producer"), max_bytes
        )

    async def open_consumer(
        self, topic: str, group: str | None, config: ConsumerConfig
    ) -> AsyncKafkaConsumer:
        self._live()
        await self._ensure_topic(topic)
        group_id = group if group is not None else private_group()
        conf = consumer_config(self._base, self._options, group_id, config)
        counts = self._counts.get((group_id, topic))
        if counts is None:
            counts = self._counts[(group_id, topic)] = ({}, {})
        consumer = AsyncKafkaConsumer(
            conf, topic, self._errors, config, float(self._options["request_timeout"]), counts
        )
        consumer.subscribe()
        if group is None:
            self._private.append(group_id)
        return consumer

    def _delete_groups(self, groups: list[str]) -> None:
        admin = self._admin
        for future in admin.delete_consumer_groups(groups, request_timeout=5).values():
            with contextlib.suppress(Exception):
                future.result(5)

    async def close(self) -> None:
        if self._admin is None:
            return
        LOG.info("closing the connection to Kafka at %s", self._errors.servers)
        if self._private:
            try:
                await arun_bounded(self._pool, 10, self._delete_groups, self._private)
            except Exception as exc:
                LOG.warning(
                    "closing the connection to Kafka at %s: deleting the private groups failed: %s",
                    self._errors.servers,
                    exc,
                )
        self._admin = None
        self._pool.shutdown(wait=False)
