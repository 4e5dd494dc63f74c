"""The processor's policy, written once for sync and async handlers, runs and test clients:
retries with backoff (tenacity), and the reasons a message is dead-lettered for."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "ambiguous_reason",
    "async_retrying",
    "decode_reason",
    "failure_reason",
    "hook_reason",
    "matcher_reason",
    "no_match_reason",
    "sync_retrying",
]


def _exc_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure_reason(handler: str, exc: BaseException, attempts: int) -> str:
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return f"handler {handler!r} raised {_exc_text(exc)} (after {tries})"


def no_match_reason(handlers: Sequence[str]) -> str:
    known = ", ".join(repr(h) for h in handlers) or "none registered"
    return f"no handler matches this message (handlers: {known})"


def ambiguous_reason(handlers: Sequence[str]) -> str:
    names = ", ".join(repr(h) for h in handlers)
    return f"several handlers match this message ({names}); exactly one must"


def matcher_reason(handler: str, exc: BaseException) -> str:
    return f"the matcher of handler {handler!r} raised {_exc_text(exc)}"


def decode_reason(decoder: object, handler: str, exc: BaseException) -> str:
    return (
        f"could not decode the message with {decoder!r} for handler {handler!r}: {_exc_text(exc)}"
    )


def hook_reason(hook: str, exc: BaseException) -> str:
    return f"before_handling hook {hook!r} raised {_exc_text(exc)}"


def _common(
    retries: int, backoff: float, backoff_max: float, stop_flag: threading.Event
) -> dict[str, Any]:
    import tenacity  # imported on the first retry only: `import brokerkit` stays light

    wait: Any = (
        tenacity.wait_exponential(multiplier=backoff, max=backoff_max)
        + tenacity.wait_random(0, backoff)
        if backoff > 0
        else tenacity.wait_none()
    )
    return {
        # the first attempt already ran (and failed) before the retrying starts
        "stop": tenacity.stop_after_attempt(retries + 1) | tenacity.stop_when_event_set(stop_flag),
        "wait": wait,
        "reraise": True,
    }


def sync_retrying(
    retries: int, backoff: float, backoff_max: float, stop_flag: threading.Event
) -> tenacity.Retrying:
    """Retrying for a sync handler: its backoff sleep ends early when a stop is asked."""
    import tenacity

    def sleep(seconds: float) -> None:
        stop_flag.wait(seconds)

    return tenacity.Retrying(sleep=sleep, **_common(retries, backoff, backoff_max, stop_flag))


def async_retrying(
    retries: int,
    backoff: float,
    backoff_max: float,
    stop_flag: threading.Event,
    stop_event: asyncio.Event | None,
) -> tenacity.AsyncRetrying:
    """Retrying for an async handler: its backoff sleep ends early when a stop is asked."""
    import tenacity

    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    if stop_event is not None:
        event = stop_event

        async def sleep(seconds: float) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)

    return tenacity.AsyncRetrying(sleep=sleep, **_common(retries, backoff, backoff_max, stop_flag))
