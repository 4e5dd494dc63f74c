"""memory:// behaviour that is not portable: what the in-process log keeps."""

from __future__ import annotations

import logging
import uuid

import pytest

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
        rest: list[brokerkit.Message] = []
        while batch := b.receive_many(100, timeout=0.2):  # b's first fetch takes one
            rest.extend(batch)
        assert len(rest) >= 17
        assert {m.key for m in rest}.isdisjoint({held.key})
        a.close()
        b.close()


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("memory://user:pw@name:1234/x/y", "credentials"),
        ("memory://name:1234", "a port"),
        ("memory://name/x", "a path"),
        ("memory://a,b", "several hosts"),
        ("memory://user@name", "credentials"),
    ],
)
def test_memory_urls_take_a_name_only(url: str, what: str) -> None:
    """``memory://user:pw@name:1234/x/y`` used to be accepted (everything but the name
    silently ignored): it is a ConfigurationError saying what is accepted, sync and async,
    without the password."""
    with pytest.raises(brokerkit.ConfigurationError) as info:
        brokerkit.connect(url)
    message = str(info.value)
    assert what in message
    assert "memory://name" in message
    assert "pw" not in message.replace("password", "")
    assert info.value.url is not None
    assert "pw" not in info.value.url
    with pytest.raises(brokerkit.ConfigurationError, match="broker name only"):
        brokerkit.connect_async(url)


@pytest.mark.parametrize("url", ["memory://", "memory://orders", "memory://orders?close_timeout=1"])
def test_memory_urls_with_a_name_or_none_are_accepted(url: str) -> None:
    with brokerkit.connect(url) as broker:
        assert broker.url.scheme == "memory"


def test_a_topic_without_subscriber_drops_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """memory:// keeps messages only for groups that exist: sending to a topic nobody
    subscribes to drops them, and says so once at INFO (again after subscribers came
    and went), not once per message."""
    caplog.set_level(logging.DEBUG, logger="brokerkit")
    with brokerkit.connect(f"memory://{_name()}") as broker:
        with broker.producer("nobody") as producer:
            producer.send(b"1")
            producer.send_many([b"2", b"3"])
            producer.send(b"4")
        said = [r for r in caplog.records if "no subscriber" in r.getMessage()]
        assert len(said) == 1
        assert said[0].levelno == logging.INFO
        assert "'nobody'" in said[0].getMessage()
        with broker.consumer("nobody", group="g") as consumer:
            with broker.producer("nobody") as producer:
                producer.send(b"5")
            got = consumer.receive(timeout=1.0)
            assert got is not None
            assert got.value == b"5"
            got.ack()
            assert consumer.receive(timeout=0.1) is None
        assert len([r for r in caplog.records if "no subscriber" in r.getMessage()]) == 1


def test_connect_without_url_falls_back_to_memory_and_says_so_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No URL and no $BROKERKIT_URL: memory://, said once per process at INFO."""
    import brokerkit._api as api

    monkeypatch.delenv("BROKERKIT_URL", raising=False)
    monkeypatch.setattr(api, "_said_default", False)
    caplog.set_level(logging.INFO, logger="brokerkit")
    with brokerkit.connect() as broker:
        assert broker.url.scheme == "memory"
    with brokerkit.connect():
        pass
    said = [r for r in caplog.records if "BROKERKIT_URL" in r.getMessage()]
    assert len(said) == 1
    assert said[0].levelno == logging.INFO
    assert "memory://" in said[0].getMessage()
    monkeypatch.setenv("BROKERKIT_URL", "memory://from-env")
    monkeypatch.setattr(api, "_said_default", False)
    caplog.clear()
    with brokerkit.connect() as broker:
        assert broker.url.host == "from-env"
    assert not [r for r in caplog.records if "BROKERKIT_URL" in r.getMessage()]


def test_the_first_fetch_takes_one_message_until_sizes_are_known() -> None:
    """prefetch_bytes bounds every fetch, the first one too: before a batch showed how
    large the messages are, a consumer fetches one (it used to fetch `prefetch`)."""
    big = b"q" * 1_000_000
    with brokerkit.connect(f"memory://{_name()}") as broker:
        a = broker.consumer("t", group="g", prefetch_bytes=2_000_000)
        b = broker.consumer("t", group="g")
        with broker.producer("t") as producer:
            producer.send_many([(big, str(i)) for i in range(10)])
        first = a.receive(timeout=1.0)
        assert first is not None
        others = []
        while batch := b.receive_many(100, timeout=0.2):
            others.extend(batch)
        assert len(others) == 9, "a's first fetch took more than one 1 MB message"
        a.close()
        b.close()
