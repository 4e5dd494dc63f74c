"""The redis:// inspector (see brokerkit/_inspect.py): XINFO STREAM and XINFO GROUPS for a
stream, PUBSUB NUMSUB for a Pub/Sub channel, INFO server for the version. Read-only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis import exceptions as rex

from ..._inspect import GroupInfo, TopicInfo
from ..._url import BrokerURL
from ...errors import BrokerConnectionError, scrub
from ._codec import encode_text
from ._common import HANDBACK, client_kwargs, endpoint

__all__ = ["inspect_topic", "server_info"]


def _client(url: BrokerURL, options: Mapping[str, Any]) -> redis.Redis:
    kwargs = client_kwargs(url, options)
    kwargs["socket_timeout"] = options["connect_timeout"]
    return redis.Redis(**kwargs)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _fail(url: BrokerURL, exc: rex.RedisError) -> BrokerConnectionError:
    host, port = endpoint(url)
    text = scrub(str(exc), [url.password or ""])
    return BrokerConnectionError(
        f"cannot inspect redis at {host}:{port}: {type(exc).__name__}: {text}"
    )


def inspect_topic(
    url: BrokerURL, options: Mapping[str, Any], topic: str, groups: Sequence[str] = ()
) -> TopicInfo:
    key = encode_text(options["key_prefix"] + topic)
    try:
        with _client(url, options) as client:
            if options["mode"] == "pubsub":
                (_, subscribers), *_ = client.pubsub_numsub(key)
                return TopicInfo(
                    topic=topic,
                    exists=bool(subscribers),
                    groups=(GroupInfo(name="(subscribers)", consumers=int(subscribers)),),
                    notes=("Redis Pub/Sub keeps no messages and has no groups",),
                )
            try:
                stream: Any = client.xinfo_stream(key)
            except rex.ResponseError as exc:
                if "no such key" in str(exc).lower():
                    return TopicInfo(topic=topic, exists=False)
                raise
            listed: Any = client.xinfo_groups(key)
            with client.pipeline(transaction=False) as pipe:
                for g in listed:
                    pipe.xinfo_consumers(key, g["name"])
                members: Any = pipe.execute()
    except rex.RedisError as exc:
        raise _fail(url, exc) from exc
    first, last = stream.get("first-entry"), stream.get("last-entry")
    infos, handed_back = [], []
    for g, found in zip(listed, members, strict=True):
        name = _text(g["name"]) or ""
        live = [m for m in found if m["name"] != HANDBACK]
        held = sum(int(m["pending"]) for m in found if m["name"] == HANDBACK)
        if held:
            handed_back.append(f"{held} in {name!r}")
        infos.append(
            GroupInfo(
                name=name,
                consumers=len(live),
                pending=int(g["pending"]),
                lag=_int(g.get("lag")),
                last_delivered=_text(g.get("last-delivered-id")),
            )
        )
    notes = ["consumers: members Redis knows of (a crashed one stays until removed)"]
    if handed_back:
        notes.append(
            "pending includes messages that closed consumers handed back, for the next "
            "live member to claim: " + ", ".join(handed_back)
        )
    if any(g.get("lag") is None for g in listed):
        notes.append("lag: Redis cannot tell after entries were deleted or trimmed (or < 7.0)")
    return TopicInfo(
        topic=topic,
        exists=True,
        messages=int(stream["length"]),
        first_id=_text(first[0]) if first else None,
        last_id=_text(last[0]) if last else None,
        groups=tuple(infos),
        notes=tuple(notes),
    )


def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]:
    try:
        with _client(url, options) as client:
            info: Any = client.info("server")
    except rex.RedisError as exc:
        raise _fail(url, exc) from exc
    return {
        "server": f"redis-server {info.get('redis_version', '?')} ({info.get('redis_mode', '?')})",
        "client": f"redis-py {redis.__version__}",
    }
