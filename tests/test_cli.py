"""The ``brokerkit`` command end to end: ping, backends, produce, consume, inspect, against
memory:// and the real Redis (in process, so memory:// keeps its topics between commands),
and what the shell sees: stderr without markup eating words, no traceback on a closed
pipe, ``python -m brokerkit.demo --help``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import brokerkit
from brokerkit import _registry
from brokerkit._cli import main
from brokerkit._dist import DISTRIBUTION
from brokerkit.testing import SESSION_PREFIX
from brokerkit.testing._support import unreachable

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.memory),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def url(request: pytest.FixtureRequest) -> Iterator[str]:
    tag = uuid.uuid4().hex[:8]
    if request.param == "memory":
        yield f"memory://cli-{tag}"
        return
    pytest.importorskip("redis")
    prefix = f"{SESSION_PREFIX}cli-{tag}-"
    target = f"redis://127.0.0.1:6379/0?key_prefix={prefix}"
    try:
        brokerkit.connect(target, connect_timeout=2).close()
    except brokerkit.BrokerError as exc:
        unreachable(target, exc)
    yield target
    import redis

    with redis.Redis(host="127.0.0.1", port=6379) as client:
        for key in client.scan_iter(match=f"{prefix}*"):
            client.delete(key)


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: bytes = b"",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def subscribe(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str, topic: str
) -> None:
    """Create group "g" on ``topic`` (memory:// groups see what comes after they exist)."""
    status, _, err = run(
        capsys, monkeypatch, "consume", url, topic, "-g", "g", "--idle-timeout", "0.1"
    )
    assert status == 0, err
    assert "received 0 message(s)" in err


def test_produce_lines_then_consume_them(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = b'{"order": 1}\nsecond line\n\xff\xfe binary\n'
    subscribe(capsys, monkeypatch, url, "orders")
    status, _, err = run(
        capsys,
        monkeypatch,
        "produce",
        url,
        "orders",
        "--key",
        "user-1",
        "-H",
        "event-type=created",
        "--header",
        "source=cli",
        stdin=lines,
    )
    assert status == 0, err
    assert "sent 3 message(s) to 'orders'" in err
    status, out, err = run(
        capsys, monkeypatch, "consume", url, "orders", "-g", "g", "--count", "3", "--json",
        "--idle-timeout", "5",
    )  # fmt: skip
    assert status == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert [m["value"] for m in got] == ['{"order": 1}', "second line", None]
    assert got[2]["value_base64"] == "//4gYmluYXJ5"  # b"\xff\xfe binary"
    for message in got:
        assert message["key"] == "user-1"
        assert message["headers"] == {"event-type": "created", "source": "cli"}
        assert message["topic"] == "orders"
        assert message["id"]
    assert "received 3 message(s)" in err


def test_produce_files_and_the_plain_output(
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    first = tmp_path / "a.json"
    first.write_bytes(b'{"multi":\n "line"}')
    subscribe(capsys, monkeypatch, url, "docs")
    status, _, err = run(
        capsys, monkeypatch, "produce", url, "docs", str(first), "-", stdin=b"all of stdin"
    )
    assert status == 0, err
    status, out, err = run(
        capsys, monkeypatch, "consume", url, "docs", "-g", "g", "--count", "2",
        "--idle-timeout", "5",
    )  # fmt: skip
    assert status == 0, err
    printed = out.splitlines()
    assert printed[0].startswith("id=")
    assert printed[0].endswith('value={"multi":')  # the file is one message, newline kept
    assert printed[1] == ' "line"}'
    assert printed[2].endswith("value=all of stdin")
    status, _, err = run(capsys, monkeypatch, "produce", url, "docs", str(tmp_path / "nope"))
    assert status == 2
    assert "cannot read" in err
    assert "nope" in err


def test_consume_no_ack_leaves_messages_to_the_group_and_inspect_shows_them(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ("consume", url, "jobs", "--group", "workers", "--idle-timeout", "3")
    # Subscribe the group first (memory:// groups see what comes after they exist).
    status, _, err = run(capsys, monkeypatch, *args[:5], "--idle-timeout", "0.1")
    assert status == 0, err
    status, _, err = run(capsys, monkeypatch, "produce", url, "jobs", stdin=b"1\n2\n3\n4\n5\n")
    assert status == 0, err
    status, out, err = run(capsys, monkeypatch, *args, "--count", "2", "--no-ack")
    assert status == 0, err
    status, out, err = run(capsys, monkeypatch, "inspect", url, "jobs", "--json")
    assert status == 0, err
    info = json.loads(out)
    assert info["exists"] is True
    groups = {g["name"]: g for g in info["groups"]}
    workers = groups["workers"]
    # Not acked: pending (Redis keeps them with a member) or back to deliver (memory).
    assert workers["pending"] + workers["lag"] >= 2
    status, out, _ = run(capsys, monkeypatch, *args, "--count", "5", "--json")
    assert status == 0
    values = sorted(json.loads(line)["value"] for line in out.splitlines())
    assert values == ["1", "2", "3", "4", "5"]
    status, out, _ = run(capsys, monkeypatch, "inspect", url, "jobs")
    assert status == 0
    assert "topic 'jobs': exists" in out
    row = next(line.split() for line in out.splitlines() if line.strip().startswith("workers"))
    assert row[2:4] == ["0", "0"]  # pending, lag: everything acked


@pytest.mark.redis
def test_consume_reads_an_entry_written_by_redis_cli_style_xadd(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = pytest.importorskip("redis")
    prefix = f"{SESSION_PREFIX}cli-plain-{uuid.uuid4().hex[:8]}-"
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        client.xadd(f"{prefix}t", {"data": b'{"order":1}'})
    except redis.RedisError as exc:
        unreachable("redis://127.0.0.1:6379/0", exc)
    url = f"redis://127.0.0.1:6379/0?key_prefix={prefix}"
    try:
        status, out, err = run(
            capsys, monkeypatch, "consume", url, "t", "--count", "1", "--json",
            "--idle-timeout", "5",
        )  # fmt: skip
        assert status == 0, err
        assert json.loads(out)["value"] == '{"order":1}'
    finally:
        client.delete(f"{prefix}t")
        client.close()


@pytest.mark.redis
def test_pubsub_is_consumed_and_produced_at_most_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = pytest.importorskip("redis")
    prefix = f"{SESSION_PREFIX}cli-pubsub-{uuid.uuid4().hex[:8]}-"
    url = f"redis://127.0.0.1:6379/0?mode=pubsub&key_prefix={prefix}"
    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        client.ping()
    except redis.RedisError as exc:
        unreachable(url, exc)
    consume = subprocess.Popen(
        [
            *(sys.executable, "-m", "brokerkit", "consume", url, "news"),
            *("--count", "2", "--json", "--idle-timeout", "20"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    try:
        deadline = time.monotonic() + 20
        while client.pubsub_numsub(f"{prefix}news")[0][1] == 0:  # wait for the subscription
            assert time.monotonic() < deadline, "the consume command never subscribed"
            assert consume.poll() is None, consume.communicate()
            time.sleep(0.05)
        status, _, err = run(capsys, monkeypatch, "produce", url, "news", stdin=b"one\ntwo\n")
        assert status == 0, err
        assert "at-most-once only" in err
        out, err = consume.communicate(timeout=30)
    finally:
        if consume.poll() is None:
            consume.kill()
        client.close()
    assert consume.returncode == 0, err
    assert [json.loads(line)["value"] for line in out.splitlines()] == ["one", "two"]
    assert "at-most-once" in err


def test_inspect_a_topic_that_does_not_exist(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = run(capsys, monkeypatch, "inspect", url, "never-used")
    assert status == 0, err
    assert "topic 'never-used': does not exist" in out


def test_ping_reports_the_server_and_capabilities(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = run(capsys, monkeypatch, "ping", url)
    assert status == 0, err
    assert ": reachable, connected in " in out
    assert "server: " in out
    assert "capabilities: " in out
    status, out, _ = run(capsys, monkeypatch, "ping", url, "--json")
    report = json.loads(out)
    assert report["reachable"] is True
    assert report["capabilities"]["at_least_once"] is True
    if url.startswith("redis"):
        assert report["server"].startswith("redis-server ")


@pytest.mark.redis
def test_ping_an_unreachable_broker_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("redis")
    status, out, err = run(
        capsys, monkeypatch, "ping", "redis://:s3cret@127.0.0.1:1/0", "--timeout", "1"
    )
    assert status == 1
    assert out == ""
    assert err.startswith("brokerkit ping: error: BrokerConnectionError: ")
    assert "127.0.0.1:1" in err
    assert "s3cret" not in err
    assert "Traceback" not in err


def test_backends_lists_installed_planned_and_missing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = run(capsys, monkeypatch, "backends")
    assert status == 0
    lines = {line.split()[0]: line for line in out.splitlines() if "://" in line[:12]}
    assert "installed" in lines["memory://"]
    for scheme in ("redis", "amqp", "kafka", "nats", "memphis"):
        assert "installed" in lines[f"{scheme}://"]  # every extra is in the test install
    # a scheme only planned says so
    monkeypatch.setitem(_registry.PLANNED_BACKENDS, "sqs", "sqs")
    _registry._clear_caches()
    status, out, _ = run(capsys, monkeypatch, "backends")
    lines = {line.split()[0]: line for line in out.splitlines() if "://" in line[:12]}
    assert "planned" in lines["sqs://"]
    status, out, _ = run(capsys, monkeypatch, "backends", "--json")
    rows = {row["scheme"]: row for row in map(json.loads, out.splitlines())}
    assert rows["memory"]["status"] == "installed"
    assert rows["redis"]["status"] in ("installed", "unusable")
    if rows["redis"]["status"] == "unusable":
        assert f"pip install '{DISTRIBUTION}[redis]'" in rows["redis"]["detail"]


def test_errors_are_plain_text_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    status, out, err = run(capsys, monkeypatch, "ping", "memory://?opt[redis]=1")
    assert status == 2
    assert out == ""
    assert "unknown option 'opt[redis]'" in err
    # The bench prints through rich: the brackets must survive there too.
    pytest.importorskip("rich")
    status, out, err = run(
        capsys, monkeypatch, "bench", "memory://?opt[redis]=1", "-o", str(tmp_path)
    )
    assert status == 2
    assert "opt[redis]" in err
    assert "opt[redis]" not in out
    status, _, err = run(capsys, monkeypatch, "consume", "memory://", "t", "--count", "0")
    assert status == 2
    assert "--count must be >= 1" in err


def _closed_pipe(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m ARGV`` with its stdout a pipe nobody reads (``| head``)."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [sys.executable, "-m", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    _, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)


@pytest.mark.parametrize(
    "argv",
    [
        ("brokerkit", "bench", "--list-workloads"),
        ("brokerkit.bench", "--list-workloads"),
        ("brokerkit", "backends"),
        ("brokerkit", "ping", "memory://"),
    ],
)
def test_a_closed_pipe_ends_quietly(argv: tuple[str, ...]) -> None:
    result = _closed_pipe(*argv)
    assert b"Traceback" not in result.stderr, result.stderr.decode()
    assert b"BrokenPipe" not in result.stderr, result.stderr.decode()
    assert result.returncode == 0


def test_log_level_shows_the_library_log_on_stderr() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "brokerkit", "ping", "memory://cli-log", "--log-level", "info"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "INFO brokerkit.memory: connected to the in-process broker 'cli-log'" in result.stderr
    assert "brokerkit.memory" not in result.stdout


def test_the_demo_prints_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "brokerkit.demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m brokerkit.demo")
    assert "URL" in result.stdout
