"""``nats://host:port`` and ``tls://host:port``: NATS JetStream through nats-py (asyncio),
or core NATS with ``?jetstream=false``.

JetStream (default): a stream per topic, created on first use (or an existing stream that
already captures the topic's subject); a durable pull consumer per group with explicit
acks; PubAcks pipelined (``publish_async``). Core NATS: plain subjects, queue groups for
the members of a group, at-most-once only. The sync API runs the async driver through the
background-loop portal. This module never imports nats-py. See docs/backends/nats.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._options import Option, OptionSchema
from ..._spec import BackendSpec
from ..._types import Capabilities
from ..._url import BrokerURL
from .._tls import tls_options

JETSTREAM = Capabilities(
    persistent=True,  # storage="file" (the default); "memory" streams do not survive a restart
    consumer_groups=True,
    ordered=True,
    replay=True,  # deliver_policy="all" (the default); "new" turns it off
    at_least_once=True,
    at_most_once=True,
    idempotent_produce=True,  # message_id -> Nats-Msg-Id, deduplicated within duplicate_window
    headers=True,
    nack_delay=True,  # NAK with a delay
    delivery_count=True,  # from the ack subject of every delivery
    native_dead_letter=False,
    cumulative_ack=False,
)

CORE = Capabilities(
    persistent=False,
    consumer_groups=True,  # queue groups
    ordered=True,
    replay=False,
    at_least_once=False,
    at_most_once=True,
    idempotent_produce=False,
    headers=True,
    nack_delay=False,
    delivery_count=False,
    native_dead_letter=False,
    cumulative_ack=False,
)


def flag(value: Any) -> bool:
    """An option's truth, whether resolved (bool) or still the URL's text ("false")."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off")
    return bool(value)


def capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    """JetStream (default) or core NATS (``?jetstream=false``)."""
    if not flag(options.get("jetstream", True)):
        return CORE
    caps = JETSTREAM
    if options.get("storage") == "memory":
        caps = caps.replace(persistent=False)
    if options.get("deliver_policy") == "new":
        caps = caps.replace(replay=False)
    return caps


#: Connection options shared with memphis:// (same client, same connection handling).
CONNECTION_OPTIONS = [
    Option(
        "request_timeout",
        float,
        5.0,
        "seconds to wait for JetStream API replies (creating streams and consumers) and "
        "for the server to confirm acks with commit='sync'",
        minimum=0.01,
        nullable=False,
        unit="seconds",
    ),
    Option(
        "max_pending_acks",
        int,
        4000,
        "PubAcks a producer may wait for at once (publish_async in flight); a larger batch "
        "waits for earlier acks before it is written",
        minimum=1,
        nullable=False,
    ),
    Option(
        "ping_interval",
        float,
        10.0,
        "seconds between pings; a server that misses two is taken as lost and the client "
        "reconnects",
        minimum=0.1,
        nullable=False,
        unit="seconds",
    ),
    Option(
        "reconnect_wait",
        float,
        0.5,
        "seconds between reconnect attempts to a server",
        minimum=0,
        nullable=False,
        unit="seconds",
    ),
    Option(
        "max_reconnect_attempts",
        int,
        -1,
        "reconnect attempts per server after a lost connection before giving up "
        "(-1: never give up)",
        minimum=-1,
        nullable=False,
    ),
    Option(
        "pending_size",
        int,
        8 << 20,
        "bytes of publishes and acks buffered while reconnecting; beyond that a send fails "
        "with BrokerConnectionError",
        minimum=0,
        nullable=False,
        unit="bytes",
    ),
    *tls_options("tls:// (or any TLS file option)"),
    Option(
        "private_group_ttl",
        float,
        3600.0,
        "a private group (group=None) left behind by a process that died is removed by the "
        "server after this many seconds without a fetch",
        minimum=1,
        nullable=False,
        unit="seconds",
    ),
]

OPTIONS = OptionSchema(
    [
        Option(
            "jetstream",
            bool,
            True,
            "true: JetStream streams and durable consumers (at-least-once); false: core NATS "
            "subjects and queue groups (at-most-once only)",
            nullable=False,
        ),
        Option(
            "storage",
            str,
            "file",
            "where a stream created by brokerkit keeps its messages: 'file' or 'memory'",
            choices=("file", "memory"),
            nullable=False,
        ),
        Option(
            "replicas",
            int,
            1,
            "replicas of a stream created by brokerkit (clustered JetStream; 1 on a single server)",
            minimum=1,
            nullable=False,
        ),
        Option(
            "max_age",
            float,
            None,
            "a stream created by brokerkit drops messages older than this (None: no limit)",
            minimum=0.001,
            unit="seconds",
        ),
        Option(
            "max_msgs",
            int,
            None,
            "a stream created by brokerkit keeps at most this many messages, dropping the "
            "oldest (None: no limit)",
            minimum=1,
        ),
        Option(
            "max_bytes",
            int,
            None,
            "a stream created by brokerkit keeps at most this many bytes, dropping the oldest "
            "messages (None: no limit)",
            minimum=1,
            unit="bytes",
        ),
        Option(
            "duplicate_window",
            float,
            120.0,
            "seconds a stream created by brokerkit remembers message ids "
            "(send(..., message_id=...)) to drop repeats",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "ack_wait",
            float,
            30.0,
            "seconds a delivered, unacked message stays with its consumer before JetStream "
            "delivers it again (also a consumer option)",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "max_deliver",
            int,
            None,
            "JetStream's own delivery limit for a group's consumer: after this many deliveries "
            "a message is no longer delivered (and not dead-lettered; use max_deliveries and "
            "dead_letter_topic for that). None: no limit (also a consumer option)",
            minimum=1,
        ),
        Option(
            "max_ack_pending",
            int,
            20000,
            "delivered but unacked messages a group's consumer may have before JetStream "
            "pauses delivery (also a consumer option)",
            minimum=1,
            nullable=False,
        ),
        Option(
            "deliver_policy",
            str,
            "all",
            "where a new group starts: 'all' (every message still in the stream; replay) or "
            "'new' (only messages published after the group was created)",
            choices=("all", "new"),
            nullable=False,
        ),
        Option(
            "max_wait",
            float,
            5.0,
            "longest pull request a consumer leaves open on the server while it waits for "
            "messages (a longer receive() sends a new one)",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        *CONNECTION_OPTIONS,
    ]
)

CONSUMER_OPTIONS = OptionSchema(
    [
        Option(
            "ack_wait",
            float,
            None,
            "overrides the connection's ack_wait for this consumer's group",
            minimum=0.01,
            unit="seconds",
        ),
        Option(
            "max_deliver",
            int,
            None,
            "overrides the connection's max_deliver for this consumer's group",
            minimum=1,
        ),
        Option(
            "max_ack_pending",
            int,
            None,
            "overrides the connection's max_ack_pending for this consumer's group",
            minimum=1,
        ),
    ]
)

spec: BackendSpec = BackendSpec(
    name="nats",
    schemes=("nats", "tls"),
    capabilities=capabilities,
    async_driver="brokerkit.backends.nats._driver:AsyncNatsDriver",
    sync_driver=None,
    options=OPTIONS,
    consumer_options=CONSUMER_OPTIONS,
    extra="nats",
    requires=("nats",),
    default_port=4222,
    description="NATS JetStream (streams, durable pull consumers); ?jetstream=false for core NATS",
    test_variants={
        "nats": "nats://127.0.0.1:4222?ack_wait=5",
        "nats-core": "nats://127.0.0.1:4222?jetstream=false",
    },
    test_cleanup="brokerkit.backends.nats._cleanup:cleanup",
    test_setup="brokerkit.backends.nats._testing:test_server",
    bench_baseline="brokerkit.bench.baselines.nats:BASELINE",
    inspector="brokerkit.backends.nats._inspect",
)
