"""The error tree: inheritance, pickling, the mapping helper and credential scrubbing."""

from __future__ import annotations

import builtins
import pickle

import pytest

import brokerkit
from brokerkit.errors import map_errors, scrub


def test_tree() -> None:
    for cls in (
        brokerkit.ConfigurationError,
        brokerkit.UnsupportedError,
        brokerkit.BrokerConnectionError,
        brokerkit.DeliveryError,
        brokerkit.ClosedError,
        brokerkit.TimeoutError,
    ):
        assert issubclass(cls, brokerkit.BrokerError)
        assert cls.__module__ == "brokerkit"
    assert issubclass(brokerkit.TimeoutError, builtins.TimeoutError)
    assert issubclass(brokerkit.BrokerConnectionError, ConnectionError)
    assert issubclass(brokerkit.ConfigurationError, ValueError)
    assert issubclass(brokerkit.UnsupportedError, NotImplementedError)


@pytest.mark.parametrize(
    "err",
    [
        brokerkit.BrokerError("x", backend="redis", url="redis://:***@h:1/0"),
        brokerkit.UnsupportedError("no groups", capability="consumer_groups", backend="redis"),
        brokerkit.DeliveryError("refused", failures=[(b"v", "too big")]),
        brokerkit.TimeoutError("late"),
        brokerkit.BrokerConnectionError("cannot reach h:1"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_pickle_round_trip(err: brokerkit.BrokerError) -> None:
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err)
    assert str(clone) == str(err)
    assert clone.__dict__ == err.__dict__


class ClientDown(Exception):
    pass


class ClientRefused(Exception):
    pass


TABLE = [
    (ClientDown, lambda e: brokerkit.BrokerConnectionError(f"cannot reach h:1: {e}")),
    (ClientRefused, lambda e: brokerkit.DeliveryError(f"refused: {e}")),
]


def test_map_errors_translates_chains_and_scrubs() -> None:
    secret = "auth failed for redis://bob:hunter2@h:1 with hunter2"
    with (
        pytest.raises(brokerkit.BrokerConnectionError) as info,
        map_errors(TABLE, secrets=["hunter2"]),
    ):
        raise ClientDown(secret)
    message = str(info.value)
    assert "hunter2" not in message
    assert "redis://bob:***@h:1" in message
    assert isinstance(info.value.__cause__, ClientDown)
    with pytest.raises(brokerkit.DeliveryError), map_errors(TABLE):
        raise ClientRefused("nope")


def test_map_errors_leaves_others_and_broker_errors_alone() -> None:
    with pytest.raises(KeyError), map_errors(TABLE):
        raise KeyError("k")
    original = brokerkit.ClosedError("closed")
    with pytest.raises(brokerkit.ClosedError) as info, map_errors(TABLE):
        raise original
    assert info.value is original


def test_scrub() -> None:
    assert scrub("amqp://guest:guest@h:5672/vh") == "amqp://guest:***@h:5672/vh"
    assert scrub("no url here, token=abc", ["abc"]) == "no url here, token=***"


def test_broker_repr_masks_password() -> None:
    broker = brokerkit.connect("memory://")
    assert repr(broker) == "<Broker memory://>"
    broker.close()
    broker.close()  # idempotent
    url = brokerkit.make_url("redis://user:pa55word@127.0.0.1:6379/0")
    assert "pa55word" not in repr(url)
    assert "pa55word" not in str(url)
