"""The conformance suite's own helpers must be able to fail: a helper that accepts a
wrong answer lets a broken backend pass."""

from __future__ import annotations

import pytest

from brokerkit import UnsupportedError
from brokerkit.testing._support import _expect_unsupported


def test_an_unsupported_error_naming_no_capability_fails_the_probe() -> None:
    with pytest.raises(AssertionError, match="names None"):
        _expect_unsupported("nack_delay", UnsupportedError("cannot do that"))


def test_an_unsupported_error_naming_another_capability_fails_the_probe() -> None:
    err = UnsupportedError("no 'consumer_groups' here", capability="consumer_groups")
    with pytest.raises(AssertionError, match="names 'consumer_groups'"):
        _expect_unsupported("nack_delay", err)


def test_the_capability_must_be_in_the_message_too() -> None:
    err = UnsupportedError("cannot do that", capability="nack_delay")
    with pytest.raises(AssertionError, match="does not name it in its message"):
        _expect_unsupported("nack_delay", err)


def test_a_good_unsupported_error_passes() -> None:
    err = UnsupportedError(
        "the x backend cannot provide nack(delay=1) (capability 'nack_delay' is false)",
        capability="nack_delay",
    )
    _expect_unsupported("nack_delay", err)
