"""tools/unasync.py: finds the _async trees itself, renames in docstrings too, and fails on
a rename rule that matches nothing (a stale table)."""

from __future__ import annotations

from pathlib import Path

import pytest

import brokerkit
from tools import unasync as gen

ROOT = Path(__file__).resolve().parent.parent


def test_every_async_tree_is_found_without_a_list() -> None:
    trees = gen.discover_trees()
    for tree in (
        "brokerkit",
        "brokerkit/backends/memory",
        "brokerkit/backends/redis",
        "brokerkit/testing",
        "brokerkit/bench",
    ):
        assert tree in trees
    assert all((ROOT / tree / "_async").is_dir() for tree in trees)


def test_a_new_async_tree_is_picked_up(tmp_path: Path) -> None:
    (tmp_path / "brokerkit" / "backends" / "toy" / "_async").mkdir(parents=True)
    (tmp_path / "brokerkit" / "_async").mkdir(parents=True)
    assert gen.discover_trees(tmp_path) == ["brokerkit", "brokerkit/backends/toy"]


def test_a_rename_rule_that_matches_nothing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(gen.RENAMES, "AsyncGoneForGood", "GoneForGood")
    with pytest.raises(gen.UnusedRenameError, match="AsyncGoneForGood"):
        gen.generate(tmp_path)
    assert not any(tmp_path.rglob("*.py")), "nothing is written when the table is stale"
    assert gen.main(["--check"]) == 1
    assert "AsyncGoneForGood" in capsys.readouterr().err


@pytest.mark.parametrize(
    "obj",
    [
        brokerkit.Broker,
        brokerkit.Producer,
        brokerkit.Consumer,
        brokerkit.Message,
        brokerkit.Producer.send,
        brokerkit.Consumer.receive,
        brokerkit.Broker.producer,
    ],
)
def test_generated_sync_docstrings_speak_of_sync_names(obj: object) -> None:
    doc = obj.__doc__ or ""
    assert doc
    for async_name in ("AsyncBroker", "AsyncProducer", "AsyncConsumer", "connect_async", "await "):
        assert async_name not in doc, f"{obj!r}: {doc!r}"


def test_producer_doc_names_the_sync_broker() -> None:
    assert "Broker.producer()" in (brokerkit.Producer.__doc__ or "")
    assert "AsyncBroker.producer()" in (brokerkit.AsyncProducer.__doc__ or "")
