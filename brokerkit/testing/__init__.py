"""brokerkit's conformance suite, shipped so that every backend (built-in or third-party)
proves the same portable behaviour, through both the sync and the async API.

A third-party backend runs it with a conftest.py and one command::

    # tests/conftest.py
    pytest_plugins = ["brokerkit.testing.plugin"]

    # tests/test_brokerkit_conformance.py
    from brokerkit.testing import AsyncSuite, MixedSuite, PropertySuite, SyncSuite

    class TestAsync(AsyncSuite): ...
    class TestSync(SyncSuite): ...
    class TestMixed(MixedSuite): ...
    class TestProperties(PropertySuite): ...

    $ pytest --broker-url myscheme://localhost:1234      # or BROKERKIT_TEST_URL=...

It needs pytest, pytest-asyncio and hypothesis (``pip install 'pybrokerkit[suite]'``).
Cases are gated by the backend's :class:`brokerkit.Capabilities`: where a capability is
false, a gated case asserts that asking for the feature raises
:class:`brokerkit.UnsupportedError` instead of running (checked, not skipped). See
docs/testing.md.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(
    "brokerkit.testing._async",
    "brokerkit.testing._sync",
    "brokerkit.testing._mixed",
    "brokerkit.testing._properties",
    "brokerkit.testing._support",
)

from ._async.suite import AsyncSuite  # noqa: E402
from ._mixed import MixedSuite  # noqa: E402
from ._properties import PropertySuite  # noqa: E402
from ._support import SESSION_PREFIX, TOPIC_PREFIX, requires, unique_group, unique_topic  # noqa: E402
from ._sync.suite import SyncSuite  # noqa: E402
from ._sync.support import collect  # noqa: E402

# Marked here rather than in the generated source, so the sync twin carries no asyncio
# mark: the async cases run under pytest-asyncio in "strict" mode too.
AsyncSuite.pytestmark = [pytest.mark.asyncio]  # type: ignore[attr-defined]

__all__ = [
    "SESSION_PREFIX",
    "TOPIC_PREFIX",
    "AsyncSuite",
    "MixedSuite",
    "PropertySuite",
    "SyncSuite",
    "collect",
    "requires",
    "unique_group",
    "unique_topic",
]
