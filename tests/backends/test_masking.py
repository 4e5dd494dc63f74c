"""No password is ever printed, on every backend, with a URL that HAS a password:
``repr()``/``str()`` of the broker, its URL, producers, consumers and messages, the
errors (a wrong password, use after close, a broker gone) and the log records.

Each built-in backend has an entry in :data:`WITH_PASSWORD` saying how to get a working
URL with a password (or that its URLs refuse one); a backend without an entry fails
:func:`test_every_backend_is_covered`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

import brokerkit
from brokerkit._registry import builtin_schemes, get_backend

SECRET = "Zq9-masked-Pw-41"
WRONG = "Wr0ng-masked-Pw-77"


def _texts(obj: Any) -> list[str]:
    out = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        out += [repr(obj.args), repr(obj.__dict__), "".join(traceback.format_exception(obj))]
    return out


def _assert_hidden(objects: list[Any], caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    texts = [t for obj in objects for t in _texts(obj)]
    texts.append(caplog.text)
    texts += [repr(r.args) for r in caplog.records]
    for secret in secrets:
        for text in texts:
            assert secret not in text, f"{secret!r} printed in: {text[:300]}"


def _memory(tmp_path: Path) -> Generator[tuple[str | None, str], None, None]:
    """memory:// takes no password: the URL is refused, without printing it."""
    yield None, f"memory://user:{SECRET}@name"


def _redis(tmp_path: Path) -> Generator[tuple[str | None, str], None, None]:
    pytest.importorskip("redis")
    from test_redis import PrivateRedis

    server = PrivateRedis(tmp_path, "--requirepass", SECRET)
    server.start()
    try:
        where = f"127.0.0.1:{server.port}"
        yield f"redis://:{SECRET}@{where}/0", f"redis://:{WRONG}@{where}/0"
    finally:
        server.kill()


def _amqp(tmp_path: Path) -> Generator[tuple[str | None, str], None, None]:
    """A RabbitMQ user of its own on the shared broker, with the secret as password."""
    import shutil
    import subprocess
    import uuid

    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl is not installed")
    user = f"bk-mask-{uuid.uuid4().hex[:8]}"

    def ctl_run(*args: str) -> None:
        subprocess.run([ctl, *args], check=True, capture_output=True, timeout=60)

    ctl_run("add_user", user, SECRET)
    try:
        ctl_run("set_permissions", "-p", "/", user, ".*", ".*", ".*")
        yield f"amqp://{user}:{SECRET}@127.0.0.1:5672/", f"amqp://{user}:{WRONG}@127.0.0.1:5672/"
    finally:
        ctl_run("delete_user", user)


def _kafka(tmp_path: Path) -> Generator[tuple[str | None, str], None, None]:
    """SASL credentials to a port where no broker answers: the connect error, its repr and
    the logs (librdkafka's included) must not show the password. (The test broker, Tansu,
    runs without SASL users here; tests/backends/test_kafka.py covers refused credentials.)"""
    pytest.importorskip("confluent_kafka")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield None, f"kafka://user:{WRONG}@127.0.0.1:{port}?connect_timeout=2"


def _nats_server(tmp_path: Path, scheme: str) -> Generator[tuple[str | None, str], None, None]:
    pytest.importorskip("nats")
    from test_nats import PrivateNats

    server = PrivateNats(tmp_path, "--user", "alice", "--pass", SECRET)
    server.start()
    try:
        where = f"127.0.0.1:{server.port}"
        yield f"{scheme}://alice:{SECRET}@{where}", f"{scheme}://alice:{WRONG}@{where}"
    finally:
        server.stop()


def _nats(tmp_path: Path) -> Generator[tuple[str | None, str], None, None]:
    yield from _nats_server(tmp_path, "nats")


def _memphis(tmp_path: Path) -> Generator[tuple[str | None, str], None, None]:
    yield from _nats_server(tmp_path, "memphis")


#: scheme -> a generator of (working URL with a password or None, refused URL).
WITH_PASSWORD: dict[str, Callable[[Path], Generator[tuple[str | None, str], None, None]]] = {
    "memory": _memory,
    "redis": _redis,
    "amqp": _amqp,
    "kafka": _kafka,
    "nats": _nats,
    "memphis": _memphis,
}


def test_every_backend_is_covered() -> None:
    names = {get_backend(scheme).name for scheme in builtin_schemes()}
    missing = names - set(WITH_PASSWORD)
    assert not missing, f"add the backends {sorted(missing)} to WITH_PASSWORD"


@pytest.mark.parametrize("backend", sorted(WITH_PASSWORD))
def test_the_password_is_never_printed(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gen = WITH_PASSWORD[backend](tmp_path)
    good, bad = next(gen)
    try:
        seen: list[Any] = []
        with pytest.raises(brokerkit.BrokerError) as info:
            brokerkit.connect(bad, connect_timeout=3)
        seen.append(info.value)
        assert info.value.url is not None, "the error does not say which URL it is about"
        if good is not None:
            broker = brokerkit.connect(good)
            seen += [broker, broker.url, repr(broker.options)]
            assert "***" in repr(broker)
            with broker.producer("masking") as producer, broker.consumer("masking") as consumer:
                producer.send(b"m")
                msg = consumer.receive(timeout=5)
                seen += [producer, consumer, msg]
            broker.close()
            with pytest.raises(brokerkit.ClosedError) as closed:
                broker.producer("masking")
            seen.append(closed.value)
        _assert_hidden(seen, caplog, SECRET, WRONG)
    finally:
        gen.close()


@pytest.mark.parametrize("backend", sorted(WITH_PASSWORD))
async def test_the_password_is_never_printed_async(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gen = WITH_PASSWORD[backend](tmp_path)
    good, bad = next(gen)
    try:
        seen: list[Any] = []
        with pytest.raises(brokerkit.BrokerError) as info:
            await brokerkit.connect_async(bad, connect_timeout=3)
        seen.append(info.value)
        assert info.value.url is not None
        if good is not None:
            broker = await brokerkit.connect_async(good)
            seen += [broker, broker.url]
            async with broker.producer("masking") as producer, broker.consumer("masking") as c:
                await producer.send(b"m")
                seen += [producer, c, await c.receive(timeout=5)]
            await broker.close()
            with pytest.raises(brokerkit.ClosedError) as closed:
                await broker.producer("masking")
            seen.append(closed.value)
        _assert_hidden(seen, caplog, SECRET, WRONG)
    finally:
        gen.close()
