"""The backends log under their own loggers: ``brokerkit.memory`` and ``brokerkit.redis``,
INFO on connect and close, WARNING on each reconnect attempt of a consumer's read (with
host, stream and group), and never a password."""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tcp_faults import free_port, wait_for_port

import brokerkit
from brokerkit.testing import SESSION_PREFIX
from brokerkit.testing._support import unreachable


@pytest.mark.memory
def test_memory_logs_connect_and_close(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="brokerkit.memory")
    brokerkit.connect("memory://logged").close()
    messages = [r.getMessage() for r in caplog.records if r.name == "brokerkit.memory"]
    assert messages == [
        "connected to the in-process broker 'logged'",
        "closed the connection to the in-process broker 'logged'",
    ]


@pytest.fixture
def raw() -> Iterator[Any]:
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        client.ping()
    except redis.RedisError as exc:
        unreachable("redis://127.0.0.1:6379/0", exc)
    yield client
    for key in client.scan_iter(match=f"{SESSION_PREFIX}log-*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_redis_logs_connect_and_close_without_the_password(
    raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The default user has no password: Redis accepts any (nopass), so this one is used.
    if "nopass" not in str(raw.acl_getuser("default").get("flags", "")):
        pytest.skip("the default Redis user has a password here")
    caplog.set_level(logging.INFO, logger="brokerkit.redis")
    brokerkit.connect("redis://default:s3cret-pw@127.0.0.1:6379/0").close()
    records = [r for r in caplog.records if r.name == "brokerkit.redis"]
    messages = [r.getMessage() for r in records]
    assert messages == [
        "connected to redis at 127.0.0.1:6379, database 0 (streams)",
        "closing the connection to redis at 127.0.0.1:6379",
    ]
    assert all(r.levelno == logging.INFO for r in records)
    assert "s3cret" not in caplog.text


def _wait_blocked(raw: Any, name: str) -> None:
    """Until a connection named ``name`` is blocked in XREADGROUP (flag ``b``)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for client in raw.client_list():
            if client.get("name") == name and "b" in client.get("flags", ""):
                return
        time.sleep(0.005)
    raise AssertionError(f"no connection named {name!r} blocked in a read within 10 s")


def _kill(raw: Any, name: str) -> int:
    killed = 0
    for client in raw.client_list():
        if client.get("name") == name:
            killed += int(raw.execute_command("CLIENT", "KILL", "ID", client["id"]) or 0)
    return killed


@pytest.mark.redis
def test_redis_warns_on_each_reconnect_attempt_of_a_read(
    raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="brokerkit.redis")
    topic = f"{SESSION_PREFIX}log-{uuid.uuid4().hex[:8]}"
    name = f"bk-log-{uuid.uuid4().hex[:8]}"
    url = "redis://127.0.0.1:6379/0"
    with (
        brokerkit.connect(url, client_id=name) as broker,
        broker.consumer(topic, group="loggers") as consumer,
    ):
        got: list[brokerkit.Message | None] = []
        reader = threading.Thread(target=lambda: got.append(consumer.receive(timeout=10.0)))
        reader.start()
        # Cut while the read is blocked in XREADGROUP ... BLOCK: a connection cut between
        # two reads is mended silently by redis-py's pool when the next read takes it.
        _wait_blocked(raw, name)
        assert _kill(raw, name) >= 1
        raw.xadd(topic, {"v": b"after the cut"})
        reader.join(timeout=15)
        assert got[0] is not None
        assert got[0].value == b"after the cut"
        got[0].ack()
    warnings = [r.getMessage() for r in caplog.records if r.name == "brokerkit.redis"]
    prefix = (
        f"redis at 127.0.0.1:6379: connection lost while reading stream {topic!r} "
        "(group 'loggers'): "
    )
    # (the cut may also be met first by another command, which warns in its own words)
    reads = [w for w in warnings if w.startswith(prefix)]
    assert reads, f"no reconnect warning of the read among {warnings}"
    assert reads[0].endswith("; reconnect attempt 1")


def _start_redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            *("redis-server", "--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--dir", str(workdir), "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, what="the private redis-server")
    return proc


@pytest.mark.redis
def test_redis_warns_on_each_reconnect_attempt_of_a_send(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("redis")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = _start_redis(port, tmp_path)
    try:
        caplog.set_level(logging.WARNING, logger="brokerkit.redis")
        with (
            brokerkit.connect(f"redis://127.0.0.1:{port}/0") as broker,
            broker.producer("log-sends") as producer,
        ):
            producer.send(b"before", wait=True)
            server.kill()
            server.wait(timeout=10)
            sent = threading.Thread(target=lambda: producer.send(b"during", wait=True))
            sent.start()
            time.sleep(0.6)  # the send retries against a closed port meanwhile
            server = _start_redis(port, tmp_path)
            sent.join(timeout=30)
            assert not sent.is_alive()
        warnings = [r.getMessage() for r in caplog.records if r.name == "brokerkit.redis"]
        assert warnings, "no reconnect warning"
        assert warnings[0].startswith(f"redis at 127.0.0.1:{port}: ")
        assert "reconnect attempt 1 of " in warnings[0]
    finally:
        server.kill()
        server.wait(timeout=10)
