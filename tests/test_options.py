"""Option / OptionSchema: merging, coercion and error messages; the shared schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import brokerkit
from brokerkit._options import (
    COMMON_OPTIONS,
    CONSUMER_OPTIONS,
    EMPTY_SCHEMA,
    PRODUCER_OPTIONS,
    Option,
    OptionSchema,
)
from brokerkit._types import Commit, Guarantee
from brokerkit.errors import ConfigurationError

SCHEMA = OptionSchema(
    [
        Option("flag", bool, False),
        Option("count", int, 3, minimum=1),
        Option("ratio", float, 0.5, minimum=0, unit="seconds"),
        Option("name", str, None),
        Option("mode", str, "streams", choices=("streams", "pubsub"), nullable=False),
        Option("guarantee", Guarantee, Guarantee.AT_LEAST_ONCE, nullable=False),
        Option("callback", object, None),
    ]
)


def resolve(query: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    return SCHEMA.resolve(query or {}, kwargs, context="toy consumer")


def test_defaults_fill_every_option() -> None:
    assert resolve() == {
        "flag": False,
        "count": 3,
        "ratio": 0.5,
        "name": None,
        "mode": "streams",
        "guarantee": Guarantee.AT_LEAST_ONCE,
        "callback": None,
    }


def test_keywords_win_over_the_query() -> None:
    opts = resolve({"count": "5", "name": "from-url"}, count=9)
    assert opts["count"] == 9
    assert opts["name"] == "from-url"


def test_query_strings_are_coerced() -> None:
    opts = resolve(
        {
            "flag": "Yes",
            "count": " 12 ",
            "ratio": "0.25",
            "mode": "PubSub",
            "guarantee": "AT_MOST_ONCE",
        }
    )
    assert opts["flag"] is True
    assert opts["count"] == 12
    assert opts["ratio"] == 0.25
    assert opts["mode"] == "pubsub"
    assert opts["guarantee"] is Guarantee.AT_MOST_ONCE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("off", False),
    ],
)
def test_bool_strings(text: str, expected: bool) -> None:
    assert resolve({"flag": text})["flag"] is expected


def test_keyword_values_of_the_right_type() -> None:
    def cb(exc: BaseException) -> None:
        pass

    opts = resolve(
        flag=True, count=2, ratio=1, name="n", guarantee=Guarantee.AT_MOST_ONCE, callback=cb
    )
    assert opts["flag"] is True
    assert opts["count"] == 2
    assert opts["ratio"] == 1.0
    assert isinstance(opts["ratio"], float)
    assert opts["guarantee"] is Guarantee.AT_MOST_ONCE
    assert opts["callback"] is cb


def test_none_accepted_only_when_nullable() -> None:
    assert resolve(name=None)["name"] is None
    assert resolve(count=None)["count"] is None
    with pytest.raises(
        ConfigurationError, match="option 'mode' expects one of 'streams', 'pubsub', got None"
    ):
        resolve(mode=None)


def test_unknown_option_with_suggestion_and_valid_list() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve({"cuont": "1"})
    assert str(info.value) == (
        "unknown option 'cuont' for toy consumer; did you mean 'count'? "
        "valid options: callback, count, flag, guarantee, mode, name, ratio"
    )


def test_unknown_option_without_suggestion() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve(zzzzzz=1)
    assert str(info.value) == (
        "unknown option 'zzzzzz' for toy consumer; "
        "valid options: callback, count, flag, guarantee, mode, name, ratio"
    )


def test_several_unknown_options_are_all_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve({"flga": "1"}, qqq=2)
    message = str(info.value)
    assert "unknown options 'flga' (did you mean 'flag'?), 'qqq' for toy consumer" in message
    assert message.endswith("valid options: callback, count, flag, guarantee, mode, name, ratio")


def test_the_commit_every_example_from_the_docs() -> None:
    schema = COMMON_OPTIONS.extend(*CONSUMER_OPTIONS)
    with pytest.raises(ConfigurationError) as info:
        schema.resolve({}, {"comit_every": 5}, context="redis consumer")
    message = str(info.value)
    assert message.startswith(
        "unknown option 'comit_every' for redis consumer; "
        "did you mean 'commit_every'? valid options: "
    )
    assert ", ".join(schema.names()) in message


@pytest.mark.parametrize(
    ("query", "kwargs", "message"),
    [
        (
            {"flag": "maybe"},
            {},
            "option 'flag' expects true or false (also 1/0, yes/no, on/off) or None, got 'maybe'",
        ),
        (
            {},
            {"flag": 1},
            "option 'flag' expects true or false (also 1/0, yes/no, on/off) or None, got 1",
        ),
        ({"count": "abc"}, {}, "option 'count' expects an integer >= 1 or None, got 'abc'"),
        ({"count": "1.5"}, {}, "option 'count' expects an integer >= 1 or None, got '1.5'"),
        ({}, {"count": 0}, "option 'count' expects an integer >= 1 or None, got 0"),
        ({}, {"count": True}, "option 'count' expects an integer >= 1 or None, got True"),
        ({}, {"count": 2.0}, "option 'count' expects an integer >= 1 or None, got 2.0"),
        (
            {"ratio": "abc"},
            {},
            "option 'ratio' expects a number of seconds >= 0 or None, got 'abc'",
        ),
        ({"ratio": "-1"}, {}, "option 'ratio' expects a number of seconds >= 0 or None, got '-1'"),
        (
            {"ratio": "nan"},
            {},
            "option 'ratio' expects a number of seconds >= 0 or None, got 'nan'",
        ),
        (
            {},
            {"ratio": False},
            "option 'ratio' expects a number of seconds >= 0 or None, got False",
        ),
        ({}, {"name": 5}, "option 'name' expects a string or None, got 5"),
        ({"mode": "fifo"}, {}, "option 'mode' expects one of 'streams', 'pubsub', got 'fifo'"),
        (
            {"guarantee": "exactly-once"},
            {},
            "option 'guarantee' expects one of 'at-least-once', 'at-most-once', got 'exactly-once'",
        ),
    ],
)
def test_bad_values(query: dict[str, str], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve(query, **kwargs)
    assert str(info.value) == message


def test_object_options_are_keyword_only() -> None:
    with pytest.raises(ConfigurationError, match="option 'callback' is keyword-only") as info:
        resolve({"callback": "print"})
    assert "URL query" in str(info.value)
    # ... even when a keyword also gives it
    with pytest.raises(ConfigurationError, match="keyword-only"):
        resolve({"callback": "print"}, callback=print)


def test_connect_timeout_message_from_the_docs() -> None:
    with pytest.raises(ConfigurationError) as info:
        COMMON_OPTIONS.resolve({"connect_timeout": "abc"}, {}, context="redis connection")
    assert str(info.value) == "option 'connect_timeout' expects a number of seconds > 0, got 'abc'"


def test_schema_basics() -> None:
    assert SCHEMA.names() == sorted(SCHEMA.names())
    assert "count" in SCHEMA
    assert "nope" not in SCHEMA
    assert [o.name for o in SCHEMA][:2] == ["flag", "count"]
    assert SCHEMA.get("count").minimum == 1
    with pytest.raises(KeyError):
        SCHEMA.get("nope")
    assert len(EMPTY_SCHEMA) == 0
    assert EMPTY_SCHEMA.resolve({}, {}, context="x") == {}


def test_extend_returns_a_new_schema_and_replaces_same_names() -> None:
    base = OptionSchema([Option("a", int, 1), Option("b", str, "x")])
    extended = base.extend(Option("a", int, 2), Option("c", bool, True))
    assert base.names() == ["a", "b"]
    assert base.get("a").default == 1
    assert extended.names() == ["a", "b", "c"]
    assert extended.get("a").default == 2
    assert extended.resolve({}, {}, context="x") == {"a": 2, "b": "x", "c": True}


def test_empty_schema_rejects_everything() -> None:
    with pytest.raises(
        ConfigurationError, match=r"unknown option 'x' for memory producer; valid options: \(none\)"
    ):
        EMPTY_SCHEMA.resolve({"x": "1"}, {}, context="memory producer")


# --- the shared schemas ---------------------------------------------------------------


def test_common_options() -> None:
    opts = COMMON_OPTIONS.resolve({"connect_timeout": "2.5", "client_id": "me"}, {}, context="c")
    assert opts == {
        "connect_timeout": 2.5,
        "close_timeout": 10.0,
        "reconnect_timeout": 30.0,
        "client_id": "me",
        "instrumentation": None,
    }
    assert COMMON_OPTIONS.get("connect_timeout").doc == "seconds to wait for the broker"
    with pytest.raises(ConfigurationError, match="connect_timeout"):
        COMMON_OPTIONS.resolve({}, {"connect_timeout": -1}, context="c")


#: Options named *_timeout where 0 means something other than "no time at all".
ZERO_MEANS_SOMETHING = {"reconnect_timeout": "0: do not retry a lost connection"}


@pytest.mark.parametrize("value", [0, "0", 0.0, -0.5])
def test_every_timeout_must_be_positive(value: object) -> None:
    """A timeout of 0 used to be accepted (connect_timeout=0 then failed with "Error 115
    ... Operation now in progress"): every *_timeout option refuses 0, saying it wants
    a number > 0."""
    from brokerkit._registry import builtin_schemes, get_backend

    schemas = [COMMON_OPTIONS, CONSUMER_OPTIONS, PRODUCER_OPTIONS]
    for scheme in builtin_schemes():
        spec = get_backend(scheme)
        schemas += [spec.options, spec.producer_options, spec.consumer_options]
    checked = set()
    for schema in schemas:
        for option in schema:
            if not option.name.endswith("_timeout") or option.name in ZERO_MEANS_SOMETHING:
                continue
            checked.add(option.name)
            with pytest.raises(ConfigurationError) as info:
                schema.resolve({}, {option.name: value}, context="c")
            assert f"option {option.name!r} expects a number of seconds >" in str(info.value)
            assert repr(value) in str(info.value)
    assert {"connect_timeout", "close_timeout"} <= checked


def test_connect_with_a_zero_timeout_says_it_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match=r"'connect_timeout' expects .* > 0, got 0"):
        brokerkit.connect("memory://", connect_timeout=0)


def test_producer_options() -> None:
    defaults = PRODUCER_OPTIONS.resolve({}, {}, context="p")
    assert defaults == {
        "guarantee": Guarantee.AT_LEAST_ONCE,
        "batch_size": 1000,
        "linger": 0.0,
        "max_in_flight": 8,
        "buffer_size": 20_000,
        "delivery_timeout": 15.0,
        "max_message_bytes": None,
    }
    resolved = PRODUCER_OPTIONS.resolve(
        {"linger": "0.005"}, {"guarantee": "at-most-once"}, context="p"
    )
    assert resolved["guarantee"] is Guarantee.AT_MOST_ONCE
    assert resolved["linger"] == 0.005
    with pytest.raises(ConfigurationError, match="option 'batch_size'"):
        PRODUCER_OPTIONS.resolve({}, {"batch_size": 0}, context="p")
    with pytest.raises(ConfigurationError, match="option 'guarantee'"):
        PRODUCER_OPTIONS.resolve({}, {"guarantee": None}, context="p")


def test_consumer_options_defaults() -> None:
    assert CONSUMER_OPTIONS.resolve({}, {}, context="c") == {
        "guarantee": Guarantee.AT_LEAST_ONCE,
        "commit": Commit.ASYNC,
        "commit_every": None,
        "commit_interval": None,
        "prefetch": 256,
        "prefetch_bytes": 2 << 20,
        "max_deliveries": None,
        "dead_letter_topic": None,
        "on_commit_error": None,
    }


def test_consumer_options_coercion_and_limits() -> None:
    handler: Callable[[BaseException], None] = print
    opts = CONSUMER_OPTIONS.resolve(
        {"commit": "sync", "commit_every": "10", "commit_interval": "0.5", "prefetch": "1"},
        {"max_deliveries": 3, "dead_letter_topic": "dlq", "on_commit_error": handler},
        context="redis consumer",
    )
    assert opts["commit"] is Commit.SYNC
    assert opts["commit_every"] == 10
    assert opts["commit_interval"] == 0.5
    assert opts["prefetch"] == 1
    assert opts["max_deliveries"] == 3
    assert opts["dead_letter_topic"] == "dlq"
    assert opts["on_commit_error"] is handler
    for name, bad in [
        ("commit_every", 0),
        ("prefetch", 0),
        ("max_deliveries", 0),
        ("commit_interval", -0.1),
    ]:
        with pytest.raises(ConfigurationError, match=f"option '{name}' expects"):
            CONSUMER_OPTIONS.resolve({}, {name: bad}, context="redis consumer")
    with pytest.raises(ConfigurationError, match="keyword-only"):
        CONSUMER_OPTIONS.resolve({"on_commit_error": "x"}, {}, context="redis consumer")
