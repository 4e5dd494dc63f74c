"""Helpers shared by the async suite and the sync suite generated from it.

Helpers that do I/O are written once in ``_async/support.py`` (``acollect``,
``aprobe_unsupported``) and generated into ``_sync/support.py``. What stays here is
either free of I/O or genuinely differs between the two (``arun``/``run``: a task or a
thread), with the ``a``-prefixed spelling that tools/unasync.py renames. Nothing here
sleeps to wait for a broker: everything polls with a deadline.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NoReturn, TypeVar

import pytest

from .._types import Capabilities, Guarantee
from ..errors import UnsupportedError

T = TypeVar("T")

#: How long a helper waits for messages that must come (generous: real brokers, busy CI).
DELIVERY_TIMEOUT = 10.0
#: Concurrent senders on one producer in the producing cases: tasks in the async suite,
#: threads in the sync one (a thread costs more than a task).
ASENDERS = 1000
SENDERS = 64
#: How long a helper listens to make sure that nothing (more) comes.
QUIET_PERIOD = 0.5

#: Every topic the suite makes starts with this, so a backend's test setup can clean up.
TOPIC_PREFIX = "bk-test-"
#: ...and, within one test session, with this: cleaning up after a session then leaves the
#: topics of other sessions running against the same broker alone.
SESSION_PREFIX = f"{TOPIC_PREFIX}{uuid.uuid4().hex[:8]}-"


def unique_topic() -> str:
    return f"{SESSION_PREFIX}{uuid.uuid4().hex[:16]}"


def unique_group() -> str:
    return f"bk-group-{uuid.uuid4().hex[:16]}"


def guarantee_for(caps: Capabilities) -> Guarantee:
    """The guarantee a guarantee-agnostic case uses: at-least-once where supported."""
    return Guarantee.AT_LEAST_ONCE if caps.at_least_once else Guarantee.AT_MOST_ONCE


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unreachable(url: object, reason: object) -> NoReturn:
    """Skip (laptop) or fail (``CI=true``) a test whose broker cannot be used."""
    message = f"broker {url} is not usable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a skipped backend fails the run)")
    pytest.skip(message)


# -- concurrency: tasks in the async suite, threads in the sync one ------------------------


class _TaskHandle:
    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task

    async def wait(self, timeout: float = DELIVERY_TIMEOUT) -> Any:
        """The background call's result (re-raising its exception), within ``timeout``."""
        return await asyncio.wait_for(asyncio.shield(self.task), timeout)


class _ThreadHandle:
    def __init__(self, fn: Callable[[], Any]) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._result = fn()
        except BaseException as exc:
            self._error = exc

    def wait(self, timeout: float = DELIVERY_TIMEOUT) -> Any:
        """The background call's result (re-raising its exception), within ``timeout``."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"background call still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result


def arun(fn: Callable[[], Awaitable[Any]]) -> _TaskHandle:
    """Start ``fn()`` in another task now; ``await handle.wait()`` for its result."""

    async def call() -> Any:
        return await fn()

    return _TaskHandle(asyncio.get_running_loop().create_task(call()))


def run(fn: Callable[[], Any]) -> _ThreadHandle:
    """Start ``fn()`` in another thread now; ``handle.wait()`` for its result."""
    return _ThreadHandle(fn)


async def agather(*fns: Callable[[], Awaitable[T]]) -> list[T]:
    """Run the calls concurrently (tasks); their results, re-raising the first error."""
    return list(await asyncio.gather(*(fn() for fn in fns)))


def gather(*fns: Callable[[], T]) -> list[T]:
    """Run the calls concurrently (threads); their results, re-raising the first error."""
    handles = [_ThreadHandle(fn) for fn in fns]
    return [h.wait(DELIVERY_TIMEOUT * 3) for h in handles]


# -- capability gating ------------------------------------------------------------------

#: Capabilities a case can be gated on, with no way to ask for them at creation: where
#: such a capability is false, the case is skipped with the reason (there is nothing to
#: assert). Every other capability has a probe below that asserts UnsupportedError.
_PROBED = frozenset(
    {"at_least_once", "at_most_once", "consumer_groups", "delivery_count", "nack_delay"}
)
#: Every capability field (derived from the dataclass, never retyped).
KNOWN_CAPABILITIES = frozenset(Capabilities.names())
_UNASKABLE = KNOWN_CAPABILITIES - _PROBED


def _expect_unsupported(capability: str, exc: UnsupportedError) -> None:
    """An UnsupportedError for ``capability`` names it: in ``.capability`` and in the
    message, so the user learns what is missing (an error naming nothing fails)."""
    assert exc.capability == capability, (
        f"asked for {capability!r}, but UnsupportedError names {exc.capability!r}: {exc}"
    )
    assert capability in str(exc), (
        f"UnsupportedError for {capability!r} does not name it in its message: {exc}"
    )


def _missing(caps: Capabilities, capabilities: Iterable[str]) -> list[str]:
    return [c for c in capabilities if not getattr(caps, c)]


def _no_probe(capability: str) -> None:
    pytest.skip(
        f"capability {capability!r} is false for this URL, and no option asks for it "
        "(nothing to assert)"
    )


def requires(*capabilities: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Gate a suite case on ``capabilities`` (names of :class:`brokerkit.Capabilities` fields).

    Where the broker under test has them all, the case runs. Where one is false, the case
    instead asserts that asking for it raises :class:`brokerkit.UnsupportedError` when the
    producer/consumer is created (nack_delay: at ``nack(delay=...)``): checked, not skipped.
    Capabilities no option asks for (ordered, replay, headers, ...) skip with the reason.
    The case must take the ``abroker``/``broker`` and ``topic`` fixtures.
    Also marks the case ``brokerkit_requires(*capabilities)``.
    """
    for name in capabilities:
        if name not in KNOWN_CAPABILITIES:
            raise ValueError(
                f"unknown capability {name!r}; known: {', '.join(sorted(KNOWN_CAPABILITIES))}"
            )

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        wrapper: Any
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                broker = kwargs["abroker"]
                missing = _missing(broker.capabilities, capabilities)
                if missing:
                    from ._async.support import aprobe_unsupported

                    return await aprobe_unsupported(broker, kwargs["topic"], missing[0])
                return await fn(*args, **kwargs)

            wrapper = awrapper
        else:

            @functools.wraps(fn)
            def swrapper(*args: Any, **kwargs: Any) -> Any:
                broker = kwargs["broker"]
                missing = _missing(broker.capabilities, capabilities)
                if missing:
                    from ._sync.support import probe_unsupported

                    return probe_unsupported(broker, kwargs["topic"], missing[0])
                return fn(*args, **kwargs)

            wrapper = swrapper
        wrapper.__brokerkit_requires__ = capabilities
        marked: Callable[..., Any] = pytest.mark.brokerkit_requires(*capabilities)(wrapper)
        return marked

    return decorate
