"""Processor: handlers chosen by matchers, hooks, run on any broker URL, a test client."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from .._options import merge_options
from .._optiontypes import ProcessorOptions
from ._decoders import Decoder, as_decoder
from ._dlq import DeadLetterStore
from ._engine import HandlerEntry, Hook, _name

if TYPE_CHECKING:
    from ._testclient import TestClient

__all__ = ["Processor"]

F = TypeVar("F", bound=Callable[..., Any])
_INHERIT: Any = object()


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


class Processor:
    """Routes each message to the one handler whose matcher accepts it.

    ``decoder``: what handlers get as their first argument (``JSON``, a pydantic model
    class, any object with ``decode(bytes)``; None: the message itself). ``retries``: how
    many times a handler that raised is called again, waiting ``backoff`` seconds
    (doubling, with jitter, at most ``backoff_max``) in between, before the message is
    dead-lettered. ``dlq``: the dead-letter store (see :meth:`set_dlq`).
    """

    def __init__(
        self,
        *,
        decoder: Any = None,
        retries: int = 2,
        backoff: float = 0.1,
        backoff_max: float = 5.0,
        dlq: DeadLetterStore | None = None,
    ) -> None:
        self.decoder: Decoder | None = as_decoder(decoder)
        self.retries: int = _check_count("retries", retries, 0)
        self.backoff: float = _check_seconds("backoff", backoff)
        self.backoff_max: float = _check_seconds("backoff_max", backoff_max)
        self.dlq: DeadLetterStore | None = None
        if dlq is not None:
            self.set_dlq(dlq)
        self._handlers: list[HandlerEntry] = []
        self._before_processing: list[Hook] = []
        self._after_processing: list[Hook] = []
        self._before_handling: list[Hook] = []
        self._after_handling: list[Hook] = []
        self._stop_flag = threading.Event()
        self._run: Any = None
        self._run_lock = threading.Lock()

    def __repr__(self) -> str:
        names = [h.name for h in self._handlers]
        return f"<Processor handlers={names} dlq={self.dlq!r}>"

    # -- registration ------------------------------------------------------------------

    def handle_for(
        self,
        matcher: Callable[[Any], object],
        *,
        decoder: Any = _INHERIT,
        retries: int | None = None,
        name: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated ``handler(message_or_payload, ctx)`` (a function or a
        coroutine function) for the messages ``matcher(message)`` is true for. ``decoder``
        and ``retries`` override the processor's for this handler."""
        if not callable(matcher):
            raise TypeError(
                f"handle_for() needs a matcher: a callable(message) -> bool, got {matcher!r}"
            )
        chosen = self.decoder if decoder is _INHERIT else as_decoder(decoder)
        tries = self.retries if retries is None else _check_count("retries", retries, 0)

        def register(fn: F) -> F:
            if not callable(fn):
                raise TypeError(f"a handler must be callable(message, ctx), got {fn!r}")
            self._handlers.append(
                HandlerEntry(
                    fn=fn,
                    matcher=matcher,
                    name=name or _name(fn),
                    is_async=inspect.iscoroutinefunction(fn),
                    decoder=chosen,
                    retries=tries,
                )
            )
            return fn

        return register

    def before_processing(self, hook: F) -> F:
        """Register ``hook(processing_ctx)`` (sync or async) to run once the consumers are
        subscribed, before the first message."""
        self._before_processing.append(hook)
        return hook

    def after_processing(self, hook: F) -> F:
        """Register ``hook(processing_ctx)`` to run at stop, after the last settlement."""
        self._after_processing.append(hook)
        return hook

    def before_handling(self, hook: F) -> F:
        """Register ``hook(processing_ctx, handling_ctx)`` to run before each handler;
        if it raises, the message is dead-lettered."""
        self._before_handling.append(hook)
        return hook

    def after_handling(self, hook: F) -> F:
        """Register ``hook(processing_ctx, handling_ctx)`` to run after each handler
        (``handling_ctx.decision`` tells how the message is settled)."""
        self._after_handling.append(hook)
        return hook

    def set_dlq(self, dlq: DeadLetterStore | None) -> None:
        """Where dead letters go: an object with ``add(message, reason)`` such as
        :class:`brokerkit.SQLiteDLQ`. Without one, the consumer's ``dead_letter_topic``
        is used if given, else dead letters are logged and dropped."""
        if dlq is not None and not callable(getattr(dlq, "add", None)):
            raise TypeError(
                f"set_dlq() needs a dead-letter store with add(message, reason), got {dlq!r}"
            )
        self.dlq = dlq

    # -- running -----------------------------------------------------------------------

    async def run_async(
        self,
        url: str | None = None,
        *,
        topics: str | Sequence[str],
        group: str | None = None,
        concurrency: int = 1,
        batch_size: int = 100,
        handle_signals: bool = True,
        backend_options: Mapping[str, Any] | None = None,
        **consumer_options: Unpack[ProcessorOptions],
    ) -> None:
        """Consume ``topics`` for ``group`` (at-least-once) until :meth:`stop`, SIGTERM
        or SIGINT (handled when running in the main thread). ``concurrency`` handlers at
        once; messages with the same key are handled in order where the broker orders by
        key. Other keywords are consumer options (e.g. ``dead_letter_topic=``);
        ``backend_options``: a mapping of consumer options the types do not list."""
        from ._runner import Run

        topic_list = [topics] if isinstance(topics, str) else list(topics)
        if not topic_list or not all(isinstance(t, str) and t for t in topic_list):
            raise ValueError(f"topics must be a topic name or a list of them, got {topics!r}")
        _check_count("concurrency", concurrency, 1)
        _check_count("batch_size", batch_size, 1)
        if not self._handlers:
            raise ValueError("the processor has no handler: register one with @handle_for(...)")
        options = dict(merge_options(consumer_options, backend_options))
        options.setdefault("guarantee", "at-least-once")
        run = Run(
            self,
            url,
            topic_list,
            group,
            concurrency,
            batch_size,
            handle_signals,
            options,
        )
        with self._run_lock:
            if self._run is not None:
                raise RuntimeError("this processor is already running; stop() it first")
            self._run = run
        try:
            await run.main()
        finally:
            with self._run_lock:
                self._run = None
                self._stop_flag.clear()

    def run(
        self,
        url: str | None = None,
        *,
        topics: str | Sequence[str],
        group: str | None = None,
        concurrency: int = 1,
        batch_size: int = 100,
        handle_signals: bool = True,
        backend_options: Mapping[str, Any] | None = None,
        **consumer_options: Unpack[ProcessorOptions],
    ) -> None:
        """Blocking :meth:`run_async`: runs an event loop in the calling thread (or, when
        that thread already runs one, in a thread of its own) until stopped."""

        def coro() -> Any:
            return self.run_async(
                url,
                topics=topics,
                group=group,
                concurrency=concurrency,
                batch_size=batch_size,
                handle_signals=handle_signals,
                backend_options=backend_options,
                **consumer_options,
            )

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(coro())
            return
        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(coro())
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target, name="brokerkit-processor")
        thread.start()
        thread.join()
        if errors:
            raise errors[0]

    def stop(self) -> None:
        """Ask the current run (or the next, if none is running) to stop gracefully: no new
        messages, in-flight handlers finish, outcomes are settled and committed, and what
        was fetched but not handled goes back to the group. Callable from any thread."""
        self._stop_flag.set()
        run = self._run
        if run is not None:
            run.wake()

    @property
    def running(self) -> bool:
        return self._run is not None

    # -- testing -----------------------------------------------------------------------

    def test_client(self) -> TestClient:
        """A client that runs hooks and handlers without a broker (see TestClient)."""
        from ._testclient import TestClient

        return TestClient(self)
