"""The nats:// inspector (see brokerkit/_inspect.py), also used by memphis://: the server's
INFO (version, cluster) and, on JetStream, the stream that captures the topic's subject
(``STREAM.INFO``) and its durable consumers (``CONSUMER.LIST``), one per group. Read-only:
nothing is created. It connects through the nats:// driver (same URL options, TLS,
credentials and error messages) with every JetStream request bounded by connect_timeout.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from nats.js import errors as jerr

from ..._inspect import GroupInfo, TopicInfo, run_coroutine
from ..._url import BrokerURL
from ...errors import TimeoutError
from . import capabilities
from ._driver import AsyncNatsDriver

__all__ = ["inspect_driver", "inspect_topic", "server_driver", "server_info"]

CORE_NOTE = (
    "core NATS (?jetstream=false) retains no messages and keeps no groups: a subject is "
    "only a name while someone subscribes, and a client cannot see who does (the server's "
    "monitoring port can)"
)
NOTES = (
    "pending: delivered and not acked yet (JetStream's ack pending); lag: in the stream "
    "and not delivered to the group yet (JetStream's num_pending)",
    "consumers: pull requests waiting on the server now (a member between two fetches "
    "is not counted)",
)


def _driver(
    cls: type[AsyncNatsDriver], url: BrokerURL, options: Mapping[str, Any]
) -> AsyncNatsDriver:
    timeout = float(options["connect_timeout"])
    bounded = {**options, "request_timeout": timeout, "max_reconnect_attempts": 0}
    return cls(url, bounded, capabilities(url, bounded))


async def _bounded(driver: AsyncNatsDriver, options: Mapping[str, Any], work: Any) -> Any:
    timeout = float(options["connect_timeout"])
    await driver.connect(timeout)
    try:
        try:
            async with asyncio.timeout(timeout * 4):
                return await work(driver)
        except TimeoutError:
            raise
        except builtins.TimeoutError as exc:
            raise TimeoutError(
                f"nats at {driver.where} did not answer in time", backend=driver.backend
            ) from exc
    finally:
        await driver.close()


def private_name(durable: str) -> str | None:
    """The label of a private group's consumer (group=None), or None for a named one."""
    if durable.startswith("bk-private-"):
        return f"(private: a consumer with group=None, {durable[len('bk-private-') :][:8]})"
    return None


async def _topic(
    driver: AsyncNatsDriver, topic: str, groups: Sequence[str], label: Any
) -> TopicInfo:
    if driver.js is None:
        return TopicInfo(topic=topic, exists=True, notes=(CORE_NOTE,))
    js = driver.js
    stream_name, subject = driver.names(topic)
    with driver.errors():
        try:
            stream = await js.find_stream_name_by_subject(subject)
        except jerr.NotFoundError:
            return TopicInfo(topic=topic, exists=False)
        info = await js.stream_info(stream)
        consumers = await js.consumers_info(stream)
    named = {driver.durable_name(g): g for g in groups}
    state = info.state
    out = []
    for c in consumers:
        durable = c.config.durable_name or c.name
        name = named.get(durable) or private_name(durable) or label(durable)
        delivered = c.delivered.stream_seq if c.delivered is not None else 0
        out.append(
            GroupInfo(
                name=name,
                consumers=c.num_waiting,
                pending=c.num_ack_pending,
                lag=c.num_pending,
                last_delivered=str(delivered) if delivered else None,
                redelivered=c.num_redelivered,
            )
        )
    notes = list(NOTES)
    if stream != stream_name:
        notes.append(
            f"the topic's subject {subject!r} is captured by stream {stream!r}: the "
            "messages, bytes and sequences are the whole stream's"
        )
    return TopicInfo(
        topic=topic,
        exists=True,
        messages=state.messages,
        first_id=str(state.first_seq) if state.messages else None,
        last_id=str(state.last_seq) if state.messages else None,
        bytes=state.bytes,
        groups=tuple(out),
        notes=tuple(notes),
    )


def inspect_driver(
    cls: type[AsyncNatsDriver],
    url: BrokerURL,
    options: Mapping[str, Any],
    topic: str,
    groups: Sequence[str],
    label: Any = str,
) -> TopicInfo:
    """inspect_topic over the driver class ``cls`` (nats:// or memphis:// naming);
    ``label(durable)`` names a group's consumer."""
    driver = _driver(cls, url, options)

    async def work(d: AsyncNatsDriver) -> TopicInfo:
        return await _topic(d, topic, groups, label)

    result: TopicInfo = run_coroutine(_bounded, driver, options, work)
    return result


def server_driver(
    cls: type[AsyncNatsDriver], url: BrokerURL, options: Mapping[str, Any]
) -> dict[str, str]:
    """server_info over the driver class ``cls``."""
    import nats.aio.client

    driver = _driver(cls, url, options)

    async def work(d: AsyncNatsDriver) -> dict[str, str]:
        nc = d._live()
        info: dict[str, Any] = dict(getattr(nc, "_server_info", None) or {})
        parts = [f"nats-server {info.get('version') or nc.connected_server_version}"]
        if info.get("server_name") and info.get("server_name") != info.get("server_id"):
            parts.append(f"name {info['server_name']}")
        if info.get("cluster"):
            parts.append(f"cluster {info['cluster']}")
        parts.append("JetStream enabled" if info.get("jetstream") else "no JetStream")
        return {
            "server": f"{parts[0]} ({', '.join(parts[1:])})",
            "client": f"nats-py {nats.aio.client.__version__}",
        }

    result: dict[str, str] = run_coroutine(_bounded, driver, options, work)
    return result


def inspect_topic(
    url: BrokerURL, options: Mapping[str, Any], topic: str, groups: Sequence[str] = ()
) -> TopicInfo:
    return inspect_driver(AsyncNatsDriver, url, options, topic, groups)


def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]:
    return server_driver(AsyncNatsDriver, url, options)
