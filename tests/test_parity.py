"""The sync and async public classes offer the same methods with the same parameters."""

from __future__ import annotations

import inspect

import pytest

import brokerkit

PAIRS = [
    (brokerkit.Broker, brokerkit.AsyncBroker),
    (brokerkit.Producer, brokerkit.AsyncProducer),
    (brokerkit.Consumer, brokerkit.AsyncConsumer),
    (brokerkit.Message, brokerkit.AsyncMessage),
]
#: Methods that exist in one spelling only, by design.
SYNC_ONLY = {"__enter__", "__exit__", "__iter__", "__next__"}
ASYNC_ONLY = {"__aenter__", "__aexit__", "__aiter__", "__anext__", "__await__", "_await_open"}


def _methods(cls: type) -> dict[str, inspect.Signature]:
    out = {}
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") and not name.startswith("__"):
            continue
        if name.startswith("__") and name not in SYNC_ONLY | ASYNC_ONLY:
            continue
        if callable(member):
            out[name] = inspect.signature(member)
    return out


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_same_methods_and_signatures(sync_cls: type, async_cls: type) -> None:
    sync = _methods(sync_cls)
    asyn = _methods(async_cls)
    assert set(sync) - SYNC_ONLY == set(asyn) - ASYNC_ONLY
    for name in set(sync) - SYNC_ONLY:
        s_params = list(sync[name].parameters)
        a_params = list(asyn[name].parameters)
        assert s_params == a_params, name
    if sync_cls is not brokerkit.Message:
        assert {"__enter__", "__exit__"} <= set(sync)
        assert {"__aenter__", "__aexit__"} <= set(asyn)


@pytest.mark.parametrize(("sync_cls", "async_cls"), PAIRS, ids=lambda c: c.__name__)
def test_async_methods_are_coroutines(sync_cls: type, async_cls: type) -> None:
    for name in ("ack", "nack", "dead_letter", "send", "send_many", "flush", "close",
                 "receive", "receive_many"):  # fmt: skip
        if hasattr(async_cls, name):
            assert inspect.iscoroutinefunction(getattr(async_cls, name)), name
            assert not inspect.iscoroutinefunction(getattr(sync_cls, name)), name


def test_public_names_are_exported() -> None:
    for name in brokerkit.__all__:
        assert hasattr(brokerkit, name), name
    for cls in (brokerkit.Broker, brokerkit.AsyncMessage, brokerkit.ConfigurationError):
        assert cls.__module__ == "brokerkit"
