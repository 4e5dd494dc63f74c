"""Processor without a broker: the test client (hooks, handlers, routing, retries,
decoders, settling), SQLiteDLQ, and the `brokerkit dlq` / `brokerkit run` commands."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pydantic
import pytest

import brokerkit
from brokerkit._cli import main
from brokerkit.processor import JSON, HandlingContext, ProcessingContext, Processor, SQLiteDLQ

KINDS = ["sync", "async"]


def register(proc: Processor, matcher: Any, kind: str, body: Any, **options: Any) -> None:
    if kind == "async":

        async def ahandler(message: Any, ctx: HandlingContext) -> None:
            body(message, ctx)

        proc.handle_for(matcher, name=body.__name__, **options)(ahandler)
    else:

        def shandler(message: Any, ctx: HandlingContext) -> None:
            body(message, ctx)

        proc.handle_for(matcher, name=body.__name__, **options)(shandler)


def test_exports() -> None:
    assert brokerkit.Processor is Processor
    assert brokerkit.SQLiteDLQ is SQLiteDLQ
    assert brokerkit.HandlingContext is HandlingContext
    assert brokerkit.ProcessingContext is ProcessingContext


@pytest.mark.parametrize("kind", KINDS)
def test_client_routes_and_settles(kind: str) -> None:
    proc = Processor(retries=0)
    seen: list[bytes] = []

    def greet(message: Any, ctx: HandlingContext) -> None:
        seen.append(message.value)

    def later(message: Any, ctx: HandlingContext) -> None:
        ctx.nack(delay=2.5)

    def reject(message: Any, ctx: HandlingContext) -> None:
        ctx.dead_letter("not today")

    register(proc, lambda m: m.value == b"Hello", kind, greet)
    register(proc, lambda m: m.headers.get("event-type") == "later", kind, later)
    register(proc, lambda m: m.key == b"no", kind, reject)
    with proc.test_client() as client:
        hello = client.send(b"Hello")
        again = client.send("x", headers={"event-type": "later"})
        no = client.send(b"y", key="no")
        nobody = client.send(b"nobody")
    assert seen == [b"Hello"]
    assert client.acked == [hello]
    assert client.nacked == [again]
    assert again.nack_delay == 2.5
    assert client.dead_lettered == [no, nobody]
    assert no.reason == "not today"
    assert nobody.reason is not None
    assert nobody.reason.startswith("no handler matches this message (handlers: 'greet'")
    assert client.unsettled == []


@pytest.mark.parametrize("kind", KINDS)
def test_several_matching_handlers_dead_letter(kind: str) -> None:
    proc = Processor()
    calls: list[str] = []
    register(proc, lambda m: True, kind, lambda m, c: calls.append("a"))
    register(proc, lambda m: m.value == b"both", kind, lambda m, c: calls.append("b"))
    client = proc.test_client()
    both = client.send(b"both")
    one = client.send(b"one")
    client.close()
    assert both in client.dead_lettered
    assert both.reason is not None
    assert "several handlers match" in both.reason
    assert one in client.acked
    assert calls == ["a"]


@pytest.mark.parametrize("kind", KINDS)
def test_raising_handler_is_retried_then_dead_lettered(kind: str) -> None:
    proc = Processor(retries=3, backoff=0.001)
    attempts: list[int] = []

    def flaky(message: Any, ctx: HandlingContext) -> None:
        attempts.append(ctx.attempt)
        if message.value == b"never" or ctx.attempt < 3:
            raise KeyError("photo")

    register(proc, lambda m: True, kind, flaky)
    with proc.test_client() as client:
        ok = client.send(b"eventually")
        bad = client.send(b"never")
    assert ok in client.acked
    assert attempts == [1, 2, 3, 1, 2, 3, 4]
    assert bad in client.dead_lettered
    assert bad.reason == "handler 'flaky' raised KeyError: 'photo' (after 4 attempts)"


def test_retries_per_handler_and_no_retry() -> None:
    proc = Processor(retries=5, backoff=0.001)
    attempts: list[int] = []

    @proc.handle_for(lambda m: True, retries=0, name="once")
    def once_handler(message: Any, ctx: HandlingContext) -> None:
        attempts.append(ctx.attempt)
        raise ValueError

    with proc.test_client() as client:
        m = client.send(b"x")
    assert attempts == [1]
    assert m.reason == "handler 'once' raised ValueError (after 1 attempt)"


class Vote(pydantic.BaseModel):
    photo: int
    voter: str


@pytest.mark.parametrize("kind", KINDS)
def test_decoders_json_and_pydantic(kind: str) -> None:
    proc = Processor(decoder=JSON)
    got: list[Any] = []
    register(proc, lambda m: m.headers.get("t") == "json", kind, lambda p, c: got.append(p))
    register(
        proc, lambda m: m.headers.get("t") == "vote", kind, lambda p, c: got.append(p), decoder=Vote
    )
    register(
        proc, lambda m: m.headers.get("t") == "raw", kind, lambda p, c: got.append(p), decoder=None
    )
    with proc.test_client() as client:
        client.send(b'{"a": [1, 2]}', headers={"t": "json"})
        client.send(b'{"photo": 3, "voter": "ann"}', headers={"t": "vote"})
        raw = client.send(b"\xff", headers={"t": "raw"})
        bad_json = client.send(b"{nope", headers={"t": "json"})
        bad_vote = client.send(b'{"photo": "x"}', headers={"t": "vote"})
    assert got == [{"a": [1, 2]}, Vote(photo=3, voter="ann"), raw]
    assert client.dead_lettered == [bad_json, bad_vote]
    assert bad_json.reason is not None
    assert bad_json.reason.startswith("could not decode the message with JSON")
    assert bad_vote.reason is not None
    assert "PydanticDecoder(Vote)" in bad_vote.reason
    assert "ValidationError" in bad_vote.reason


def test_bad_arguments_say_what_is_accepted() -> None:
    with pytest.raises(TypeError, match="pydantic model class"):
        Processor(decoder=42)
    with pytest.raises(TypeError, match="callable"):
        Processor().handle_for("vote")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retries must be an integer >= 0"):
        Processor(retries=-1)
    with pytest.raises(TypeError, match="add\\(message, reason\\)"):
        Processor().set_dlq(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no handler"):
        Processor().run("memory://", topics="t")
    proc = Processor()
    proc.handle_for(lambda m: True)(lambda m, c: None)
    with pytest.raises(ValueError, match="concurrency must be an integer >= 1"):
        proc.run("memory://", topics="t", concurrency=0)


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_run_in_order_with_state(kind: str) -> None:
    proc = Processor()
    log: list[str] = []

    @proc.before_processing
    def start(pctx: ProcessingContext) -> None:
        pctx.state.n = 0
        log.append("before_processing")

    @proc.after_processing
    async def stop(pctx: ProcessingContext) -> None:
        log.append(f"after_processing n={pctx.state.n}")

    @proc.before_handling
    async def before(pctx: ProcessingContext, hctx: HandlingContext) -> None:
        hctx.state.label = hctx.message.value.decode()
        log.append("before_handling")

    @proc.after_handling
    def after(pctx: ProcessingContext, hctx: HandlingContext) -> None:
        pctx.state.n += 1
        log.append(f"after_handling {hctx.state.label} {hctx.decision}")

    register(proc, lambda m: True, kind, lambda m, c: log.append(f"handler {c.state.label}"))
    with proc.test_client() as client:
        client.send(b"a")
        client.send(b"b")
    assert log == [
        "before_processing",
        "before_handling",
        "handler a",
        "after_handling a (0, None)",
        "before_handling",
        "handler b",
        "after_handling b (0, None)",
        "after_processing n=2",
    ]


def test_failing_before_handling_hook_dead_letters() -> None:
    proc = Processor()
    proc.handle_for(lambda m: True)(lambda m, c: None)

    @proc.before_handling
    def guard(pctx: ProcessingContext, hctx: HandlingContext) -> None:
        raise PermissionError("blocked")

    with proc.test_client() as client:
        m = client.send(b"x")
    assert m.reason is not None
    assert "before_handling hook" in m.reason
    assert "PermissionError: blocked" in m.reason


async def test_async_test_client() -> None:
    proc = Processor(decoder=JSON)

    @proc.handle_for(lambda m: True)
    async def h(payload: Any, ctx: HandlingContext) -> None:
        assert payload == {"photo": 1}

    async with proc.test_client() as client:
        m = await client.asend(b'{"photo": 1}', topic="votes")
    assert m in client.acked
    assert m.topic == "votes"


# -- SQLiteDLQ ---------------------------------------------------------------------------


class Msg:
    def __init__(self, value: bytes, key: bytes | None, topic: str = "t") -> None:
        self.value, self.key, self.topic, self.id = value, key, topic, "1-0"
        self.headers = {"event-type": "vote"}


def test_sqlite_dlq_keeps_everything_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "dlq.db"
    with SQLiteDLQ(path) as dlq:
        dlq.add(Msg(b"v1", b"k1"), "reason one")
        dlq.add(Msg(b"v2", None, topic="u"), "reason two")
    with SQLiteDLQ(path) as again:  # a restart
        entries = again.list()
        assert [(e.value, e.key, e.topic, e.reason) for e in entries] == [
            (b"v1", b"k1", "t", "reason one"),
            (b"v2", None, "u", "reason two"),
        ]
        assert entries[0].headers == {"event-type": "vote"}
        assert entries[0].time > 0
        assert again.remove([entries[0].id]) == 1
        assert len(again) == 1


def test_sqlite_dlq_is_safe_with_concurrent_writers(tmp_path: Path) -> None:
    dlq = SQLiteDLQ(tmp_path / "dlq.db")

    def write(n: int) -> None:
        for i in range(50):
            dlq.add(Msg(f"{n}-{i}".encode(), None), "r")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(dlq) == 400
    assert len({e.value for e in dlq.list()}) == 400
    dlq.close()


# -- commands ----------------------------------------------------------------------------


def test_dlq_list_and_replay_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"memory://dlq-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "dlq.db"
    with SQLiteDLQ(path) as dlq:
        dlq.add(Msg(b'{"photo": 1}', b"k"), "handler 'count' raised ValueError: x")
        dlq.add(Msg(b"two", None, topic="other"), "no handler matches")
    assert main(["dlq", "list", str(path)]) == 0
    out = capsys.readouterr()
    assert "handler 'count' raised ValueError: x" in out.out
    assert '{"photo": 1}' in out.out
    assert "2 dead letter(s)" in out.err
    assert main(["dlq", "list", "--json", str(path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["topic"] for r in rows] == ["t", "other"]

    with brokerkit.connect(url) as broker:
        consumer = broker.consumer("t", group="g")
        other = broker.consumer("other", group="g")
        with consumer, other:
            assert main(["dlq", "replay", str(path), "--url", url]) == 0
            m = consumer.receive(timeout=5)
            assert m is not None
            assert (m.value, m.key, m.headers) == (b'{"photo": 1}', b"k", {"event-type": "vote"})
            m2 = other.receive(timeout=5)
            assert m2 is not None
            assert m2.value == b"two"
    with SQLiteDLQ(path) as dlq:
        assert len(dlq) == 0
    assert main(["dlq", "list", str(tmp_path / "missing.db")]) == 1


async def test_sync_send_inside_a_loop_says_to_use_asend() -> None:
    proc = Processor()
    proc.handle_for(lambda m: True)(lambda m, c: None)
    client = proc.test_client()
    with pytest.raises(RuntimeError, match="asend"):
        client.send(b"x")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("handlers", [1, 2])
def test_a_matcher_that_raises_dead_letters(kind: str, handlers: int) -> None:
    proc = Processor()
    register(proc, lambda m: json.loads(m.value)["type"] == "a", kind, lambda m, c: None)
    if handlers == 2:
        register(proc, lambda m: m.value == b"b", kind, lambda m, c: None)
    with proc.test_client() as client:
        good = client.send(b'{"type": "a"}')
        other = client.send(b'{"type": "c"}')
        bad = client.send(b"not json")
    assert client.acked == [good]
    assert other.reason is not None
    assert other.reason.startswith("no handler matches")
    assert bad.reason is not None
    assert bad.reason.startswith("the matcher of handler '<lambda>' raised JSONDecodeError")


@pytest.mark.parametrize("kind", KINDS)
def test_one_handler_with_a_decoder(kind: str) -> None:
    """The single-handler fast path: the matcher runs once, decoding and its errors as
    with several handlers."""
    proc = Processor(decoder=Vote)
    calls: list[bytes] = []
    got: list[Any] = []

    def matcher(message: Any) -> bool:
        calls.append(message.value)
        return bool(message.headers.get("t") == "vote")

    register(proc, matcher, kind, lambda p, c: got.append((p, c.message.value)))
    with proc.test_client() as client:
        ok = client.send(b'{"photo": 1, "voter": "a"}', headers={"t": "vote"})
        bad = client.send(b'{"photo": 1}', headers={"t": "vote"})
        client.send(b"x")
    assert client.acked == [ok]
    assert got == [(Vote(photo=1, voter="a"), ok.value)]
    assert bad.reason is not None
    assert "PydanticDecoder(Vote)" in bad.reason
    assert calls == [ok.value, bad.value, b"x", b"x"]  # once each; twice for the reason
