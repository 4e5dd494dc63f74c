"""``kafka://host:port[,host:port...]``: Kafka topics, consumer groups and offset commits
through ``confluent-kafka`` (librdkafka).

This module only describes the backend; it never imports the client library, so
``import brokerkit`` does not import confluent_kafka. See docs/backends/kafka.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._options import Option, OptionSchema
from ..._spec import BackendSpec
from ..._types import Capabilities
from ..._url import BrokerURL
from .._tls import tls_options

KAFKA = Capabilities(
    persistent=True,
    consumer_groups=True,
    ordered=True,  # per partition; a key always goes to the same partition
    replay=True,  # a new group starts at the earliest offset
    at_least_once=True,
    at_most_once=True,
    idempotent_produce=False,  # enable.idempotence dedups retries, not a per-message id
    headers=True,
    nack_delay=False,  # a partition is one log: a delayed message would hold back the rest
    delivery_count=True,  # counted by the consumer (per process, see the docs)
    native_dead_letter=False,
    cumulative_ack=True,
)


def capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    """The capability row: one for every kafka:// URL."""
    return KAFKA


OPTIONS = OptionSchema(
    [
        Option(
            "partitions",
            int,
            3,
            "partitions of a topic brokerkit creates (the most members of one group that "
            "share its messages)",
            minimum=1,
            nullable=False,
        ),
        Option(
            "replication_factor",
            int,
            None,
            "replicas of a topic brokerkit creates; None: the cluster's default "
            "(default.replication.factor)",
            minimum=1,
        ),
        Option(
            "topic_config",
            object,
            None,
            "a mapping of topic configs for topics brokerkit creates, e.g. "
            "{'retention.ms': '86400000'} (keyword only)",
        ),
        Option(
            "create_topics",
            bool,
            True,
            "create a missing topic on first use through the admin client; false leaves "
            "it to the cluster (auto.create.topics.enable or your own tooling)",
            nullable=False,
        ),
        Option(
            "session_timeout",
            float,
            6.0,
            "consumer group session timeout (session.timeout.ms): how soon a member that "
            "stopped answering loses its partitions; a brand-new group also waits for "
            "about half of it on some brokers. Kafka refuses less than its "
            "group.min.session.timeout.ms (6 s by default)",
            minimum=0.1,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "linger",
            float,
            0.001,
            "how long the producer waits to fill a batch (linger.ms)",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "fetch_wait",
            float,
            0.01,
            "how long the broker may hold a fetch to fill it (fetch.wait.max.ms)",
            minimum=0,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "delivery_timeout",
            float,
            30.0,
            "how long the producer keeps retrying a message before it counts as failed "
            "(message.timeout.ms); a send that fails this way raises DeliveryError",
            minimum=0.001,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "request_timeout",
            float,
            10.0,
            "seconds a request to the broker may take before it is retried "
            "(socket.timeout.ms); also bounds synchronous commits",
            minimum=0.01,
            nullable=False,
            unit="seconds",
        ),
        Option(
            "sasl_mechanism",
            str,
            "PLAIN",
            "with user:password in the URL: the SASL mechanism",
            choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
            nullable=False,
        ),
        Option(
            "tls",
            bool,
            False,
            "connect with TLS (security.protocol SSL, or SASL_SSL with credentials); "
            "the tls_* options name the files (other ssl.* settings: client_options)",
            nullable=False,
        ),
        *tls_options("tls=true"),
        Option(
            "client_options",
            object,
            None,
            "a mapping of librdkafka settings passed to every client as they are, e.g. "
            "{'compression.type': 'lz4', 'ssl.ca.location': '/etc/ca.pem'} (keyword only); "
            "the ones brokerkit owns (acks, group.id, enable.auto.commit...) are refused",
        ),
    ]
)

spec: BackendSpec = BackendSpec(
    name="kafka",
    schemes=("kafka",),
    capabilities=capabilities,
    async_driver="brokerkit.backends.kafka._async.driver:AsyncKafkaDriver",
    sync_driver="brokerkit.backends.kafka._sync.driver:SyncKafkaDriver",
    options=OPTIONS,
    extra="kafka",
    requires=("confluent_kafka",),
    default_port=9092,
    description="Kafka topics, consumer groups and offset commits (confluent-kafka)",
    # one partition per topic: the suite reasons about one log per topic (cumulative acks);
    # tests/backends/test_kafka.py covers several partitions and members
    test_variants={
        "kafka": "kafka://127.0.0.1:9092?session_timeout=2&request_timeout=5&partitions=1"
    },
    test_cleanup="brokerkit.backends.kafka._tansu:cleanup",
    test_setup="brokerkit.backends.kafka._tansu:test_setup",
    bench_baseline="brokerkit.bench.baselines.kafka:BASELINE",
    inspector="brokerkit.backends.kafka._inspect",
)
