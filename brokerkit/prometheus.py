"""Prometheus metrics for brokerkit (``pip install 'pybrokerkit[prometheus]'``).

:class:`Metrics` is an instrumentation hook that counts messages and times them, labelled
by ``system`` (the backend: redis, kafka, ...), ``topic`` and, on the consumer side,
``group`` (empty for a private group):

=========================================  ==========  =====================================
metric                                     labels      what
=========================================  ==========  =====================================
``brokerkit_messages_published_total``     system,     messages the broker stored
                                           topic
``brokerkit_publish_errors_total``         system,     messages the broker refused or lost
                                           topic
``brokerkit_publish_duration_seconds``     system,     per batch: from handing it to the
                                           topic       broker to the broker's answer
``brokerkit_messages_delivered_total``     + group     messages handed to the application
``brokerkit_messages_acked_total``         + group     acked by the application
``brokerkit_messages_nacked_total``        + group     nacked to be delivered again
``brokerkit_messages_dropped_total``       + group     nacked with requeue=False, no
                                                       dead_letter_topic
``brokerkit_messages_dead_lettered_total`` + group     moved to the dead_letter_topic
``brokerkit_process_duration_seconds``     + group,    per message: from delivery to its
                                           outcome     ack / nack / drop / dead_letter
``brokerkit_commits_total``                + group     requests sending acks to the broker
``brokerkit_commit_errors_total``          + group     of those, the ones that failed
``brokerkit_commit_duration_seconds``      + group     per commit request
``brokerkit_reconnects_total``             + group     reconnect attempts by the core
=========================================  ==========  =====================================

One ``Metrics`` object per registry: share it between brokers (pass it to each, or install
it once with ``brokerkit.instrument()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
except ImportError as _missing:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "brokerkit.prometheus needs prometheus-client: pip install 'pybrokerkit[prometheus]'"
    ) from _missing

from ._instrument import Endpoint, Instrumentation, MessageView
from ._types import Record

__all__ = ["Metrics"]

#: Latency buckets in seconds: 100 us to 10 s.
BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class _Children:
    """The labelled children of one endpoint, looked up once."""

    __slots__ = (
        "acked",
        "commit_errors",
        "commit_seconds",
        "commits",
        "dead_lettered",
        "delivered",
        "dropped",
        "nacked",
        "process",
        "publish_errors",
        "publish_seconds",
        "published",
        "reconnects",
    )

    def __init__(self, metrics: Metrics, endpoint: Endpoint) -> None:
        system = endpoint.backend
        topic = endpoint.topic
        if endpoint.kind == "producer":
            self.published = metrics.published.labels(system, topic)
            self.publish_errors = metrics.publish_errors.labels(system, topic)
            self.publish_seconds = metrics.publish_duration.labels(system, topic)
            return
        labels = (system, topic, endpoint.group or "")
        self.delivered = metrics.delivered.labels(*labels)
        self.acked = metrics.acked.labels(*labels)
        self.nacked = metrics.nacked.labels(*labels)
        self.dropped = metrics.dropped.labels(*labels)
        self.dead_lettered = metrics.dead_lettered.labels(*labels)
        self.process = {
            outcome: metrics.process_duration.labels(*labels, outcome)
            for outcome in ("ack", "nack", "drop", "dead_letter")
        }
        self.commits = metrics.commits.labels(*labels)
        self.commit_errors = metrics.commit_errors.labels(*labels)
        self.commit_seconds = metrics.commit_duration.labels(*labels)
        self.reconnects = metrics.reconnects.labels(*labels)


class Metrics(Instrumentation):
    """Counters and latency histograms per topic and group, in ``registry`` (default: the
    prometheus_client global registry), named ``<namespace>_...``."""

    def __init__(
        self,
        registry: CollectorRegistry | None = REGISTRY,
        namespace: str = "brokerkit",
        buckets: Sequence[float] = BUCKETS,
    ) -> None:
        producer = ("system", "topic")
        consumer = ("system", "topic", "group")
        common: dict[str, Any] = {"namespace": namespace, "registry": registry}
        self.published: Counter = Counter(
            "messages_published", "Messages the broker stored", producer, **common
        )
        self.publish_errors: Counter = Counter(
            "publish_errors", "Messages the broker refused or lost", producer, **common
        )
        self.publish_duration: Histogram = Histogram(
            "publish_duration_seconds",
            "Per batch, from handing it to the broker to the broker's answer",
            producer,
            buckets=buckets,
            **common,
        )
        self.delivered: Counter = Counter(
            "messages_delivered", "Messages handed to the application", consumer, **common
        )
        self.acked: Counter = Counter("messages_acked", "Messages acked", consumer, **common)
        self.nacked: Counter = Counter(
            "messages_nacked", "Messages nacked to be delivered again", consumer, **common
        )
        self.dropped: Counter = Counter(
            "messages_dropped",
            "Messages nacked with requeue=False and no dead_letter_topic",
            consumer,
            **common,
        )
        self.dead_lettered: Counter = Counter(
            "messages_dead_lettered", "Messages moved to the dead_letter_topic", consumer, **common
        )
        self.process_duration: Histogram = Histogram(
            "process_duration_seconds",
            "Per message, from its delivery to the application to its outcome",
            (*consumer, "outcome"),
            buckets=buckets,
            **common,
        )
        self.commits: Counter = Counter(
            "commits", "Requests sending acknowledgements to the broker", consumer, **common
        )
        self.commit_errors: Counter = Counter(
            "commit_errors", "Commit requests that failed", consumer, **common
        )
        self.commit_duration: Histogram = Histogram(
            "commit_duration_seconds", "Per commit request", consumer, buckets=buckets, **common
        )
        self.reconnects: Counter = Counter(
            "reconnects", "Reconnect attempts after a lost connection", consumer, **common
        )
        self._children: dict[Endpoint, _Children] = {}

    def _of(self, endpoint: Endpoint) -> _Children:
        children = self._children.get(endpoint)
        if children is None:
            children = self._children[endpoint] = _Children(self, endpoint)
        return children

    def publish(
        self,
        endpoint: Endpoint,
        records: Sequence[Record],
        errors: Sequence[BaseException | None],
        seconds: float,
    ) -> None:
        children = self._of(endpoint)
        failed = sum(1 for e in errors if e is not None)
        if failed:
            children.publish_errors.inc(failed)
        if len(records) > failed:
            children.published.inc(len(records) - failed)
        children.publish_seconds.observe(seconds)

    def deliver(self, endpoint: Endpoint, messages: Sequence[MessageView]) -> None:
        self._of(endpoint).delivered.inc(len(messages))

    def ack(self, endpoint: Endpoint, message: MessageView, seconds: float) -> None:
        children = self._of(endpoint)
        children.acked.inc()
        children.process["ack"].observe(seconds)

    def nack(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        requeue: bool,
        delay: float | None,
    ) -> None:
        children = self._of(endpoint)
        if requeue:
            children.nacked.inc()
            children.process["nack"].observe(seconds)
        else:
            children.dropped.inc()
            children.process["drop"].observe(seconds)

    def dead_letter(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        reason: str,
        dead_letter_topic: str,
    ) -> None:
        children = self._of(endpoint)
        children.dead_lettered.inc()
        children.process["dead_letter"].observe(seconds)

    def commit(
        self, endpoint: Endpoint, count: int, seconds: float, error: BaseException | None
    ) -> None:
        children = self._of(endpoint)
        children.commits.inc()
        if error is not None:
            children.commit_errors.inc()
        children.commit_seconds.observe(seconds)

    def reconnect(
        self, endpoint: Endpoint, attempt: int, error: BaseException, delay: float
    ) -> None:
        self._of(endpoint).reconnects.inc()
