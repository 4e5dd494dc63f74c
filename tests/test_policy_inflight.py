"""The producer's in-flight bookkeeping (brokerkit/_policy/inflight.py), without a broker."""

from __future__ import annotations

import pytest

from brokerkit import BrokerConnectionError, DeliveryError
from brokerkit._policy.inflight import InFlight, ticket_error

A = (b"a", None, None)
B = (b"b", b"k", None)
C = (b"c", None, {"h": "v"})


def test_a_stored_batch_leaves_nothing_to_raise() -> None:
    inflight = InFlight("t")
    assert inflight.settled([A, B], None, None) == ([], None)  # no waiting sender to answer
    assert inflight.take_error() is None


def test_refusals_are_kept_and_raised_once_naming_each_message() -> None:
    inflight = InFlight("orders")
    refused = DeliveryError("WRONGTYPE")
    inflight.settled([A, B, C], [None, refused, None], None)
    err = inflight.take_error()
    assert isinstance(err, DeliveryError)
    assert err.failures == [(b"b", "WRONGTYPE")]
    assert "1 message sent to topic 'orders' was not stored" in str(err)
    assert err.__cause__ is refused
    assert inflight.take_error() is None  # raised once


def test_a_failed_batch_reports_every_message_with_the_cause() -> None:
    inflight = InFlight("t")
    lost = BrokerConnectionError("cannot reach the broker at h:1")
    inflight.settled([A, B], None, lost)
    err = inflight.take_error()
    assert err is not None
    assert [v for v, _ in err.failures] == [b"a", b"b"]
    assert "2 messages" in str(err)
    assert "cannot reach the broker at h:1" in str(err)


def test_a_waiting_sender_alone_gets_its_outcome() -> None:
    inflight = InFlight("t")
    ticket = object()  # the facade's own object, handed back with the outcome
    inflight.claim(B, ticket)
    refused = DeliveryError("no")
    done = inflight.settled([A, B, C], [refused, refused, None], None)
    assert done == ([ticket], [refused])
    err = inflight.take_error()
    assert err is not None
    assert [v for v, _ in err.failures] == [b"a"]  # b's refusal went to its sender only
    assert ticket_error("t", B, refused) is refused


def test_tickets_resolve_on_success_and_on_batch_failure() -> None:
    inflight = InFlight("t")
    ok, lost = object(), object()
    inflight.claim(A, ok)
    inflight.claim(B, lost)
    assert inflight.settled([A], None, None) == ([ok], None)  # stored: no error list
    exc = BrokerConnectionError("gone")
    assert inflight.settled([B, C], None, exc) == ([lost], [exc])
    err = inflight.take_error()
    assert err is not None
    assert [v for v, _ in err.failures] == [b"c"]
    assert inflight.tickets == {}


def test_a_driver_reporting_the_wrong_number_of_outcomes_loses_nothing() -> None:
    inflight = InFlight("t")
    inflight.settled([A, B], [None], None)
    err = inflight.take_error()
    assert err is not None
    assert [v for v, _ in err.failures] == [b"a", b"b"]
    assert "2 outcomes" not in str(err)
    assert "1 outcomes for a batch of 2" in str(err.__cause__)


def test_ticket_error_wraps_what_is_not_a_brokerkit_error() -> None:
    err = ticket_error("t", A, OSError("boom"))
    assert isinstance(err, DeliveryError)
    assert err.failures == [(b"a", "boom")]
    with pytest.raises(DeliveryError):
        raise err
