"""BrokerURL / make_url: parsing, rendering, masking and error messages."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from brokerkit._url import BrokerURL, make_url
from brokerkit.errors import ConfigurationError

SECRET = "s3cr3t-Pa55"


def test_simple_redis_url() -> None:
    url = make_url("redis://localhost:6379/0")
    assert url.scheme == "redis"
    assert url.hosts == (("localhost", 6379),)
    assert (url.host, url.port) == ("localhost", 6379)
    assert url.username is None
    assert url.password is None
    assert url.path == "0"
    assert url.query == ()
    assert url.query_dict == {}


def test_scheme_is_lower_cased() -> None:
    assert make_url("REDIS://h").scheme == "redis"


def test_surrounding_whitespace_is_ignored() -> None:
    assert make_url("  redis://h:1/2\n") == make_url("redis://h:1/2")


def test_multi_host() -> None:
    url = make_url("kafka://h1:9092,h2:9093,h3")
    assert url.hosts == (("h1", 9092), ("h2", 9093), ("h3", None))
    assert url.host == "h1"
    assert url.port == 9092
    assert url.endpoints() == ["h1:9092", "h2:9093", "h3"]


def test_ipv6_hosts() -> None:
    url = make_url("redis://[::1]:6379/0")
    assert url.hosts == (("::1", 6379),)
    assert url.endpoints() == ["[::1]:6379"]
    assert str(url) == "redis://[::1]:6379/0"
    assert make_url("nats://[fe80::1],[::2]:4222").hosts == (("fe80::1", None), ("::2", 4222))


def test_percent_decoded_credentials() -> None:
    url = make_url("amqp://us%40r:p%40ss@h/vh")
    assert url.username == "us@r"
    assert url.password == "p@ss"
    assert url.hosts == (("h", None),)
    assert url.path == "vh"


def test_raw_at_and_slash_in_password_still_parse() -> None:
    url = make_url("redis://user:pa/ss@word@host:1/2")
    assert url.username == "user"
    assert url.password == "pa/ss@word"
    assert url.hosts == (("host", 1),)
    assert url.path == "2"


def test_password_without_user() -> None:
    url = make_url(f"redis://:{SECRET}@127.0.0.1:6379/0")
    assert url.username is None
    assert url.password == SECRET


def test_user_without_password() -> None:
    url = make_url("amqp://guest@h:5672/")
    assert url.username == "guest"
    assert url.password is None
    assert url.path == ""
    assert str(url) == "amqp://guest@h:5672"


def test_memory_urls() -> None:
    anon = make_url("memory://")
    assert anon.hosts == ()
    assert (anon.host, anon.port) == ("", None)
    assert anon.endpoints() == []
    assert str(anon) == "memory://"
    named = make_url("memory://orders-test")
    assert named.host == "orders-test"
    assert str(named) == "memory://orders-test"


def test_query_is_decoded_in_order() -> None:
    url = make_url("redis://h/0?mode=pubsub&client_id=a%20b&flag")
    assert url.query == (("mode", "pubsub"), ("client_id", "a b"), ("flag", ""))
    assert url.query_dict == {"mode": "pubsub", "client_id": "a b", "flag": ""}
    assert url.without_query().query == ()
    assert url.without_query().hosts == url.hosts


def test_path_is_decoded() -> None:
    assert make_url("amqp://h/%2F").path == "/"


def test_make_url_passes_brokerurl_through() -> None:
    url = make_url("redis://h")
    assert make_url(url) is url


def test_with_defaults_fills_every_host() -> None:
    url = make_url("kafka://h1,h2:9999").with_defaults(port=9092, host="localhost")
    assert url.hosts == (("h1", 9092), ("h2", 9999))
    empty_host = make_url("redis://:6380").with_defaults(port=6379, host="localhost")
    assert empty_host.hosts == (("localhost", 6380),)
    no_host = make_url("redis:///1").with_defaults(port=6379, host="localhost")
    assert no_host.hosts == (("localhost", 6379),)
    assert no_host.path == "1"
    assert make_url("memory://").with_defaults(port=1).hosts == ()


def test_brokerurl_is_immutable_and_hashable() -> None:
    url = make_url("redis://h")
    with pytest.raises(dataclasses.FrozenInstanceError):
        url.scheme = "kafka"  # type: ignore[misc]
    assert {url, make_url("redis://h")} == {url}


# --- the password never shows --------------------------------------------------------


def test_repr_and_str_mask_the_password() -> None:
    url = make_url(f"redis://:{SECRET}@127.0.0.1:6379/0")
    assert repr(url) == "BrokerURL('redis://:***@127.0.0.1:6379/0')"
    assert str(url) == "redis://:***@127.0.0.1:6379/0"
    assert url.render() == "redis://:***@127.0.0.1:6379/0"
    assert f"{url}" == "redis://:***@127.0.0.1:6379/0"
    assert SECRET not in repr(url)
    assert SECRET not in repr([url])


def test_dataclass_field_repr_hides_the_password() -> None:
    field = next(f for f in dataclasses.fields(BrokerURL) if f.name == "password")
    assert field.repr is False
    direct = BrokerURL("amqp", (("h", 5672),), "guest", SECRET, "vh")
    assert SECRET not in repr(direct)
    assert repr(direct) == "BrokerURL('amqp://guest:***@h:5672/vh')"


@pytest.mark.parametrize(
    "text",
    [
        f"redis://:{SECRET}@127.0.0.1:6379/0",
        "amqp://us%40r:p%40ss@h:5672/vh?heartbeat=5",
        "kafka://h1:9092,h2:9093?client_id=a%2Cb",
        "redis://user:p%2Fa%3Fss@[::1]:6379/3",
        "amqp://h/%2F",
        "memory://",
        "memory://x",
    ],
)
def test_render_unmasked_round_trips(text: str) -> None:
    url = make_url(text)
    rendered = url.render(hide_password=False)
    assert make_url(rendered) == url
    assert make_url(str(url)).password in (None, "***")


def test_render_unmasked_percent_encodes_credentials() -> None:
    url = BrokerURL("amqp", (("h", None),), "us@r", "p@ss:/?#", "vh")
    assert url.render(hide_password=False) == "amqp://us%40r:p%40ss%3A%2F%3F%23@h/vh"
    assert make_url(url.render(hide_password=False)) == url


def test_pickle_round_trip() -> None:
    url = make_url(f"redis://u:{SECRET}@h:1/2?a=b")
    assert pickle.loads(pickle.dumps(url)) == url


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("localhost:9092", "missing '://'"),
        ("", "empty"),
        ("9redis://h", "not a valid scheme"),
        ("redis://h:abc", "port 'abc' in 'h:abc' is not an integer"),
        ("redis://h:-1", "not an integer"),
        ("redis://h:70000", "out of range (1-65535)"),
        ("redis://h:0", "out of range"),
        ("kafka://h1,,h2", "empty host in the host list"),
        ("kafka://h1,", "empty host"),
        ("kafka://h1,:9092", "missing host name"),
        ("redis://h?a=1&a=2", "query option 'a' is given twice"),
        ("redis://h?=1", "has no name"),
        ("redis://::1:6379", "put IPv6 addresses in brackets"),
        ("redis://[::1:6379", "unclosed '['"),
        ("redis://[::1]x", "unexpected 'x'"),
        ("redis://h/0#frag", "fragment"),
        ("redis://h /0", "whitespace"),
    ],
)
def test_bad_urls_say_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_url(text)
    message = str(info.value)
    assert needle in message
    assert "scheme://[user[:password]@]host[:port]" in message


@pytest.mark.parametrize("value", [None, 42, b"redis://h", ["redis://h"]])
def test_non_str_input(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"must be a str or a brokerkit\.BrokerURL"):
        make_url(value)  # type: ignore[arg-type]


def test_configuration_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="missing '://'"):
        make_url("nope")


@pytest.mark.parametrize(
    "text",
    [
        f"redis://user:{SECRET}@h:abc/0",
        f"redis://:{SECRET}@h:70000",
        f"kafka://u:{SECRET}@h1,,h2",
        f"redis://u:{SECRET}@h?a=1&a=1",
        "redis://u:s3cr%2Dt-Pa55@h:x",  # percent-encoded in the URL
        f"redis://u:{SECRET}@h/0#x",
        "redis://u:sec?ret-Pa55@h:x",  # a raw '?' cuts the password apart
        "redis://u:secret#Pa55@h",  # a raw '#' too
    ],
)
def test_password_never_in_error_messages(text: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        make_url(text)
    message = str(info.value)
    for piece in (SECRET, "s3cr%2Dt", "s3cr-t", "sec?ret", "ret-Pa55", "secret#", "Pa55"):
        assert piece not in message
    assert ":***@" in message


def test_error_message_keeps_user_and_host_visible() -> None:
    with pytest.raises(ConfigurationError) as info:
        make_url(f"redis://alice:{SECRET}@cache.example:nope/0")
    assert "redis://alice:***@cache.example:nope/0" in str(info.value)
