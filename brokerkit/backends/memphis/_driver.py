"""The memphis:// driver: the nats:// driver with Memphis's names, station settings,
producer headers and poison-message station (see the package docstring)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from nats.js import api

from ..._spec import ConsumerConfig, ProducerConfig
from ..._types import Capabilities
from ..._url import BrokerURL
from ...errors import ConfigurationError
from ..nats._codec import NATS_MSG_ID
from ..nats._driver import AsyncNatsDriver, ConsumerSettings
from . import MAX_BATCH_SIZE

#: Memphis's own header names.
H_PRODUCED_BY = "$memphis_producedBy"
H_CONNECTION_ID = "$memphis_connectionId"

_CONSUMER_KEYS = (
    "batch_size",
    "batch_max_time_to_wait_ms",
    "max_ack_time_ms",
    "max_msg_deliveries",
)
_NAME = re.compile(r"[a-z0-9_.-]+")
_MAX_NAME = 128


def validate_name(name: str, what: str) -> str:
    """A station or consumer-group name as Memphis accepts it: lower-cased; letters, digits,
    '_', '-', '.'; starting and ending with a letter or digit; under 128 characters."""
    lowered = name.lower()
    if not lowered:
        raise ConfigurationError(f"{what} name can not be empty")
    if len(lowered) > _MAX_NAME:
        raise ConfigurationError(f"{what} name should be under {_MAX_NAME} characters: {name!r}")
    if not _NAME.fullmatch(lowered):
        raise ConfigurationError(
            f"only alphanumeric and the '_', '-', '.' characters are allowed in a {what} "
            f"name, got {name!r}"
        )
    if not (lowered[0].isalnum() and lowered[-1].isalnum()):
        raise ConfigurationError(
            f"a {what} name can not start or end with a non alphanumeric character: {name!r}"
        )
    return lowered


def internal_name(name: str, what: str = "station") -> str:
    """Memphis's internal name: lower case, '.' -> '#' (a stream or durable name)."""
    return validate_name(name, what).replace(".", "#")


class AsyncMemphisDriver(AsyncNatsDriver):
    backend = "memphis"

    def __init__(self, url: BrokerURL, options: Mapping[str, Any], caps: Capabilities) -> None:
        options = {**options, "jetstream": True}
        super().__init__(url, options, caps)
        #: As the Memphis SDK makes it: 24 random hex characters per connection.
        self.connection_id = secrets.token_hex(12)
        name = options.get("client_id") or "brokerkit"
        self.options["client_id"] = f"{self.connection_id}::{name}"
        self._client_name = name
        if not options.get("show_memphis_headers"):
            self.drop_headers = (NATS_MSG_ID, H_PRODUCED_BY, H_CONNECTION_ID)

    def names(self, topic: str) -> tuple[str, str]:
        stream = internal_name(topic)
        return stream, f"{stream}.final"

    def durable_name(self, group: str) -> str:
        return internal_name(group, "consumer group")

    def stream_config(self, stream: str, subject: str) -> api.StreamConfig:
        o = self.options
        value = o["retention_value"]
        limits: dict[str, Any] = {
            "message_age_sec": {"max_age": float(value)},
            "messages": {"max_msgs": value},
            "bytes": {"max_bytes": value},
        }[o["retention_type"]]
        return api.StreamConfig(
            name=stream,
            subjects=[subject],
            storage=api.StorageType.FILE if o["storage_type"] == "disk" else api.StorageType.MEMORY,
            num_replicas=o["replicas"],
            duplicate_window=o["idempotency_window_ms"] / 1000,
            discard=api.DiscardPolicy.OLD,
            **limits,
        )

    def producer_headers(self, config: ProducerConfig) -> dict[str, str] | None:
        name = config.options.get("producer_name") or self._client_name
        return {H_PRODUCED_BY: name.lower(), H_CONNECTION_ID: self.connection_id}

    def consumer_settings(self, topic: str, config: ConsumerConfig) -> ConsumerSettings:
        o = self.options
        c = {k: v for k, v in config.options.items() if v is not None}
        c = {**{k: o[k] for k in _CONSUMER_KEYS}, **c}
        batch = c["batch_size"]
        if batch > MAX_BATCH_SIZE:
            raise ConfigurationError(
                f"batch_size can not be greater than {MAX_BATCH_SIZE}, got {batch}"
            )
        limit = config.max_deliveries or c["max_msg_deliveries"]
        dead_letter = None
        if self.options.get("send_poison_msg_to_dls", True):
            station = (
                config.dead_letter_topic
                or self.options.get("dls_station")
                or f"{validate_name(topic, 'station')}-dls"
            )
            validate_name(station, "station")
            dead_letter = (limit, station)
        return ConsumerSettings(
            ack_wait=config.ack_deadline or c["max_ack_time_ms"] / 1000,
            # one delivery more than the limit: that one is moved to the dead-letter station
            max_deliver=limit + 1 if dead_letter else limit,
            max_ack_pending=self.options.get("max_ack_pending", 20000),
            deliver_policy="all",
            max_wait=c["batch_max_time_to_wait_ms"] / 1000,
            batch_cap=batch,
            dead_letter=dead_letter,
        )


__all__ = ["H_CONNECTION_ID", "H_PRODUCED_BY", "AsyncMemphisDriver", "internal_name"]
