"""brokerkit.backends.toolkit: the helpers every backend would otherwise write again."""

from __future__ import annotations

import time

import pytest

import brokerkit
from brokerkit.backends import toolkit
from brokerkit.backends.toolkit import DelayScheduler, aretry, delivery_error, map_errors, retry


def test_delay_scheduler_hands_back_what_is_due_in_due_order() -> None:
    s = DelayScheduler()
    assert s.next_due() is None
    s.add([b"a", b"b"], 2.0, now=10.0)
    s.add([b"c"], 1.0, now=10.0)
    s.add([], 0.5, now=10.0)  # nothing to schedule
    assert len(s) == 3
    assert s.next_due() == 11.0
    assert s.pop_due(10.5) == []
    assert s.pop_due(11.0) == [b"c"]
    assert s.next_due() == 12.0
    assert s.pop_due(99.0) == [b"a", b"b"]
    assert len(s) == 0


def test_delay_scheduler_drains_everything_on_close() -> None:
    s = DelayScheduler()
    s.add([{"unorderable": 1}], 5.0, now=0.0)  # tokens are never compared
    s.add([{"unorderable": 2}], 5.0, now=0.0)
    assert s.drain() == [{"unorderable": 1}, {"unorderable": 2}]
    assert len(s) == 0
    assert s.next_due() is None


def test_retry_returns_once_the_call_succeeds() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "up"

    assert retry(flaky, timeout=5, retry_on=ConnectionError, base=0.001) == "up"
    assert len(calls) == 3


def test_retry_gives_up_at_its_deadline_with_the_last_error() -> None:
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="still down"):
        retry(_always_down, timeout=0.2, retry_on=ConnectionError, base=0.01, cap=0.05)
    assert time.monotonic() - started < 5  # bounded (generous: a busy machine)


def test_retry_does_not_retry_other_errors() -> None:
    def bad() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        retry(bad, timeout=5, retry_on=ConnectionError)


async def test_aretry_retries_a_coroutine_function() -> None:
    calls = []

    async def flaky() -> int:
        calls.append(1)
        if len(calls) < 2:
            raise ConnectionError("down")
        return 42

    assert await aretry(flaky, timeout=5, retry_on=ConnectionError, base=0.001) == 42

    async def down() -> None:
        raise ConnectionError("still down")

    with pytest.raises(ConnectionError):
        await aretry(down, timeout=0.1, retry_on=ConnectionError, base=0.01)


def _always_down() -> None:
    raise ConnectionError("still down")


def test_map_errors_scrubs_passwords_and_chains_the_cause() -> None:
    class ClientDown(Exception):
        pass

    table = [
        (
            ClientDown,
            lambda exc: brokerkit.BrokerConnectionError(f"cannot reach the broker: {exc}"),
        )
    ]
    with pytest.raises(brokerkit.BrokerConnectionError) as info, map_errors(table, secrets=["s3"]):
        raise ClientDown("amqp://app:hunter2@h:5672 refused (token s3)")
    assert "hunter2" not in str(info.value)
    assert "s3" not in str(info.value)
    assert isinstance(info.value.__cause__, ClientDown)


def test_delivery_error_from_outcomes() -> None:
    records = [(b"ok", None, None), (b"bad", b"k", None), (b"worse", None, None)]
    assert delivery_error(records, None, backend="toy") is None
    assert delivery_error(records, [None, None, None], backend="toy") is None
    err = delivery_error(
        records,
        [None, brokerkit.DeliveryError("too large"), brokerkit.DeliveryError("")],
        backend="toy",
        where="h:1",
    )
    assert isinstance(err, brokerkit.DeliveryError)
    assert str(err) == "toy at h:1 refused 2 of 3 messages: too large"
    assert err.failures == [(b"bad", "too large"), (b"worse", "DeliveryError")]
    assert err.backend == "toy"
    with pytest.raises(ValueError, match="2 entries for a batch of 3"):
        delivery_error(records, [None, None], backend="toy")


def test_the_toolkit_exports_the_seam() -> None:
    from brokerkit import backends

    for name in ("AsyncProducerDriver", "AsyncConsumerDriver", "Delivery", "Outcomes"):
        assert name in toolkit.__all__
        assert getattr(backends, name) is getattr(toolkit, name)
    d = toolkit.Delivery(("p", 3), "3", b"v", None, None, None, 1)
    assert d.token == ("p", 3)
    assert d.delivery_count == 1
