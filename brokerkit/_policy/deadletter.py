"""Dead-letter decisions and the headers that record where a message came from."""

from __future__ import annotations

from collections.abc import Mapping

H_ORIGINAL_TOPIC = "brokerkit-original-topic"
H_ORIGINAL_ID = "brokerkit-original-id"
H_REASON = "brokerkit-dead-letter-reason"
H_DELIVERY_COUNT = "brokerkit-delivery-count"


def exceeded(delivery_count: int, max_deliveries: int | None) -> bool:
    """True when a message delivered ``delivery_count`` times must be dead-lettered instead."""
    return max_deliveries is not None and delivery_count > max_deliveries


def max_deliveries_reason(max_deliveries: int) -> str:
    return f"delivered max_deliveries={max_deliveries} times without an ack"


def dead_letter_headers(
    headers: Mapping[str, str] | None, *, topic: str, id: str, reason: str, delivery_count: int
) -> dict[str, str]:
    """The original headers plus the brokerkit-* headers recording topic, id, reason, count."""
    out = dict(headers) if headers else {}
    out[H_ORIGINAL_TOPIC] = topic
    out[H_ORIGINAL_ID] = id
    out[H_REASON] = reason
    out[H_DELIVERY_COUNT] = str(delivery_count)
    return out
