"""Test-session cleanup for nats:// and memphis:// (``BackendSpec.test_cleanup``)."""

from __future__ import annotations

import asyncio
import contextlib

import nats

from ..._url import make_url


def cleanup(url: str, prefix: str) -> None:
    """Delete every stream whose name contains ``prefix`` (and its consumers)."""
    parsed = make_url(url)
    if dict(parsed.query).get("jetstream", "true").lower() in ("false", "0", "no", "off"):
        return
    host, port = parsed.host or "127.0.0.1", parsed.port or 4222
    marks = {prefix, prefix.lower(), prefix.replace(".", "~2E"), prefix.lower().replace(".", "#")}

    async def run() -> None:
        nc = await nats.connect(
            f"nats://{host}:{port}",
            user=parsed.username if parsed.password else None,
            password=parsed.password,
            token=parsed.username if not parsed.password else None,
            connect_timeout=2,
            max_reconnect_attempts=0,
            allow_reconnect=False,
        )
        try:
            js = nc.jetstream(timeout=5)
            names: list[str] = []
            while True:
                page = await js.streams_info(offset=len(names))
                if not page:
                    break
                names.extend(info.config.name or "" for info in page)
            for name in names:
                if any(mark in name for mark in marks):
                    with contextlib.suppress(Exception):
                        await js.delete_stream(name)
        finally:
            await nc.close()

    with contextlib.suppress(Exception):
        asyncio.run(run())
