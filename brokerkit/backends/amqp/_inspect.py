"""The amqp:// inspector (see brokerkit/_inspect.py): the server's product and version from
the connection's server properties, the topic's exchange and the queues of the groups the
user names (``brokerkit inspect --group G``), by passive declares: read-only, nothing is
created. AMQP 0-9-1 cannot list the queues bound to an exchange (RabbitMQ's management
plugin can; brokerkit does not need it), so the groups must be named.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping, Sequence
from typing import Any

import aio_pika
from aiormq import exceptions as aex

from ..._inspect import GroupInfo, TopicInfo, run_coroutine
from ..._url import BrokerURL
from ...errors import TimeoutError
from . import capabilities
from ._common import exchange_name, queue_name
from .driver import AsyncAmqpDriver

__all__ = ["inspect_topic", "server_info"]

NOTES = (
    "AMQP cannot list the queues bound to an exchange (RabbitMQ's management plugin can): "
    "name the groups with --group G (brokerkit's queue of group G is '<topic>.G'); private "
    "groups (group=None) and queues of your own topology are not shown",
    "lag: messages ready in the group's queue; pending: AMQP does not tell how many are "
    "delivered and not acked (nor messages waiting in a nack(delay=...) delay queue)",
    "an exchange retains no messages: each group's queue holds its own copy",
)


def _driver(url: BrokerURL, options: Mapping[str, Any]) -> AsyncAmqpDriver:
    timeout = float(options["connect_timeout"])
    bounded = {**options, "request_timeout": timeout, "reconnect_timeout": 0.0}
    return AsyncAmqpDriver(url, bounded, capabilities(url, bounded))


async def _run(url: BrokerURL, options: Mapping[str, Any], work: Any) -> Any:
    timeout = float(options["connect_timeout"])
    driver = _driver(url, options)
    await driver.connect(timeout)
    try:
        transport = driver._live().transport
        assert transport is not None
        try:
            with driver.errors():  # each request within timeout (see _passive)
                return await work(transport.connection)
        except TimeoutError:
            raise
        except builtins.TimeoutError as exc:
            raise TimeoutError(
                f"RabbitMQ at {driver.host}:{driver.port} did not answer in time", backend="amqp"
            ) from exc
    finally:
        await driver.close()


async def _passive(connection: Any, kind: str, name: str, timeout: float) -> Any:
    """The DeclareOk of a passive declare, or None when the exchange/queue does not exist
    (the broker then closes the channel: one channel per look-up); each request bounded
    by ``timeout``."""
    async with asyncio.timeout(timeout):
        channel = await connection.channel()
    try:
        async with asyncio.timeout(timeout):
            if kind == "exchange":
                return await channel.exchange_declare(exchange=name, passive=True)
            return await channel.queue_declare(queue=name, passive=True)
    except aex.ChannelNotFoundEntity:
        return None
    finally:
        if not channel.is_closed:
            async with asyncio.timeout(timeout):
                await channel.close()


def inspect_topic(
    url: BrokerURL, options: Mapping[str, Any], topic: str, groups: Sequence[str] = ()
) -> TopicInfo:
    timeout = float(options["connect_timeout"])

    async def work(connection: Any) -> TopicInfo:
        exchange = await _passive(connection, "exchange", exchange_name(topic), timeout)
        found = []
        for group in dict.fromkeys(groups):  # one not found: the command says so
            ok = await _passive(connection, "queue", queue_name(topic, group), timeout)
            if ok is None:
                continue
            found.append(GroupInfo(name=group, consumers=ok.consumer_count, lag=ok.message_count))
        return TopicInfo(topic=topic, exists=exchange is not None, groups=tuple(found), notes=NOTES)

    result: TopicInfo = run_coroutine(_run, url, options, work)
    return result


def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]:
    async def work(connection: Any) -> dict[str, str]:
        props: Mapping[str, Any] = connection.server_properties or {}

        def text(name: str) -> str:
            value = props.get(name)
            return value.decode() if isinstance(value, bytes) else str(value or "?")

        server = f"{text('product')} {text('version')}"
        extra = [f"Erlang/OTP {text('platform').removeprefix('Erlang/OTP ')}"]
        if props.get("cluster_name"):
            extra.append(f"cluster {text('cluster_name')}")
        return {
            "server": f"{server} ({', '.join(extra)})",
            "client": f"aio-pika {aio_pika.__version__}",
        }

    result: dict[str, str] = run_coroutine(_run, url, options, work)
    return result
