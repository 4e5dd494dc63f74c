"""memory:// behaviour that is not portable: what the in-process log keeps."""

from __future__ import annotations

import uuid

import brokerkit
from brokerkit.backends.memory._store import _TRIM_BYTES, get_broker


def _name() -> str:
    return f"bk-mem-{uuid.uuid4().hex[:8]}"


def test_consumed_large_messages_are_released() -> None:
    name = _name()
    big = b"x" * 65536
    rounds = 4 * _TRIM_BYTES // len(big)
    with brokerkit.connect(f"memory://{name}") as broker:
        with (
            broker.consumer("t", group="g", commit="sync") as consumer,
            broker.producer("t") as producer,
        ):
            for _ in range(rounds):
                producer.send_many([big] * 4)
                for message in consumer.receive_many(4, timeout=1.0):
                    message.ack()
        topic = get_broker(name).topics["t"]
        kept = sum(len(entry[0]) for entry in topic.log)
        # What every group acked is dropped once a trim threshold is passed, so the log
        # holds about one threshold's worth of payload, not everything ever sent.
        assert kept <= 2 * _TRIM_BYTES
        assert topic.end == rounds * 4


def test_unacked_messages_are_kept_through_trims() -> None:
    name = _name()
    big = b"y" * 65536
    count = 3 * _TRIM_BYTES // len(big)
    with brokerkit.connect(f"memory://{name}") as broker:
        slow = broker.consumer("t", group="slow")
        fast = broker.consumer("t", group="fast")
        with broker.producer("t") as producer:
            for i in range(count):
                producer.send(big, key=str(i))
                for message in fast.receive_many(10, timeout=0):
                    message.ack()
        # The slow group has not read anything: every message must still be there for it.
        got: list[brokerkit.Message] = []
        while len(got) < count:
            batch = slow.receive_many(100, timeout=1.0)
            assert batch, f"slow group got only {len(got)} of {count}"
            got.extend(batch)
        assert [m.key for m in got] == [str(i).encode() for i in range(count)]
        slow.close()
        fast.close()


def test_prefetch_bytes_bounds_what_a_member_holds_ahead() -> None:
    big = b"z" * 100_000
    with brokerkit.connect(f"memory://{_name()}") as broker:
        a = broker.consumer("t", group="g", prefetch_bytes=250_000)
        b = broker.consumer("t", group="g")
        with broker.producer("t") as producer:
            producer.send(big)
            first = a.receive(timeout=1.0)  # a learns the message size from this batch
            assert first is not None
            first.ack()
            producer.send_many([(big, str(i)) for i in range(20)])
        held = a.receive(timeout=1.0)
        assert held is not None
        # a fetched about 2 * 250 kB of them ahead, not its default prefetch of 256
        rest = b.receive_many(100, timeout=1.0)
        assert len(rest) >= 17
        assert {m.key for m in rest}.isdisjoint({held.key})
        a.close()
        b.close()
