"""``memphis://host:port``: Memphis's station model served on a plain NATS JetStream server.

The Memphis server is no longer maintained; this backend keeps its model for users coming
from the Memphis SDK, on nats-py and nats-server (it installs with the ``nats`` extra and
shares the nats:// driver): a station is a stream named as Memphis names it (lower case,
``.`` -> ``#``, subject ``<station>.final``), with its retention type and value, storage
type, replicas and idempotency window; a consumer group is a durable pull consumer with
``batch_size``, ``batch_max_time_to_wait_ms``, ``max_ack_time_ms`` and
``max_msg_deliveries``; poison messages go to a dead-letter station with the reason in
headers; every message carries the producer name and connection id headers. See
docs/backends/memphis.md. This module never imports nats-py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._options import Option, OptionSchema
from ..._spec import BackendSpec
from ..._types import Capabilities
from ..._url import BrokerURL
from ..nats import CONNECTION_OPTIONS, JETSTREAM, flag

#: Memphis's retention types (``memphis.retention_types``) and their JetStream limit.
RETENTION_TYPES = ("message_age_sec", "messages", "bytes")
STORAGE_TYPES = ("disk", "memory")
MAX_BATCH_SIZE = 5000


def capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    """JetStream's row; dead letters are native (the poison-message station) unless
    ``send_poison_msg_to_dls=false``; memory storage is not persistent."""
    return JETSTREAM.replace(
        native_dead_letter=flag(options.get("send_poison_msg_to_dls", True)),
        persistent=options.get("storage_type", "disk") == "disk",
    )


OPTIONS = OptionSchema(
    [
        Option(
            "retention_type",
            str,
            "message_age_sec",
            "how a station created by brokerkit retains messages: 'message_age_sec' (for "
            "retention_value seconds), 'messages' (the newest retention_value messages) or "
            "'bytes' (the newest retention_value bytes)",
            choices=RETENTION_TYPES,
            nullable=False,
        ),
        Option(
            "retention_value",
            int,
            604800,
            "the limit of retention_type (seconds, messages or bytes); default 7 days",
            minimum=1,
            nullable=False,
        ),
        Option(
            "storage_type",
            str,
            "disk",
            "where a station keeps its messages: 'disk' or 'memory'",
            choices=STORAGE_TYPES,
            nullable=False,
        ),
        Option(
            "replicas",
            int,
            1,
            "replicas of a station's messages (clustered JetStream; 1 on a single server)",
            minimum=1,
            nullable=False,
        ),
        Option(
            "idempotency_window_ms",
            int,
            120000,
            "milliseconds a station remembers message ids (send(..., message_id=...)) to drop "
            "repeats",
            minimum=0,
            nullable=False,
            unit="milliseconds",
        ),
        Option(
            "send_poison_msg_to_dls",
            bool,
            True,
            "a message delivered max_msg_deliveries times without an ack goes to the "
            "dead-letter station (false: it is just no longer delivered)",
            nullable=False,
        ),
        Option(
            "dls_station",
            str,
            None,
            "the dead-letter station for poison messages (default: '<station>-dls'); the "
            "consumer option dead_letter_topic overrides it",
        ),
        Option(
            "show_memphis_headers",
            bool,
            False,
            "true: received messages keep the $memphis_producedBy and $memphis_connectionId "
            "headers (as Memphis's get_headers() did); false: they are removed, so headers "
            "round-trip unchanged",
            nullable=False,
        ),
        *CONNECTION_OPTIONS,
    ]
)

PRODUCER_OPTIONS = OptionSchema(
    [
        Option(
            "producer_name",
            str,
            None,
            "the $memphis_producedBy header of every message (lower-cased as Memphis does; "
            "default: the client_id option, else 'brokerkit')",
        ),
    ]
)

_CONSUMER_DEFAULTS = [
    Option(
        "batch_size",
        int,
        10,
        "most messages one pull request fetches (Memphis's default 10; at most 5000); also "
        "a consumer option",
        minimum=1,
        nullable=False,
    ),
    Option(
        "batch_max_time_to_wait_ms",
        int,
        5000,
        "longest a pull request waits on the server for messages; also a consumer option",
        minimum=1,
        nullable=False,
        unit="milliseconds",
    ),
    Option(
        "max_ack_time_ms",
        int,
        30000,
        "milliseconds a delivered, unacked message stays with its consumer before it is "
        "delivered again; also a consumer option",
        minimum=1,
        nullable=False,
        unit="milliseconds",
    ),
    Option(
        "max_msg_deliveries",
        int,
        10,
        "deliveries after which a message is a poison message: it goes to the dead-letter "
        "station (max_deliveries=, where given, wins); also a consumer option",
        minimum=1,
        nullable=False,
    ),
]

OPTIONS = OPTIONS.extend(*_CONSUMER_DEFAULTS)

CONSUMER_OPTIONS = OptionSchema(
    [
        Option(o.name, o.kind, None, "overrides the connection's " + o.name, minimum=o.minimum)
        for o in _CONSUMER_DEFAULTS
    ]
)

spec: BackendSpec = BackendSpec(
    name="memphis",
    schemes=("memphis",),
    capabilities=capabilities,
    async_driver="brokerkit.backends.memphis._driver:AsyncMemphisDriver",
    sync_driver=None,
    options=OPTIONS,
    producer_options=PRODUCER_OPTIONS,
    consumer_options=CONSUMER_OPTIONS,
    extra="nats",
    requires=("nats",),
    default_port=4222,
    description="Memphis-style stations on NATS JetStream",
    test_variants={
        "memphis": "memphis://127.0.0.1:4222",
    },
    test_cleanup="brokerkit.backends.nats._cleanup:cleanup",
    test_setup="brokerkit.backends.nats._testing:test_server",
    bench_baseline="brokerkit.bench.baselines.nats:BASELINE",
    inspector="brokerkit.backends.memphis._inspect",
)
