"""The memory:// inspector (see brokerkit/_inspect.py): reads the in-process store.

An in-process broker lives in one process: ``brokerkit inspect memory://`` from a shell
sees a fresh, empty broker; from inside the program (``brokerkit._cli.main([...])``) it
sees the program's topics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ... import __version__
from ..._inspect import GroupInfo, TopicInfo
from ..._url import BrokerURL
from ._store import get_broker

__all__ = ["inspect_topic", "server_info"]


def _name(url: BrokerURL) -> str:
    return url.host or "default"  # as the driver names it


def inspect_topic(
    url: BrokerURL, options: Mapping[str, Any], topic: str, groups: Sequence[str] = ()
) -> TopicInfo:
    broker = get_broker(_name(url))
    with broker.lock:
        found = broker.topics.get(topic)
        if found is None:
            return TopicInfo(topic=topic, exists=False, notes=_NOTES)
        end = found.end
        infos = tuple(
            GroupInfo(
                name=f"(private: a consumer with group=None, #{name.rsplit('-', 1)[-1]})"
                if name.startswith("\0private-")
                else name,
                consumers=group.members,
                pending=len(group.pending),
                lag=(end - group.cursor) + len(group.ready) + len(group.delayed),
                last_delivered=str(group.cursor - 1) if group.cursor > 0 else None,
            )
            for name, group in found.groups.items()
        )
        return TopicInfo(
            topic=topic,
            exists=True,
            messages=len(found.log),
            first_id=str(found.base) if found.log else None,
            last_id=str(end - 1) if found.log else None,
            groups=infos,
            notes=_NOTES,
        )


_NOTES = ("memory:// lives in one process: another process sees another, empty broker",)


def server_info(url: BrokerURL, options: Mapping[str, Any]) -> dict[str, str]:
    return {"server": f"in-process broker {_name(url)!r} (brokerkit {__version__})"}
