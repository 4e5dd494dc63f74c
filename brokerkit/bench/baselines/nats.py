"""The nats://, tls:// and memphis:// baseline: nats-py used directly, as its docs show.

JetStream (at-least-once): ``js.publish_async`` for every message of a batch (PubAcks in
flight) and the futures gathered; a durable pull consumer (``js.pull_subscribe``)
fetching ``fetch(batch)`` and ``msg.ack()`` for each message. At-most-once: plain
``nc.publish`` into the stream, and a consumer with ``AckPolicy.NONE``. Core NATS
(``?jetstream=false``): ``nc.publish`` and a queue subscription whose callback collects
messages. Keys travel in the header brokerkit uses (the same bytes on the wire).
memphis:// uses Memphis's names (``<station>.final``) and its two producer headers.

nats-py has no sync API: the sync session runs the async one on a private event-loop
thread, one hand-off per batch (what a user of nats-py from sync code writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import secrets
import threading
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from nats.js import errors as jerr

from ..._url import make_url
from ...backends.nats._codec import H_KEY, name_for, subject_for
from ..targets import GROUP, Setup, Unsupported

__all__ = ["BASELINE"]

T = TypeVar("T")


class _Config:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        query = dict(parsed.query)
        self.memphis: bool = parsed.scheme == "memphis"
        self.jetstream: bool = self.memphis or query.get("jetstream", "true").lower() not in (
            "false",
            "0",
            "no",
            "off",
        )
        scheme = "tls" if parsed.scheme == "tls" else "nats"
        self.server: str = f"{scheme}://{parsed.host or '127.0.0.1'}:{parsed.port or 4222}"
        self.user: str | None = parsed.username if parsed.password else None
        self.password: str | None = parsed.password
        self.token: str | None = parsed.username if not parsed.password else None
        self.storage: str = query.get("storage", "file")
        if self.memphis:
            self.storage = "memory" if query.get("storage_type") == "memory" else "file"

    def names(self, topic: str) -> tuple[str, str]:
        if self.memphis:
            stream = topic.lower().replace(".", "#")
            return stream, f"{stream}.final"
        return name_for(topic), subject_for(topic)

    async def connect(self) -> Client:
        return await nats.connect(
            self.server,
            user=self.user,
            password=self.password,
            token=self.token,
            connect_timeout=5,
        )


class _Sender:
    def __init__(self, nc: Client, subject: str, acked: bool, extra: dict[str, str] | None) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._subject = subject
        self._acked = acked
        self._extra = extra

    async def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        subject, extra = self._subject, self._extra
        if not self._acked:
            pub = self._nc.publish
            for i, value in enumerate(values):
                await pub(subject, value, headers=_headers(keys, i, extra))
            return
        publish_async = self._js.publish_async
        futures = [
            await publish_async(subject, value, headers=_headers(keys, i, extra))
            for i, value in enumerate(values)
        ]
        await asyncio.gather(*futures)

    async def flush(self) -> None:
        await self._nc.flush()

    async def close(self) -> None:
        await self._nc.flush()


def _headers(keys: list[bytes] | None, i: int, extra: dict[str, str] | None) -> Any:
    if keys is None:
        return dict(extra) if extra else None
    out = dict(extra) if extra else {}
    out[H_KEY] = keys[i].decode()
    return out


class _PullReceiver:
    def __init__(self, sub: Any, acked: bool) -> None:
        self._sub = sub
        self._acked = acked
        self._msgs: list[Msg] = []

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        try:
            msgs = await self._sub.fetch(max_messages, timeout=max(timeout, 0.001))
        except nats.errors.TimeoutError:
            msgs = []
        if self._acked:  # kept for ack() only, as the brokerkit receiver does
            self._msgs = msgs
        return [m.data for m in msgs]

    async def ack(self) -> None:
        if self._acked:
            for msg in self._msgs:
                await msg.ack()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()


class _CoreReceiver:
    def __init__(self) -> None:
        self._buf: deque[bytes] = deque()
        self._event = asyncio.Event()
        self._sub: Any = None

    async def on_msg(self, msg: Msg) -> None:
        self._buf.append(msg.data)
        self._event.set()

    async def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        if not self._buf:
            self._event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)
        buf = self._buf
        return [buf.popleft() for _ in range(min(max_messages, len(buf)))]

    async def ack(self) -> None:
        return None

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()


class AsyncNatsSession:
    def __init__(self, config: _Config, setup: Setup, nc: Client) -> None:
        self._config = config
        self._acked = setup.workload.guarantee == "at-least-once"
        self._nc = nc
        self._js = nc.jetstream()
        self._extra = (
            {"$memphis_producedBy": "raw", "$memphis_connectionId": secrets.token_hex(12)}
            if config.memphis
            else None
        )

    async def _stream(self, topic: str) -> tuple[str, str]:
        stream, subject = self._config.names(topic)
        storage = api.StorageType(self._config.storage)
        with contextlib.suppress(jerr.BadRequestError):
            await self._js.add_stream(name=stream, subjects=[subject], storage=storage)
        return stream, subject

    async def sender(self, topic: str) -> _Sender:
        if not self._config.jetstream:
            return _Sender(self._nc, subject_for(topic), False, None)
        _, subject = await self._stream(topic)
        return _Sender(self._nc, subject, self._acked, self._extra)

    async def receiver(self, topic: str) -> _PullReceiver | _CoreReceiver:
        if not self._config.jetstream:
            receiver = _CoreReceiver()
            receiver._sub = await self._nc.subscribe(
                subject_for(topic), queue=GROUP, cb=receiver.on_msg
            )
            await self._nc.flush()
            return receiver
        stream, subject = await self._stream(topic)
        config = api.ConsumerConfig(
            ack_policy=api.AckPolicy.EXPLICIT if self._acked else api.AckPolicy.NONE,
            max_ack_pending=20000 if self._acked else None,
        )
        sub = await self._js.pull_subscribe(subject, durable=GROUP, stream=stream, config=config)
        return _PullReceiver(sub, self._acked)

    async def close(self) -> None:
        await self._nc.close()


class _Loop:
    """A private event loop on a thread: nats-py from sync code, one hand-off per call."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class _SyncProxy:
    def __init__(self, loop: _Loop, target: Any) -> None:
        self._loop = loop
        self._target = target

    def send(self, values: list[bytes], keys: list[bytes] | None) -> None:
        self._loop.run(self._target.send(values, keys))

    def flush(self) -> None:
        self._loop.run(self._target.flush())

    def receive(self, max_messages: int, timeout: float) -> list[bytes]:
        result: list[bytes] = self._loop.run(self._target.receive(max_messages, timeout))
        return result

    def ack(self) -> None:
        self._loop.run(self._target.ack())

    def close(self) -> None:
        self._loop.run(self._target.close())


class SyncNatsSession:
    def __init__(self, config: _Config, setup: Setup) -> None:
        self._loop = _Loop()
        nc = self._loop.run(config.connect())
        self._session = AsyncNatsSession(config, setup, nc)

    def sender(self, topic: str) -> _SyncProxy:
        return _SyncProxy(self._loop, self._loop.run(self._session.sender(topic)))

    def receiver(self, topic: str) -> _SyncProxy:
        return _SyncProxy(self._loop, self._loop.run(self._session.receiver(topic)))

    def close(self) -> None:
        try:
            self._loop.run(self._session.close())
        finally:
            self._loop.stop()


def _run_apart(fn: Any) -> None:
    """Run ``fn()`` (a coroutine function) to the end on a new loop in its own thread, so
    that it works whether or not the caller's thread runs an event loop."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]


class NatsBaseline:
    name = "raw"

    def _config(self, setup: Setup) -> _Config:
        config = _Config(setup.url)
        if not config.jetstream and setup.workload.guarantee != "at-most-once":
            raise Unsupported("core NATS is at-most-once only")
        return config

    async def open_async(self, setup: Setup) -> AsyncNatsSession:
        config = self._config(setup)
        return AsyncNatsSession(config, setup, await config.connect())

    def open_sync(self, setup: Setup) -> SyncNatsSession:
        return SyncNatsSession(self._config(setup), setup)

    def cleanup(self, url: str, topics: list[str]) -> None:
        config = _Config(url)
        if not config.jetstream or not topics:
            return

        async def run() -> None:
            nc = await config.connect()
            try:
                js = nc.jetstream()
                for topic in topics:
                    with contextlib.suppress(Exception):
                        await js.delete_stream(config.names(topic)[0])
            finally:
                await nc.close()

        _run_apart(run)

    def versions(self, url: str) -> dict[str, str]:
        out = {"nats-py": importlib.metadata.version("nats-py")}
        config = _Config(url)

        async def run() -> None:
            nc = await config.connect()
            try:
                out["nats-server"] = str(nc.connected_server_version)
            finally:
                await nc.close()

        with contextlib.suppress(Exception):
            _run_apart(run)
        return out


BASELINE = NatsBaseline()
