"""The keyword options of ``connect()``, ``producer()`` and ``consumer()``, for type checkers.

Each ``TypedDict`` here lists the options a call accepts, with their types, so that
``mypy``/``pyright`` flag a misspelt option (``gruop=``) or a bad value
(``guarantee="at-least-one"``) where it is written. They mirror the run-time option
schemas (``brokerkit._options`` and each built-in backend's spec; ``tests/test_typing.py``
keeps them in step): the shared options, then every built-in backend's own, each
commented with the backends that read it. Run time still validates every option against
the URL's backend (a Kafka option given to a Redis URL raises ConfigurationError).

An option these types do not list (a third-party backend's) goes in the
``backend_options={...}`` mapping of the same call, or in the URL query string: it is
validated at run time like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, TypedDict

from ._instrument import Instrumentation
from ._types import Commit, Guarantee

__all__ = [
    "CommitName",
    "ConnectOptions",
    "ConsumerOptions",
    "GuaranteeName",
    "ProcessorOptions",
    "ProducerOptions",
]

# The option types below spell their Literal values out rather than naming an alias: a type
# checker's message then shows the accepted values themselves, not a name to look up.

#: The strings ``guarantee=`` accepts (a :class:`~brokerkit.Guarantee` member too).
GuaranteeName = Literal["at-least-once", "at-most-once"]
#: The strings ``commit=`` accepts (a :class:`~brokerkit.Commit` member too).
CommitName = Literal["sync", "async"]


class ConnectOptions(TypedDict, total=False):
    """Keyword options of ``brokerkit.connect()`` / ``brokerkit.connect_async()``.

    See docs/options.md for what each one means and its default.
    """

    # -- every backend
    connect_timeout: float
    close_timeout: float | None
    reconnect_timeout: float  # also read by: amqp, redis
    client_id: str | None
    instrumentation: Instrumentation | Sequence[Instrumentation] | None
    # -- kafka
    partitions: int
    replication_factor: int | None
    topic_config: Mapping[str, object] | None
    create_topics: bool
    session_timeout: float
    linger: float
    fetch_wait: float
    delivery_timeout: float
    request_timeout: float  # also: amqp, memphis, nats
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
    tls: bool
    client_options: Mapping[str, object] | None
    # -- redis
    mode: Literal["streams", "pubsub"]
    maxlen: int | None
    max_age: float | None  # also: nats
    visibility_timeout: float
    claim_interval: float
    group_start: Literal["earliest", "latest"]
    value_field: str
    key_prefix: str
    socket_timeout: float
    tls_ca_file: str | None  # also: amqp, kafka, memphis, nats
    tls_cert_file: str | None  # also: amqp, kafka, memphis, nats
    tls_key_file: str | None  # also: amqp, kafka, memphis, nats
    tls_verify: bool  # also: amqp, kafka, memphis, nats
    # -- nats (and memphis, where noted above)
    jetstream: bool
    storage: Literal["file", "memory"]
    replicas: int  # also: memphis
    max_msgs: int | None
    max_bytes: int | None
    duplicate_window: float
    ack_wait: float
    max_deliver: int | None
    max_ack_pending: int
    deliver_policy: Literal["all", "new"]
    max_wait: float
    max_pending_acks: int  # also: memphis
    ping_interval: float  # also: memphis
    reconnect_wait: float  # also: memphis
    max_reconnect_attempts: int  # also: memphis
    pending_size: int  # also: memphis
    private_group_ttl: float  # also: memphis
    # -- memphis
    retention_type: Literal["message_age_sec", "messages", "bytes"]
    retention_value: int
    storage_type: Literal["disk", "memory"]
    idempotency_window_ms: int
    send_poison_msg_to_dls: bool
    dls_station: str | None
    show_memphis_headers: bool
    batch_size: int
    batch_max_time_to_wait_ms: int
    max_ack_time_ms: int
    max_msg_deliveries: int
    # -- amqp
    queue_type: Literal["classic", "quorum"]
    declare: bool
    exchange_type: Literal["fanout", "topic", "direct"]
    reconnect_interval: float
    heartbeat: int


class ProducerOptions(TypedDict, total=False):
    """Keyword options of ``Broker.producer()`` / ``AsyncBroker.producer()``."""

    # -- every backend
    guarantee: Literal["at-least-once", "at-most-once"] | Guarantee
    batch_size: int
    linger: float
    max_in_flight: int
    buffer_size: int
    delivery_timeout: float
    max_message_bytes: int | None
    # -- memphis
    producer_name: str | None
    # -- amqp
    declare: bool | None
    exchange: str | None
    routing_key: str | None
    mandatory: bool | None
    priority: int | None
    ttl: float | None


class _ConsumerOptionsBase(TypedDict, total=False):
    # -- every backend
    guarantee: Literal["at-least-once", "at-most-once"] | Guarantee
    commit: Literal["sync", "async"] | Commit
    commit_every: int | None
    commit_interval: float | None
    prefetch: int
    prefetch_bytes: int
    max_deliveries: int | None
    dead_letter_topic: str | None
    on_commit_error: Callable[[BaseException], object] | None
    # -- redis
    visibility_timeout: float | None
    # -- nats
    ack_wait: float | None
    max_deliver: int | None
    max_ack_pending: int | None
    # -- memphis (and batch_size, in ConsumerOptions)
    batch_max_time_to_wait_ms: int | None
    max_ack_time_ms: int | None
    max_msg_deliveries: int | None
    # -- amqp
    declare: bool | None
    queue_type: Literal["classic", "quorum"] | None
    queue: str | None
    binding_key: str | None
    exclusive: bool
    auto_delete: bool
    max_priority: int | None
    message_ttl: float | None
    prefetch_count: int | None


class ConsumerOptions(_ConsumerOptionsBase, total=False):
    """Keyword options of ``Broker.consumer()`` / ``AsyncBroker.consumer()``."""

    batch_size: int | None  # memphis


class ProcessorOptions(_ConsumerOptionsBase, total=False):
    """The consumer options ``Processor.run()`` / ``run_async()`` take as keywords: those of
    :class:`ConsumerOptions` but ``batch_size``, which is the processor's own parameter
    there (memphis' consumer ``batch_size`` goes in ``backend_options`` of a consumer)."""
