"""The brokerkit target: the workload through brokerkit's public API, as a user writes it
(the sessions: ``_async/brokerkit_session.py`` and its generated ``_sync`` twin)."""

from __future__ import annotations

from typing import Any

import brokerkit

from ._async.brokerkit_session import AsyncBrokerkitSession
from ._sync.brokerkit_session import SyncBrokerkitSession
from .targets import Setup

__all__ = ["BROKERKIT"]


def _consumer_options(setup: Setup) -> dict[str, Any]:
    workload = setup.workload
    options: dict[str, Any] = {"guarantee": workload.guarantee}
    if workload.prefetch is not None:
        options["prefetch"] = workload.prefetch
    if workload.guarantee == "at-least-once":
        options["commit"] = workload.commit
        if workload.commit_every is not None:
            options["commit_every"] = workload.commit_every
    return options


class BrokerkitTarget:
    """brokerkit's sync and async APIs."""

    name = "brokerkit"

    async def open_async(self, setup: Setup) -> AsyncBrokerkitSession:
        broker = await brokerkit.connect_async(setup.url)
        return AsyncBrokerkitSession(broker, setup, _consumer_options(setup))

    def open_sync(self, setup: Setup) -> SyncBrokerkitSession:
        return SyncBrokerkitSession(brokerkit.connect(setup.url), setup, _consumer_options(setup))


BROKERKIT = BrokerkitTarget()
