"""``memory://[name]``: the embedded in-process broker, the default when no URL is given.

Same name, same broker within a process; usable from several threads and from the sync
and async APIs at once. Nothing survives the process, and a group sees only messages
published after it was created (no replay).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._spec import BackendSpec
from ..._types import Capabilities
from ..._url import BrokerURL

CAPABILITIES = Capabilities(
    persistent=False,
    consumer_groups=True,
    ordered=True,
    replay=False,
    at_least_once=True,
    at_most_once=True,
    idempotent_produce=False,
    headers=True,
    nack_delay=True,
    delivery_count=True,
    native_dead_letter=False,
)


def capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    return CAPABILITIES


spec = BackendSpec(
    name="memory",
    schemes=("memory",),
    capabilities=capabilities,
    async_driver="brokerkit.backends.memory._async.driver:AsyncMemoryDriver",
    sync_driver="brokerkit.backends.memory._sync.driver:SyncMemoryDriver",
    description="in-process broker (the embedded default)",
    # {unique}: a fresh broker per test
    test_variants={"memory": "memory://bk-{unique}"},
    bench_baseline="brokerkit.bench.baselines.memory:BASELINE",
)
