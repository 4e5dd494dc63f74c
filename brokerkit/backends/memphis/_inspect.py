"""The memphis:// inspector (see brokerkit/_inspect.py): the nats:// one over the station's
stream, named as Memphis names it (lower case, ``.`` -> ``#``), with its consumer groups
shown under their Memphis names. Read-only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..._inspect import TopicInfo
from ..._url import BrokerURL
from ..nats._inspect import inspect_driver, server_driver
from ._driver import AsyncMemphisDriver

__all__ = ["inspect_topic", "server_info"]


def _label(durable: str) -> str:
    return durable.replace("#", ".")  # Memphis's internal name back to the group's


def inspect_topic(
    url: BrokerURL, options: Mapping[str, Any], topic: str, groups: Sequence[str] = ()
) -> TopicInfo:
    return inspect_driver(AsyncMemphisDriver, url, options, topic, groups, _label)


def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]:
    info = server_driver(AsyncMemphisDriver, url, options)
    info["server"] += ", Memphis stations on JetStream"
    return info
