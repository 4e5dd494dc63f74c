"""The kafka:// inspector (see brokerkit/_inspect.py), through confluent-kafka's AdminClient:
the cluster (Metadata, DescribeCluster), the topic's partitions and their low/high
watermarks (ListOffsets), and its consumer groups (ListGroups, OffsetFetch, DescribeGroups)
with their committed offsets and lag. Read-only: nothing is created or committed. Every
request is bounded by connect_timeout; errors name the bootstrap servers, never the
password.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from ..._inspect import GroupInfo, PartitionInfo, TopicInfo
from ..._url import BrokerURL
from ...errors import TimeoutError
from ._common import ErrorMapper, base_config, bootstrap

__all__ = ["inspect_topic", "server_info"]

NOTES = (
    "lag: messages after the group's committed offset, summed over the partitions (a "
    "partition without a commit counts from its low watermark, as brokerkit's groups "
    "start at the earliest offset); pending: Kafka does not tell what a member fetched "
    "and has not committed yet",
    "consumers: members of the group with partitions of this topic assigned now",
)
PRIVATE = "brokerkit-private-"
#: Group states in which a group has no members (DescribeGroups lists none, rightly).
_MEMBERLESS = (ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD)


def _admin(url: BrokerURL, options: Mapping[str, Any]) -> tuple[AdminClient, ErrorMapper, float]:
    timeout = float(options["connect_timeout"])
    errors = ErrorMapper(bootstrap(url), url.password)
    conf = base_config(url, {**options, "request_timeout": timeout}, errors)
    return AdminClient(conf), errors, timeout


def _label(group: str) -> str:
    if group.startswith(PRIVATE):
        return f"(private: a consumer with group=None, {group[len(PRIVATE) :]})"
    return group


def _watermarks(
    admin: AdminClient, topic: str, partitions: list[int], timeout: float
) -> list[PartitionInfo]:
    ends: dict[str, dict[int, int]] = {}
    specs = (
        ("low", OffsetSpec.earliest()),  # type: ignore[no-untyped-call]
        ("high", OffsetSpec.latest()),  # type: ignore[no-untyped-call]
    )
    for which, spec in specs:
        asked = {TopicPartition(topic, p): spec for p in partitions}
        futures = admin.list_offsets(asked, request_timeout=timeout)
        ends[which] = {tp.partition: f.result(timeout * 2).offset for tp, f in futures.items()}
    return [PartitionInfo(p, ends["low"][p], ends["high"][p]) for p in partitions]


def _groups(
    admin: AdminClient,
    topic: str,
    parts: list[PartitionInfo],
    named: Sequence[str],
    timeout: float,
) -> tuple[list[GroupInfo], list[str]]:
    notes: list[str] = []
    if named:
        candidates = list(dict.fromkeys(named))
    else:
        listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout * 2)
        candidates = sorted(g.group_id for g in listing.valid)
    committed: dict[str, dict[int, int]] = {}
    for group in candidates:  # OffsetFetch: one group per request in librdkafka
        asked = [ConsumerGroupTopicPartitions(group)]
        futures = admin.list_consumer_group_offsets(asked, request_timeout=timeout)
        result = futures[group].result(timeout * 2)
        found = {
            tp.partition: tp.offset
            for tp in result.topic_partitions or ()
            if tp.topic == topic and tp.offset >= 0
        }
        committed[group] = found
    members: dict[str, int | None] = {}
    states: dict[str, str] = {}
    if candidates:
        futures = admin.describe_consumer_groups(candidates, request_timeout=timeout)
        for group, future in futures.items():
            described = future.result(timeout * 2)
            if not described.members and described.state not in _MEMBERLESS:
                # The broker says the group has members but does not list them (Tansu).
                members[group] = None
                states[group] = described.state.name.lower()
                continue
            members[group] = sum(
                1
                for m in described.members
                if m.assignment is not None
                and any(tp.topic == topic for tp in m.assignment.topic_partitions)
            )
    out = []
    inconsistent = False
    unlisted = []
    for group in candidates:
        offsets = committed.get(group, {})
        if not offsets and not members.get(group) and not named:
            continue  # a group of other topics
        if group in states:
            unlisted.append(f"{group!r} ({states[group]})")
        lag = 0
        for p in parts:
            start = offsets.get(p.partition, p.low)
            lag += max(0, p.high - start)
            inconsistent |= start > p.high
        out.append(
            GroupInfo(
                name=_label(group),
                consumers=members.get(group),
                lag=lag,
                committed=dict(sorted(offsets.items())),
            )
        )
    if unlisted:
        notes.append(
            "consumers: the broker did not list the members of group(s) it reports as "
            "active: " + ", ".join(unlisted)
        )
    if inconsistent:
        notes.append(
            "the broker reported a high watermark below a committed offset: its figures "
            "disagree (Tansu reports the start of the last record batch, not its end), so "
            "messages and lag are too low"
        )
    return out, notes


def inspect_topic(
    url: BrokerURL, options: Mapping[str, Any], topic: str, groups: Sequence[str] = ()
) -> TopicInfo:
    admin, errors, timeout = _admin(url, options)
    with errors(f"inspect topic {topic!r}"):
        try:
            metadata = admin.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise errors.connect_error(exc, timeout) from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            return TopicInfo(topic=topic, exists=False)
        try:
            parts = _watermarks(admin, topic, sorted(found.partitions), timeout)
            infos, notes = _groups(admin, topic, parts, groups, timeout)
        except FutureTimeout as exc:
            raise TimeoutError(
                f"Kafka at {errors.servers} did not answer within {timeout:g} s", backend="kafka"
            ) from exc
    return TopicInfo(
        topic=topic,
        exists=True,
        messages=sum(p.high - p.low for p in parts),
        partitions=tuple(parts),
        groups=tuple(infos),
        notes=(*NOTES, *notes),
    )


def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]:
    import confluent_kafka

    admin, errors, timeout = _admin(url, options)
    with errors("describe the cluster"):
        try:
            cluster = admin.describe_cluster(request_timeout=timeout).result(timeout * 2)
        except (KafkaException, FutureTimeout) as exc:
            raise errors.connect_error(exc, timeout) from exc
    nodes = len(cluster.nodes or ())
    return {
        "server": f"Kafka-protocol cluster {cluster.cluster_id!r}, {nodes} broker(s) "
        "(the Kafka protocol does not tell the server's version)",
        "client": f"confluent-kafka {confluent_kafka.__version__} "
        f"(librdkafka {confluent_kafka.libversion()[0]})",
    }
