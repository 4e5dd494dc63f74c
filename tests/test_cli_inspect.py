"""``brokerkit inspect`` and ``brokerkit ping`` end to end on the brokers that have their
own inspector module here (nats://, memphis://, amqp://, kafka://; memory:// and redis://
are in tests/test_cli.py): produce N, consume and ack some in a group, and the command
shows the retained messages and the group's lag/pending as the real broker reports them;
ping shows the server. The inspector is a field of the backend's spec.
"""

from __future__ import annotations

import io
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

import brokerkit
from brokerkit import _registry
from brokerkit._cli import main
from brokerkit.testing import SESSION_PREFIX
from brokerkit.testing._support import unreachable

N, ACKED = 5, 2

#: variant -> what ``ping``'s server line starts with.
SERVERS = {
    "nats": "nats-server ",
    "memphis": "nats-server ",
    "amqp": "RabbitMQ ",
    "kafka": "Kafka-protocol cluster ",
}


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def produce_one(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    topic: str,
    i: int,
) -> None:
    # One command per message: Tansu reports the high watermark of a partition as the start
    # of its last record batch, so the Kafka test writes one batch per message.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"m{i}\n".encode())))
    status = main(["produce", url, topic])
    _, err = capsys.readouterr()
    assert status == 0, err


def session_url(request: pytest.FixtureRequest, name: str) -> str:
    """The session's URL of variant ``name`` (a broker the spec's test_setup started, or
    the shared one), checked to answer."""
    spec = _registry.get_backend(name)
    assert spec.inspector is not None
    try:
        got: str = request.getfixturevalue("_variant_session").url(name)
    except FileNotFoundError as exc:  # no tansu binary
        pytest.skip(str(exc))
    try:
        brokerkit.connect(got, connect_timeout=5).close()
    except brokerkit.BrokerError as exc:
        unreachable(got, exc)
    return got


@pytest.fixture(
    params=[pytest.param(name, marks=getattr(pytest.mark, name)) for name in SERVERS],
)
def url(request: pytest.FixtureRequest) -> str:
    return session_url(request, request.param)


def test_ping_shows_the_server_version(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, err = run(capsys, monkeypatch, "ping", url, "--json")
    assert status == 0, err
    report = json.loads(out)
    scheme = url.partition(":")[0]
    assert report["server"].startswith(SERVERS[scheme]), report
    assert report["client"]
    status, out, err = run(capsys, monkeypatch, "ping", url)
    assert status == 0, err
    assert f"  server: {SERVERS[scheme]}" in out
    assert "no inspector" not in out


def test_inspect_shows_messages_and_the_groups_lag(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme = url.partition(":")[0]
    topic = f"{SESSION_PREFIX}insp-{uuid.uuid4().hex[:8]}"
    consume = ("consume", url, topic, "--group", "workers")
    if scheme == "amqp":  # a group's queue only gets what comes after it is bound
        status, _, err = run(capsys, monkeypatch, *consume, "--idle-timeout", "0.1")
        assert status == 0, err
    for i in range(N):
        produce_one(capsys, monkeypatch, url, topic, i)
    status, out, err = run(
        capsys, monkeypatch, *consume, "--count", str(ACKED), "--idle-timeout", "30"
    )
    assert status == 0, err
    assert len(out.splitlines()) == ACKED

    status, out, err = run(capsys, monkeypatch, "inspect", url, topic, "-g", "workers", "--json")
    assert status == 0, err
    info: dict[str, Any] = json.loads(out)
    assert info["exists"] is True
    (workers,) = info["groups"]
    assert workers["name"] == "workers"
    assert workers["lag"] == N - ACKED  # not delivered to the group yet
    assert workers["consumers"] == 0  # the consume command is gone
    if scheme in ("nats", "memphis"):
        assert info["messages"] == N
        assert (info["first_id"], info["last_id"]) == ("1", str(N))
        assert info["bytes"] > 0
        assert workers["pending"] == 0  # acked
        assert workers["last_delivered"] == str(ACKED)
        assert workers["redelivered"] == 0
    elif scheme == "kafka":
        assert info["messages"] == N
        assert info["partitions"] == [{"partition": 0, "low": 0, "high": N}]
        assert workers["committed"] == {"0": ACKED}
        assert workers["pending"] is None  # Kafka does not tell
    else:  # amqp: the group's queue holds what is ready; an exchange retains nothing
        assert info["messages"] is None
        assert workers["pending"] is None
        assert any("cannot list the queues" in n for n in info["notes"])

    if scheme in ("nats", "memphis"):  # one more delivered and not acked: pending
        status, _, err = run(
            capsys, monkeypatch, *consume, "--count", "1", "--no-ack", "--idle-timeout", "30"
        )
        assert status == 0, err
        status, out, err = run(capsys, monkeypatch, "inspect", url, topic, "--json")
        assert status == 0, err
        (workers,) = json.loads(out)["groups"]
        assert (workers["pending"], workers["lag"]) == (1, N - ACKED - 1)

    # The table, and without --group: AMQP cannot list groups, the others find "workers".
    status, out, err = run(capsys, monkeypatch, "inspect", url, topic)
    assert status == 0, err
    assert f"topic {topic!r}: exists" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("workers")]
    if scheme == "amqp":
        assert rows == []
        assert "no groups" in out
        assert "--group G" in out
    else:
        assert f"{N} message(s) retained" in out
        (row,) = rows
        assert row[3] == str(N - ACKED - (scheme in ("nats", "memphis")))  # the lag column


def test_inspect_a_missing_topic_and_group(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"{SESSION_PREFIX}never-{uuid.uuid4().hex[:8]}"
    status, out, err = run(capsys, monkeypatch, "inspect", url, topic, "--group", "nobody")
    assert status == 0, err
    assert f"topic {topic!r}: does not exist" in out
    assert "group 'nobody': not found on this topic" in out


@pytest.mark.nats
def test_core_nats_says_it_retains_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "nats://127.0.0.1:4222?jetstream=false"
    try:
        brokerkit.connect(url, connect_timeout=5).close()
    except brokerkit.BrokerError as exc:
        unreachable(url, exc)
    status, out, err = run(capsys, monkeypatch, "inspect", url, f"{SESSION_PREFIX}core", "--json")
    assert status == 0, err
    info = json.loads(out)
    assert info["messages"] is None
    assert info["groups"] == []
    assert any("core NATS" in note and "retains no messages" in note for note in info["notes"])
    status, out, err = run(capsys, monkeypatch, "ping", url, "--json")
    assert status == 0, err
    assert json.loads(out)["server"].startswith("nats-server ")


@pytest.mark.parametrize(
    ("url", "where"),
    [
        pytest.param("nats://u:s3cret@127.0.0.1:1", "127.0.0.1:1", marks=pytest.mark.nats),
        pytest.param("amqp://u:s3cret@127.0.0.1:1/", "127.0.0.1:1", marks=pytest.mark.amqp),
        pytest.param("kafka://u:s3cret@127.0.0.1:1", "127.0.0.1:1", marks=pytest.mark.kafka),
    ],
)
def test_an_inspector_error_names_the_server_not_the_password(url: str, where: str) -> None:
    from brokerkit._api import _prepare
    from brokerkit._inspect import get_inspector

    parsed = brokerkit.make_url(url)
    inspector = get_inspector(parsed)
    assert inspector is not None
    options = _prepare(url, {"connect_timeout": 1.0})[2]
    calls: list[Callable[[], object]] = [
        lambda: inspector.server_info(parsed, options),
        lambda: inspector.inspect_topic(parsed, options, "t", ()),
    ]
    for call in calls:
        with pytest.raises(brokerkit.BrokerConnectionError) as caught:
            call()
        assert where in str(caught.value)
        assert "s3cret" not in str(caught.value)


@pytest.mark.memory
def test_a_backend_declares_its_inspector_in_its_spec(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = _registry.get_backend("memory")
    with_one = replace(memory, name="inspected", schemes=("inspected",))
    without = replace(memory, name="plain", schemes=("plain",), inspector=None)
    brokerkit.register_backend("inspected", with_one, replace=True)
    brokerkit.register_backend("plain", without, replace=True)
    try:
        status, out, err = run(capsys, monkeypatch, "ping", "inspected://x")
        assert status == 0, err
        assert "server: in-process broker" in out
        status, out, err = run(capsys, monkeypatch, "inspect", "plain://x", "t")
        assert status == 0, err
        assert "the plain backend has no inspector" in out
        status, out, err = run(capsys, monkeypatch, "ping", "plain://x")
        assert "server: not reported (this backend has no inspector)" in out
    finally:
        brokerkit.unregister_backend("inspected")
        brokerkit.unregister_backend("plain")


@pytest.mark.nats
def test_nats_inspect_finds_the_stream_that_captures_the_subject(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    import nats

    url = session_url(request, "nats")
    stream = f"{SESSION_PREFIX}own-{uuid.uuid4().hex[:8]}"
    topic = f"{stream}.orders"

    async def make() -> None:
        nc = await nats.connect(url.partition("?")[0], connect_timeout=5)
        try:
            await nc.jetstream().add_stream(name=stream, subjects=[f"{stream}.>"])
        finally:
            await nc.close()

    asyncio.run(make())
    for i in range(3):
        produce_one(capsys, monkeypatch, url, topic, i)
    status, out, err = run(capsys, monkeypatch, "inspect", url, topic, "--json")
    assert status == 0, err
    info = json.loads(out)
    assert info["messages"] == 3
    assert any(f"captured by stream {stream!r}" in note for note in info["notes"])


@pytest.mark.parametrize(
    "name",
    [pytest.param("amqp", marks=pytest.mark.amqp), pytest.param("kafka", marks=pytest.mark.kafka)],
)
def test_inspect_counts_a_live_member(
    name: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # (JetStream only tells the pull requests waiting at the moment, not members.)
    url = session_url(request, name)
    topic = f"{SESSION_PREFIX}live-{uuid.uuid4().hex[:8]}"
    with brokerkit.connect(url) as broker, broker.consumer(topic, group="live") as consumer:
        produce_one(capsys, monkeypatch, url, topic, 0)
        message = consumer.receive(timeout=30)  # joined (Kafka: partitions assigned)
        assert message is not None
        status, out, err = run(capsys, monkeypatch, "inspect", url, topic, "-g", "live", "--json")
        assert status == 0, err
        info = json.loads(out)
        (live,) = info["groups"]
        if live["consumers"] is None:  # Tansu: a stable group, its members not listed
            assert name == "kafka"
            assert any("did not list the members" in note for note in info["notes"])
        else:
            assert live["consumers"] == 1
        message.ack()
