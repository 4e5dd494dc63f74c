"""Check what a producer/consumer asks for against the backend's Capabilities."""

from __future__ import annotations

from .._types import Capabilities, Guarantee
from ..errors import ConfigurationError

_GUARANTEE_CAPABILITY = {
    Guarantee.AT_LEAST_ONCE: "at_least_once",
    Guarantee.AT_MOST_ONCE: "at_most_once",
}


def check_producer(caps: Capabilities, backend: str, guarantee: Guarantee) -> None:
    """Raise UnsupportedError unless the backend can produce with ``guarantee``."""
    caps.require(_GUARANTEE_CAPABILITY[guarantee], f"{guarantee.value} delivery", backend)


def check_consumer(
    caps: Capabilities,
    backend: str,
    *,
    group: str | None,
    guarantee: Guarantee,
    max_deliveries: int | None,
    dead_letter_topic: str | None,
) -> None:
    """Raise UnsupportedError / ConfigurationError for a consumer the backend cannot honour."""
    caps.require(_GUARANTEE_CAPABILITY[guarantee], f"{guarantee.value} delivery", backend)
    if group is not None:
        caps.require("consumer_groups", f"consumer groups (group={group!r})", backend)
    if max_deliveries is not None:
        if guarantee is Guarantee.AT_MOST_ONCE:
            raise ConfigurationError(
                "max_deliveries applies to at-least-once consumers only: an at-most-once "
                "message is never delivered twice"
            )
        if dead_letter_topic is None:
            raise ConfigurationError(
                f"max_deliveries={max_deliveries} needs dead_letter_topic=...: the topic where "
                "a message delivered that often goes instead of being dropped"
            )
        caps.require("delivery_count", "max_deliveries (per-message delivery counts)", backend)


def check_nack_delay(caps: Capabilities, backend: str, delay: float | None) -> None:
    if delay:
        caps.require("nack_delay", f"nack(delay={delay})", backend)
