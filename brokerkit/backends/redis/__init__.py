"""``redis://host:port/db`` and ``rediss://`` (TLS): Redis Streams, or Pub/Sub with
``?mode=pubsub``, through the ``redis`` client library (its asyncio client for the async
API, its sync client for the sync API).

This module only describes the backend; it never imports the client library, so
``import brokerkit`` does not import redis. See docs/backends/redis.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._options import Option, OptionSchema
from ..._spec import BackendSpec
from ..._types import Capabilities
from ..._url import BrokerURL
from .._tls import tls_options

STREAMS = Capabilities(
    persistent=True,  # as far as the server persists its data set (see the docs page)
    consumer_groups=True,
    ordered=True,
    replay=True,  # group_start="earliest" (the default); "latest" turns it off
    at_least_once=True,
    at_most_once=True,
    idempotent_produce=False,
    headers=True,
    nack_delay=True,
    delivery_count=True,
    native_dead_letter=False,
)

PUBSUB = Capabilities(
    persistent=False,
    consumer_groups=False,
    ordered=True,
    replay=False,
    at_least_once=False,
    at_most_once=True,
    idempotent_produce=False,
    headers=True,
    nack_delay=False,
    delivery_count=False,
    native_dead_letter=False,
)


def capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    """The capability row for this URL: Streams (default) or Pub/Sub (``?mode=pubsub``)."""
    if options.get("mode") == "pubsub":
        return PUBSUB
    if options.get("group_start") == "latest":
        return STREAMS.replace(replay=False)
    return STREAMS


OPTIONS = OptionSchema(
    [
        Option(
            "mode",
            str,
            "streams",
            "'streams': a Redis Stream per topic with consumer groups (at-least-once); "
            "'pubsub': Redis Pub/Sub channels (at-most-once only, no groups)",
            choices=("streams", "pubsub"),
            nullable=False,
        ),
        Option(
            "maxlen",
            int,
            None,
            "trim each stream to about this many entries on XADD (MAXLEN ~); None: no trimming",
            minimum=1,
        ),
        Option(
            "max_age",
            float,
            None,
            "trim each stream of entries older than about this many seconds on XADD "
            "(MINID ~); None: no age limit (give maxlen or max_age, not both)",
            minimum=0,
            positive=True,
            unit="seconds",
        ),
        Option(
            "visibility_timeout",
            float,
            30.0,
            "seconds a delivered, unacked message stays with its consumer before another "
            "member of the group may claim it (XAUTOCLAIM); also a consumer option",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "claim_interval",
            float,
            1.0,
            "a busy consumer looks for claimable messages (XAUTOCLAIM) at least this often, "
            "and whenever a fetch finds no new message",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "group_start",
            str,
            "earliest",
            "where a new group starts: 'earliest' (every entry still in the stream; replay) "
            "or 'latest' (only entries added after the group was created)",
            choices=("earliest", "latest"),
            nullable=False,
        ),
        Option(
            "value_field",
            str,
            "v",
            "the stream entry field read as the message value (brokerkit writes 'v'); "
            "set it to read entries written by other programs, e.g. 'data' for "
            "XADD topic * data ...; see docs/interop.md",
            nullable=False,
        ),
        Option(
            "key_prefix",
            str,
            "",
            "prepended to the topic to make the stream key / channel name",
            nullable=False,
        ),
        Option(
            "reconnect_timeout",
            float,
            30.0,
            "seconds an operation keeps retrying a lost connection (exponential backoff, "
            "50 ms to 1 s) before raising BrokerConnectionError",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "socket_timeout",
            float,
            10.0,
            "seconds to wait for a reply before the connection counts as lost (and is retried)",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        *tls_options("rediss://"),
    ]
)

CONSUMER_OPTIONS = OptionSchema(
    [
        Option(
            "visibility_timeout",
            float,
            None,
            "overrides the connection's visibility_timeout for this consumer",
            minimum=0.01,
            unit="seconds",
        ),
    ]
)

spec: BackendSpec = BackendSpec(
    name="redis",
    schemes=("redis", "rediss"),
    capabilities=capabilities,
    async_driver="brokerkit.backends.redis._async.driver:AsyncRedisDriver",
    sync_driver="brokerkit.backends.redis._sync.driver:SyncRedisDriver",
    options=OPTIONS,
    consumer_options=CONSUMER_OPTIONS,
    extra="redis",
    requires=("redis",),
    default_port=6379,
    description="Redis Streams with consumer groups; ?mode=pubsub for Pub/Sub",
    test_variants={
        "redis": "redis://127.0.0.1:6379/0",
        "redis-pubsub": "redis://127.0.0.1:6379/0?mode=pubsub",
    },
    test_cleanup="brokerkit.backends.redis._testing:cleanup",
    bench_baseline="brokerkit.bench.baselines.redis:BASELINE",
    inspector="brokerkit.backends.redis._inspect",
)
