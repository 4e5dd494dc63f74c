"""brokerkit's conformance suite (brokerkit/testing) over every backend variant.

``broker_url`` is parametrised in conftest.py: each case runs once per variant, through
the async API (TestAsync), the sync API (TestSync), both at once (TestMixed), and as
Hypothesis properties (TestProperties).
"""

from __future__ import annotations

from brokerkit.testing import AsyncSuite, MixedSuite, PropertySuite, SyncSuite


class TestAsync(AsyncSuite):
    pass


class TestSync(SyncSuite):
    pass


class TestMixed(MixedSuite):
    pass


class TestProperties(PropertySuite):
    pass
