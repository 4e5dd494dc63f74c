"""pytest plugin for the brokerkit conformance suite.

Activate it with ``pytest_plugins = ["brokerkit.testing.plugin"]`` in a conftest.py (or
``-p brokerkit.testing.plugin``). It provides:

- ``--broker-url`` (else ``$BROKERKIT_TEST_URL``, else a fresh ``memory://`` broker): the
  URL of the broker under test, through the ``broker_url`` fixture; override that fixture
  (e.g. parametrised over several URLs) to test more than one;
- ``abroker`` (an open :class:`brokerkit.AsyncBroker`) and ``broker`` (an open
  :class:`brokerkit.Broker`) for ``broker_url``, closed after the test;
- ``topic`` and ``group``: unique names per test (topics start with ``bk-test-``);
- the ``brokerkit_requires(*capabilities)`` marker set by :func:`brokerkit.testing.requires`.

A broker that cannot be reached (BrokerConnectionError) skips the test with the reason,
but fails it when ``CI=true`` is set: in CI a skipped backend is a failed run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

import brokerkit

from ._support import unique_group, unique_topic, unreachable

URL_ENV = "BROKERKIT_TEST_URL"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("brokerkit", "brokerkit conformance suite")
    group.addoption(
        "--broker-url",
        action="store",
        default=None,
        help=f"URL of the broker the brokerkit suite runs against (default: ${URL_ENV}, "
        "else an in-process memory:// broker)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "brokerkit_requires(*capabilities): a brokerkit conformance case that needs these "
        "Capabilities (where one is false, the case asserts UnsupportedError instead)",
    )


@pytest.fixture
def broker_url(request: pytest.FixtureRequest) -> str:
    """The URL of the broker under test (override this fixture to test several)."""
    url = request.config.getoption("--broker-url") or os.environ.get(URL_ENV)
    if url:
        return str(url)
    return f"memory://bk-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def topic() -> str:
    """A topic name unique to this test, starting with ``bk-test-``."""
    return unique_topic()


@pytest.fixture
def group() -> str:
    """A consumer group name unique to this test."""
    return unique_group()


def connect_or_skip(url: str) -> brokerkit.Broker:
    """``brokerkit.connect(url)``, skipping (failing under CI) if the broker is unreachable."""
    try:
        return brokerkit.connect(url)
    except brokerkit.BrokerConnectionError as exc:
        unreachable(brokerkit.make_url(url), exc)


async def aconnect_or_skip(url: str) -> brokerkit.AsyncBroker:
    """``await brokerkit.connect_async(url)``, skipping (failing under CI) when unreachable."""
    try:
        broker: brokerkit.AsyncBroker = await brokerkit.connect_async(url)
    except brokerkit.BrokerConnectionError as exc:
        unreachable(brokerkit.make_url(url), exc)
    return broker


@pytest.fixture
def broker(broker_url: str) -> Iterator[brokerkit.Broker]:
    """An open sync Broker for ``broker_url``, closed after the test."""
    b = connect_or_skip(broker_url)
    try:
        yield b
    finally:
        b.close()


@pytest_asyncio.fixture
async def abroker(broker_url: str) -> AsyncIterator[brokerkit.AsyncBroker]:
    """An open AsyncBroker for ``broker_url``, closed after the test."""
    b = await aconnect_or_skip(broker_url)
    try:
        yield b
    finally:
        await b.close()
