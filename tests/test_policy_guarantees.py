"""Guarantee checks against Capabilities, and dead-letter headers."""

from __future__ import annotations

import pytest

from brokerkit import Capabilities, ConfigurationError, Guarantee, UnsupportedError
from brokerkit._policy import deadletter
from brokerkit._policy.guarantees import check_consumer, check_nack_delay, check_producer
from brokerkit._policy.records import check_headers, coerce_key, coerce_value, record_of

FULL = Capabilities(
    consumer_groups=True, at_least_once=True, at_most_once=True, delivery_count=True,
    nack_delay=True, headers=True,
)  # fmt: skip
PUBSUB = Capabilities(at_most_once=True, headers=True)


def test_producer_guarantee_needs_capability() -> None:
    check_producer(FULL, "x", Guarantee.AT_LEAST_ONCE)
    with pytest.raises(UnsupportedError, match="at-least-once") as info:
        check_producer(PUBSUB, "redis", Guarantee.AT_LEAST_ONCE)
    assert info.value.capability == "at_least_once"
    assert "redis" in str(info.value)


def test_consumer_group_needs_capability() -> None:
    kw = dict(guarantee=Guarantee.AT_MOST_ONCE, max_deliveries=None, dead_letter_topic=None)
    check_consumer(PUBSUB, "p", group=None, **kw)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedError) as info:
        check_consumer(PUBSUB, "p", group="billing", **kw)  # type: ignore[arg-type]
    assert info.value.capability == "consumer_groups"


def test_max_deliveries_rules() -> None:
    with pytest.raises(ConfigurationError, match="dead_letter_topic"):
        check_consumer(
            FULL, "x", group="g", guarantee=Guarantee.AT_LEAST_ONCE, max_deliveries=3,
            dead_letter_topic=None,
        )  # fmt: skip
    with pytest.raises(ConfigurationError, match="at-least-once"):
        check_consumer(
            FULL, "x", group="g", guarantee=Guarantee.AT_MOST_ONCE, max_deliveries=3,
            dead_letter_topic="dlq",
        )  # fmt: skip
    no_counts = FULL.replace(delivery_count=False)
    with pytest.raises(UnsupportedError) as info:
        check_consumer(
            no_counts, "x", group="g", guarantee=Guarantee.AT_LEAST_ONCE, max_deliveries=3,
            dead_letter_topic="dlq",
        )  # fmt: skip
    assert info.value.capability == "delivery_count"


def test_nack_delay() -> None:
    check_nack_delay(PUBSUB, "p", None)
    check_nack_delay(FULL, "x", 1.5)
    with pytest.raises(UnsupportedError):
        check_nack_delay(PUBSUB, "p", 1.5)


def test_dead_letter_decision_and_headers() -> None:
    assert not deadletter.exceeded(3, None)
    assert not deadletter.exceeded(3, 3)
    assert deadletter.exceeded(4, 3)
    h = deadletter.dead_letter_headers(
        {"a": "1"}, topic="orders", id="7", reason="bad", delivery_count=4
    )
    assert h == {
        "a": "1",
        "brokerkit-original-topic": "orders",
        "brokerkit-original-id": "7",
        "brokerkit-dead-letter-reason": "bad",
        "brokerkit-delivery-count": "4",
    }


def test_payload_validation() -> None:
    assert coerce_value("é") == "é".encode()
    assert coerce_value(bytearray(b"x")) == b"x"
    with pytest.raises(TypeError, match="bytes or str"):
        coerce_value(42)
    assert coerce_key(None) is None
    assert coerce_key("k") == b"k"
    with pytest.raises(TypeError, match="key"):
        coerce_key(1.5)
    assert check_headers({"a": "b"}) == {"a": "b"}
    with pytest.raises(TypeError, match="Mapping"):
        check_headers([("a", "b")])
    with pytest.raises(TypeError, match="'a'"):
        check_headers({"a": 1})
    with pytest.raises(ValueError, match="reserved"):
        check_headers({"brokerkit-x": "1"})
    assert record_of(b"v") == (b"v", None, None)
    assert record_of(("v", "k")) == (b"v", b"k", None)
    assert record_of(("v", None, {"h": "1"})) == (b"v", None, {"h": "1"})
    with pytest.raises(TypeError, match="tuple of 4"):
        record_of((1, 2, 3, 4))
