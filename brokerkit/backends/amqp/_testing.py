"""Test-session cleanup for the amqp backend (``spec.test_cleanup``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess

from ..._url import make_url
from ._common import endpoint, vhost


def _names(what: str) -> list[str]:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        return []
    try:
        out = subprocess.run(
            [ctl, "-q", f"list_{what}", "name"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines()[1:] if line.strip()]


def cleanup(url: str, prefix: str) -> None:
    """Delete the exchanges and queues whose name contains ``prefix`` (test sessions).

    Lists names with ``rabbitmqctl`` (when installed, on the broker's host), deletes them
    over AMQP.
    """
    queues = [n for n in _names("queues") if prefix in n]
    exchanges = [n for n in _names("exchanges") if prefix in n]
    if not queues and not exchanges:
        return
    import aio_pika

    parsed = make_url(url)
    host, port = endpoint(parsed)

    async def run() -> None:
        connection = await aio_pika.connect(
            host=host,
            port=port,
            login=parsed.username or "guest",
            password=parsed.password or "guest",
            virtualhost=vhost(parsed),
            timeout=10,
        )
        async with connection:
            channel = await connection.channel()
            for name in queues:
                await channel.queue_delete(name)
            for name in exchanges:
                await channel.exchange_delete(name)

    with contextlib.suppress(Exception):  # cleanup is best effort
        asyncio.run(run())
