"""Input checks of the core, written once in ``brokerkit._policy`` (sans I/O): what a
send_many() batch and receive()/receive_many() arguments may be."""

from __future__ import annotations

import math
from typing import Any

import pytest

from brokerkit._policy.receiving import check_max_messages, check_timeout
from brokerkit._policy.records import records_of


@pytest.mark.parametrize("batch", ["abc", b"abc", bytearray(b"abc"), memoryview(b"abc")])
def test_a_str_or_bytes_is_not_a_batch(batch: Any) -> None:
    """send_many("abc") used to send three 1-byte messages."""
    with pytest.raises(TypeError) as info:
        records_of(batch, None, "t")
    message = str(info.value)
    assert "send_many()" in message
    assert "iterable of messages" in message
    assert type(batch).__name__ in message
    assert "send()" in message


def test_a_mapping_or_a_number_is_not_a_batch() -> None:
    with pytest.raises(TypeError, match="dict"):
        records_of({"k": "v"}, None, "t")
    with pytest.raises(TypeError, match="int"):
        records_of(3, None, "t")


def test_batches_that_are_batches() -> None:
    assert records_of(["a", b"b"], None, "t") == [(b"a", None, None), (b"b", None, None)]
    assert records_of((x for x in [(b"v", "k")]), None, "t") == [(b"v", b"k", None)]
    assert records_of([(b"v", None, {"h": "1"})], None, "t") == [(b"v", None, {"h": "1"})]
    assert records_of([], None, "t") == []


@pytest.mark.parametrize("timeout", ["1", b"1", True, [1], object()])
def test_receive_timeout_of_a_wrong_type(timeout: Any) -> None:
    """receive(timeout="1") used to fail with a raw TypeError from a comparison."""
    with pytest.raises(TypeError) as info:
        check_timeout(timeout)
    assert "receive() timeout must be a number of seconds" in str(info.value)
    assert repr(timeout) in str(info.value)


@pytest.mark.parametrize("timeout", [-1, -0.001, math.nan])
def test_receive_timeout_out_of_range(timeout: float) -> None:
    with pytest.raises(ValueError, match=r"timeout must be a number of seconds >= 0 or None"):
        check_timeout(timeout)


def test_receive_timeouts_that_are_accepted() -> None:
    assert check_timeout(None) is None
    assert check_timeout(0) == 0.0
    assert check_timeout(1) == 1.0
    assert check_timeout(0.25) == 0.25


@pytest.mark.parametrize("n", ["10", 10.0, True, None])
def test_max_messages_of_a_wrong_type(n: Any) -> None:
    """receive_many("10") used to fail with a raw TypeError from a comparison."""
    with pytest.raises(TypeError) as info:
        check_max_messages(n)
    assert "max_messages must be an int >= 1" in str(info.value)
    assert repr(n) in str(info.value)


def test_max_messages_range() -> None:
    assert check_max_messages(1) == 1
    with pytest.raises(ValueError, match="max_messages must be >= 1, got 0"):
        check_max_messages(0)
