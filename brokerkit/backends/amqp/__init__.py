"""``amqp://user:pass@host:port/vhost`` and ``amqps://`` (TLS): RabbitMQ (AMQP 0-9-1)
through aio-pika's robust connections.

A topic is a durable exchange; a group is a durable queue bound to it (so every group gets
every message and the members of a group share them); messages are persistent and
publisher-confirmed (at-least-once). ``declare=false`` uses an existing topology instead.
The sync API runs the async driver through the core's portal (``sync_driver=None``).

This module only describes the backend; it never imports aio-pika, so ``import brokerkit``
does not. See docs/backends/amqp.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._options import Option, OptionSchema
from ..._spec import BackendSpec
from ..._types import Capabilities
from ..._url import BrokerURL
from .._tls import tls_options

CLASSIC = Capabilities(
    persistent=True,  # durable exchanges and queues, persistent messages
    consumer_groups=True,  # a queue per group
    ordered=True,  # a queue is FIFO (per consumer; a nack or delay moves a message back)
    replay=False,  # a group's queue only gets what is published after it is bound
    at_least_once=True,  # publisher confirms + manual acks
    at_most_once=True,  # no confirms, transient messages, no_ack consumers
    idempotent_produce=False,
    headers=True,
    nack_delay=True,  # a per-queue delay queue with a message TTL that dead-letters back
    delivery_count=False,  # classic queues only say "redelivered", not how often
    native_dead_letter=False,  # the core dead-letters with its brokerkit-* headers
    cumulative_ack=False,  # per-message acks (several at once with multiple=True)
)

#: Quorum queues count deliveries (``x-delivery-count``), so max_deliveries works.
QUORUM = CLASSIC.replace(delivery_count=True)


def capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    """The capability row for this URL: classic queues (default) or ``?queue_type=quorum``."""
    return QUORUM if options.get("queue_type") == "quorum" else CLASSIC


_QUEUE_TYPE = Option(
    "queue_type",
    str,
    "classic",
    "'classic' or 'quorum' queues for groups (quorum: replicated, counts deliveries so "
    "max_deliveries works; no priorities, not exclusive)",
    choices=("classic", "quorum"),
    nullable=False,
)

_DECLARE = Option(
    "declare",
    bool,
    True,
    "declare the topic's exchange (and the group's queue and binding); false: use an "
    "existing topology as it is (a missing exchange/queue is an error)",
    nullable=False,
)

OPTIONS = OptionSchema(
    [
        _QUEUE_TYPE,
        _DECLARE,
        Option(
            "exchange_type",
            str,
            "fanout",
            "type of the exchanges brokerkit declares for topics: 'fanout' (every queue gets "
            "every message), 'topic' or 'direct' (queues bind with a binding_key pattern; "
            "the message key is the routing key)",
            choices=("fanout", "topic", "direct"),
            nullable=False,
        ),
        Option(
            "reconnect_interval",
            float,
            1.0,
            "seconds between attempts to restore a lost connection (aio-pika robust connection)",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "reconnect_timeout",
            float,
            30.0,
            "seconds a publish/declare waits for a lost connection to come back before raising "
            "BrokerConnectionError (each call is also bounded by its own timeout)",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "request_timeout",
            float,
            10.0,
            "seconds to wait for the broker's answer to a declare, bind, qos or consume",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "heartbeat",
            int,
            60,
            "AMQP heartbeat in seconds: a broker silent for about 3 heartbeats counts as lost "
            "(0: no heartbeats)",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        *tls_options("amqps://"),
    ]
)

PRODUCER_OPTIONS = OptionSchema(
    [
        Option(
            "declare",
            bool,
            None,
            "overrides the connection's declare for this producer",
        ),
        Option(
            "exchange",
            str,
            None,
            "publish to this exchange instead of the one named after the topic ('' is "
            "RabbitMQ's default exchange, where the routing key names a queue)",
        ),
        Option(
            "routing_key",
            str,
            None,
            "routing key of every message (default: the message key as UTF-8, else '')",
        ),
        Option(
            "mandatory",
            bool,
            None,
            "a message no queue takes raises DeliveryError (AMQP mandatory flag); default: on "
            "with declare=false (your topology: unroutable is a mistake), off with brokerkit's "
            "topics (a topic nobody subscribed to drops messages, as replay is false)",
        ),
        Option(
            "priority",
            int,
            None,
            "message priority 0-255 (queues declared with max_priority deliver higher first)",
            minimum=0,
        ),
        Option(
            "ttl",
            float,
            None,
            "per-message time to live: the broker drops (or dead-letters) a message not "
            "consumed within this many seconds",
            minimum=0,
            unit="seconds",
        ),
    ]
)

CONSUMER_OPTIONS = OptionSchema(
    [
        Option(
            "declare",
            bool,
            None,
            "overrides the connection's declare for this consumer",
        ),
        Option(
            "queue_type",
            str,
            None,
            "overrides the connection's queue_type for this consumer's queue",
            choices=("classic", "quorum"),
        ),
        Option(
            "queue",
            str,
            None,
            "consume from this queue (default: '<topic>.<group>', or a private queue when "
            "group=None); with declare=false it must exist",
        ),
        Option(
            "binding_key",
            str,
            None,
            "routing-key pattern binding the queue to a 'topic'/'direct' exchange (default "
            "'#' for topic, '' for direct; fanout exchanges ignore it)",
        ),
        Option(
            "exclusive",
            bool,
            False,
            "declare the queue exclusive to this connection (deleted when it closes)",
            nullable=False,
        ),
        Option(
            "auto_delete",
            bool,
            False,
            "declare the queue auto-delete (deleted once its last consumer is gone)",
            nullable=False,
        ),
        Option(
            "max_priority",
            int,
            None,
            "declare a priority queue (x-max-priority, 1-255; classic queues only)",
            minimum=1,
        ),
        Option(
            "message_ttl",
            float,
            None,
            "declare the queue with a message TTL (x-message-ttl): messages older than this "
            "many seconds are dropped",
            minimum=0,
            unit="seconds",
        ),
        Option(
            "prefetch_count",
            int,
            None,
            "basic.qos: unacked messages the broker sends ahead (default: the prefetch option)",
            minimum=1,
        ),
    ]
)

spec: BackendSpec = BackendSpec(
    name="amqp",
    schemes=("amqp", "amqps"),
    capabilities=capabilities,
    async_driver="brokerkit.backends.amqp.driver:AsyncAmqpDriver",
    sync_driver=None,  # the core's portal runs the async driver
    options=OPTIONS,
    producer_options=PRODUCER_OPTIONS,
    consumer_options=CONSUMER_OPTIONS,
    extra="amqp",
    requires=("aio_pika",),
    default_port=5672,
    description="RabbitMQ: an exchange per topic, a durable queue per group (aio-pika)",
    test_variants={
        "amqp": "amqp://127.0.0.1:5672/",
        "amqp-quorum": "amqp://127.0.0.1:5672/?queue_type=quorum",
    },
    test_cleanup="brokerkit.backends.amqp._testing:cleanup",
    bench_baseline="brokerkit.bench.baselines.amqp:BASELINE",
    inspector="brokerkit.backends.amqp._inspect",
)
