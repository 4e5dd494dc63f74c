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
from ...errors import ConfigurationError

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


def check_url(url: BrokerURL) -> None:
    """A memory URL is ``memory://`` or ``memory://name`` (plus options in the query):
    no user, password, port, second host or path, which would suggest a server."""
    extra = []
    if url.username is not None or url.password is not None:
        extra.append("credentials")
    if len(url.hosts) > 1:
        extra.append("several hosts")
    if any(port is not None for _, port in url.hosts):
        extra.append("a port")
    if url.path:
        extra.append(f"a path ({url.path!r})")
    if extra:
        raise ConfigurationError(
            f"a {url.scheme}:// URL takes a broker name only, got {' and '.join(extra)} in "
            f"{url.without_query()}; expected {url.scheme}:// or {url.scheme}://name "
            "(an in-process broker: same name, same broker within the process)",
            backend="memory",
            url=url.render(),
        )


def capabilities(url: BrokerURL, options: Mapping[str, Any]) -> Capabilities:
    check_url(url)  # called once per connect(), before anything is opened
    return CAPABILITIES


spec: BackendSpec = BackendSpec(
    name="memory",
    schemes=("memory",),
    capabilities=capabilities,
    async_driver="brokerkit.backends.memory._async.driver:AsyncMemoryDriver",
    sync_driver="brokerkit.backends.memory._sync.driver:SyncMemoryDriver",
    description="in-process broker (the embedded default)",
    # {unique}: a fresh broker per test
    test_variants={"memory": "memory://bk-{unique}"},
    bench_baseline="brokerkit.bench.baselines.memory:BASELINE",
    inspector="brokerkit.backends.memory._inspect",
)
