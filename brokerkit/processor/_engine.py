"""The per-message pipeline, written once for runs and test clients, sync and async
handlers: route (matchers), decode, hooks, handler with retries, settle.

Messages come in chunks (one lane's share of a fetched batch). Async handlers run in the
lane's task; consecutive messages for sync handlers go to the thread pool as one job, so
there is one hop per run of sync messages, not per message.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, Any

from ..errors import BrokerError, UnsupportedError
from . import _policy as policy
from ._context import ACK, ACKED, DEAD, NACK, RELEASED, Decision, HandlingContext, ProcessingContext
from ._decoders import Decoder

if TYPE_CHECKING:
    from ._dlq import DeadLetterStore

log = logging.getLogger("brokerkit.processor")

Hook = Callable[..., Any]

#: Acks of handled messages are queued and handed over together; once the first queued
#: ack is this old (seconds), the next message handled hands them over, so a chunk of slow
#: handlers does not keep its acks to its end (a handler still running keeps them).
ACK_LINGER = 0.05


@dataclass(frozen=True, slots=True)
class HandlerEntry:
    fn: Callable[..., Any]
    matcher: Callable[[Any], object]
    name: str
    is_async: bool
    decoder: Decoder | None
    retries: int


def _name(obj: object) -> str:
    return getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)


class Engine:
    """Runs messages through one processor's handlers; settles each with its decision."""

    def __init__(
        self,
        *,
        handlers: Sequence[HandlerEntry],
        before_handling: Sequence[Hook],
        after_handling: Sequence[Hook],
        backoff: float,
        backoff_max: float,
        processing: ProcessingContext,
        stop_flag: threading.Event,
        loop: asyncio.AbstractEventLoop,
        executor: Executor | None,
        dlq: DeadLetterStore | None,
        dead_letter_topic: bool,
    ) -> None:
        self.handlers = tuple(handlers)
        self.names = [h.name for h in handlers]
        self.before = tuple(before_handling)
        self.after = tuple(after_handling)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.processing = processing
        self.stop_flag = stop_flag
        self.stop_event: asyncio.Event | None = None
        self.loop = loop
        self.executor = executor
        self.dlq = dlq
        self.dead_letter_topic = dead_letter_topic
        self.handled = 0
        self.dead_lettered = 0

    # -- routing and decoding (no I/O) -------------------------------------------------

    def prepare(self, msg: Any) -> HandlingContext | Decision:
        """The handler for ``msg`` and its context, or the decision to dead-letter it."""
        if len(self.handlers) == 1:
            return self._prepare_one(msg)
        found: HandlerEntry | None = None
        for entry in self.handlers:
            try:
                hit = entry.matcher(msg)
            except Exception as exc:
                return (DEAD, policy.matcher_reason(entry.name, exc))
            if hit:
                if found is not None:
                    return (DEAD, policy.ambiguous_reason(self._matching(msg)))
                found = entry
        if found is None:
            return (DEAD, policy.no_match_reason(self.names))
        if found.decoder is None:
            return HandlingContext(self.processing, msg, msg, found)
        return self._decoded(found, msg)

    def _prepare_one(self, msg: Any) -> HandlingContext | Decision:
        """:meth:`prepare` with a single handler (the common case; the hot path)."""
        entry = self.handlers[0]
        try:
            if not entry.matcher(msg):
                return (DEAD, policy.no_match_reason(self.names))
        except Exception as exc:
            return (DEAD, policy.matcher_reason(entry.name, exc))
        if entry.decoder is None:
            return HandlingContext(self.processing, msg, msg, entry)
        return self._decoded(entry, msg)

    def _decoded(self, entry: HandlerEntry, msg: Any) -> HandlingContext | Decision:
        """The context with the payload decoded by the entry's decoder, or the decision
        to dead-letter a message that does not decode."""
        decoder = entry.decoder
        assert decoder is not None
        try:
            payload = decoder.decode(msg.value)
        except Exception as exc:
            return (DEAD, policy.decode_reason(decoder, entry.name, exc))
        return HandlingContext(self.processing, msg, payload, entry)

    def _matching(self, msg: Any) -> list[str]:
        out = []
        for entry in self.handlers:
            try:
                if entry.matcher(msg):
                    out.append(entry.name)
            except Exception:
                continue
        return out

    # -- one chunk ---------------------------------------------------------------------

    async def run_chunk(self, chunk: Sequence[Any]) -> None:
        """Handle and settle the messages of ``chunk`` in order; once a stop is asked, the
        rest is left unsettled (it goes back to the group when the consumer closes).

        Acks are collected and handed to the consumer in one call: before any other
        settlement (so acks and nacks keep their order), when a handler returns once the
        first of them is ``ACK_LINGER`` seconds old (async handlers), and at the end of the
        chunk (also when a stop ends it early).

        The hot path: an async handler without per-message hooks that returns normally is
        called and its message queued for the ack right here, without further calls per
        message."""
        stop = self.stop_flag.is_set
        fast = not self.before and not self.after
        if fast and len(self.handlers) == 1:
            if self.handlers[0].is_async:
                await self._run_one_async(chunk)
            else:
                await self._run_one_sync(chunk)
            return
        prepare = self._prepare_one if len(self.handlers) == 1 else self.prepare
        pending: list[HandlingContext] = []
        acks: list[Any] = []
        now = monotonic
        flush_at = 0.0
        try:
            for msg in chunk:
                if stop():
                    break
                ctx = prepare(msg)
                if isinstance(ctx, tuple):
                    await self._settle_after(acks, msg, ctx)
                    continue
                entry = ctx._entry
                if not entry.is_async:
                    pending.append(ctx)
                    continue
                if pending:
                    await self._run_sync(pending)
                    pending = []
                decided: Decision | None
                if not fast:
                    decided = await self.invoke_async(ctx)
                else:
                    try:
                        await entry.fn(ctx.payload, ctx)
                    except Exception as exc:
                        ctx._decision = await self._retry_async(entry, ctx, exc)
                    decided = ctx._decision
                if decided is None or decided is ACKED:
                    acks.append(msg)
                    if len(acks) == 1:
                        flush_at = now() + ACK_LINGER
                    elif now() >= flush_at:  # a slow handler: do not hold acks back
                        await self.ack_all(acks)
                        acks.clear()
                    continue
                await self._settle_after(acks, msg, decided)
            if pending:
                await self._run_sync(pending)
        finally:
            if acks:
                await self.ack_all(acks)

    async def _run_one_async(self, chunk: Sequence[Any]) -> None:
        """:meth:`run_chunk` for one async handler and no per-message hooks (the hottest
        path): the same steps, without a call or a check per message that is not needed."""
        stop = self.stop_flag.is_set
        entry = self.handlers[0]
        matcher, fn, decoder = entry.matcher, entry.fn, entry.decoder
        processing = self.processing
        acks: list[Any] = []
        ack = acks.append
        now = monotonic
        flush_at = 0.0
        try:
            for msg in chunk:
                if stop():
                    break
                try:
                    hit = matcher(msg)
                except Exception:
                    hit = False
                ctx: HandlingContext | Decision
                if hit and decoder is None:
                    ctx = HandlingContext(processing, msg, msg, entry)
                else:
                    # decode, or (not matched) the decision with its reason
                    ctx = self._decoded(entry, msg) if hit else self._prepare_one(msg)
                    if isinstance(ctx, tuple):
                        await self._settle_after(acks, msg, ctx)
                        continue
                try:
                    await fn(ctx.payload, ctx)
                except Exception as exc:
                    ctx._decision = await self._retry_async(entry, ctx, exc)
                decided = ctx._decision
                if decided is None or decided is ACKED:
                    if acks:
                        ack(msg)
                        if now() >= flush_at:  # a slow handler: do not hold acks back
                            await self.ack_all(acks)
                            acks.clear()
                    else:
                        ack(msg)
                        flush_at = now() + ACK_LINGER
                    continue
                await self._settle_after(acks, msg, decided)
        finally:
            if acks:
                await self.ack_all(acks)

    async def _run_one_sync(self, chunk: Sequence[Any]) -> None:
        """:meth:`run_chunk` for one sync handler and no per-message hooks: the whole chunk
        goes to a pool thread (routing included), then the loop settles it."""
        if self.executor is None:
            decisions = self._handle_one_sync(chunk)
        else:
            decisions = await self.loop.run_in_executor(self.executor, self._handle_one_sync, chunk)
        await self._settle_all(chunk, decisions)

    async def _settle_all(self, msgs: Sequence[Any], decisions: Sequence[Decision]) -> None:
        """Settle ``msgs`` with their ``decisions``: the acks in one call, in order with
        the other decisions."""
        acks: list[Any] = []
        ack = acks.append
        try:
            for msg, decision in zip(msgs, decisions, strict=True):
                if decision is ACKED:
                    ack(msg)
                elif decision is not RELEASED:
                    await self._settle_after(acks, msg, decision)
        finally:
            if acks:
                await self.ack_all(acks)

    def _handle_one_sync(self, chunk: Sequence[Any]) -> list[Decision]:
        """In a pool thread: route and handle ``chunk`` with the one sync handler."""
        stop = self.stop_flag.is_set
        entry = self.handlers[0]
        matcher, fn, decoder = entry.matcher, entry.fn, entry.decoder
        processing = self.processing
        out: list[Decision] = []
        append = out.append
        for msg in chunk:
            if stop():
                append(RELEASED)
                continue
            try:
                hit = matcher(msg)
            except Exception:
                hit = False
            ctx: HandlingContext | Decision
            if hit and decoder is None:
                ctx = HandlingContext(processing, msg, msg, entry)
            else:
                ctx = self._decoded(entry, msg) if hit else self._prepare_one(msg)
                if isinstance(ctx, tuple):
                    append(ctx)
                    continue
            try:
                fn(ctx.payload, ctx)
            except Exception as exc:
                ctx._decision = self._retry_sync(entry, ctx, exc)
            append(ctx._decision or ACKED)
        return out

    async def _run_sync(self, items: list[HandlingContext]) -> None:
        if self.executor is None:
            decisions = self.invoke_many_sync(items)
        else:
            decisions = await self.loop.run_in_executor(self.executor, self.invoke_many_sync, items)
        await self._settle_all([ctx.message for ctx in items], decisions)

    # -- async handlers ----------------------------------------------------------------

    async def invoke_async(self, ctx: HandlingContext) -> Decision:
        entry: HandlerEntry = ctx._entry
        if self.before:
            for hook in self.before:
                try:
                    result = hook(self.processing, ctx)
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:
                    return self._finish_early(ctx, (DEAD, policy.hook_reason(_name(hook), exc)))
        try:
            await entry.fn(ctx.payload, ctx)
        except Exception as exc:
            decision = await self._retry_async(entry, ctx, exc)
        else:
            decision = ctx._decision or ACKED
        ctx._decision = decision
        if self.after:
            for hook in self.after:
                try:
                    result = hook(self.processing, ctx)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("after_handling hook %s raised", _name(hook))
        return decision

    async def _retry_async(
        self, entry: HandlerEntry, ctx: HandlingContext, first: Exception
    ) -> Decision:
        if entry.retries <= 0:
            return self._failed(entry, ctx, first)
        retrying = policy.async_retrying(
            entry.retries, self.backoff, self.backoff_max, self.stop_flag, self.stop_event
        )
        failed: Exception | None = first
        try:
            async for attempt in retrying:
                with attempt:
                    if failed is not None:  # the first attempt, already made
                        exc, failed = failed, None
                        raise exc
                    ctx.attempt += 1
                    ctx._decision = None
                    await entry.fn(ctx.payload, ctx)
        except Exception as exc:
            return self._failed(entry, ctx, exc)
        return ctx._decision or ACKED

    # -- sync handlers (in a pool thread) ----------------------------------------------

    def invoke_many_sync(self, items: list[HandlingContext]) -> list[Decision]:
        """Run sync handlers on ``items`` in order (in a pool thread); their decisions."""
        out: list[Decision] = []
        append = out.append
        stop = self.stop_flag.is_set
        if self.before or self.after:
            for ctx in items:
                append(RELEASED if stop() else self.invoke_sync(ctx))
            return out
        for ctx in items:  # the hot path: no per-message hooks
            if stop():
                append(RELEASED)
                continue
            entry = ctx._entry
            try:
                entry.fn(ctx.payload, ctx)
            except Exception as exc:
                decision = ctx._decision = self._retry_sync(entry, ctx, exc)
                append(decision)
            else:
                append(ctx._decision or ACKED)
        return out

    def _call_hook_sync(self, hook: Hook, ctx: HandlingContext) -> None:
        result = hook(self.processing, ctx)
        if inspect.isawaitable(result):
            asyncio.run_coroutine_threadsafe(_awaited(result), self.loop).result()

    def invoke_sync(self, ctx: HandlingContext) -> Decision:
        entry: HandlerEntry = ctx._entry
        for hook in self.before:
            try:
                self._call_hook_sync(hook, ctx)
            except Exception as exc:
                return self._finish_early(ctx, (DEAD, policy.hook_reason(_name(hook), exc)))
        try:
            entry.fn(ctx.payload, ctx)
        except Exception as exc:
            decision = self._retry_sync(entry, ctx, exc)
        else:
            decision = ctx._decision or ACKED
        ctx._decision = decision
        for hook in self.after:
            try:
                self._call_hook_sync(hook, ctx)
            except Exception:
                log.exception("after_handling hook %s raised", _name(hook))
        return decision

    def _retry_sync(self, entry: HandlerEntry, ctx: HandlingContext, first: Exception) -> Decision:
        if entry.retries <= 0:
            return self._failed(entry, ctx, first)
        retrying = policy.sync_retrying(
            entry.retries, self.backoff, self.backoff_max, self.stop_flag
        )
        failed: Exception | None = first
        try:
            for attempt in retrying:
                with attempt:
                    if failed is not None:
                        exc, failed = failed, None
                        raise exc
                    ctx.attempt += 1
                    ctx._decision = None
                    entry.fn(ctx.payload, ctx)
        except Exception as exc:
            return self._failed(entry, ctx, exc)
        return ctx._decision or ACKED

    # -- decisions ---------------------------------------------------------------------

    def _failed(self, entry: HandlerEntry, ctx: HandlingContext, exc: Exception) -> Decision:
        if self.stop_flag.is_set() and ctx.attempt <= entry.retries:
            return RELEASED  # stopped between retries: the message goes back to the group
        return (DEAD, policy.failure_reason(entry.name, exc, ctx.attempt))

    def _finish_early(self, ctx: HandlingContext, decision: Decision) -> Decision:
        ctx._decision = decision
        return decision

    # -- settling ----------------------------------------------------------------------

    async def ack_all(self, msgs: list[Any]) -> None:
        """Ack ``msgs`` (one chunk's, so of one consumer): one call where the consumer
        takes a batch of acks, else one ack each (a test client's messages)."""
        ack_many = getattr(getattr(msgs[0], "_consumer", None), "_ack_many", None)
        if ack_many is None:
            for msg in msgs:
                await self.settle(msg, ACKED)
            return
        try:
            await ack_many(msgs)
        except BrokerError as exc:
            log.warning(
                "could not settle %d messages of topic %r (they will be delivered again): %s",
                len(msgs),
                getattr(msgs[0], "topic", "?"),
                exc,
            )
            return
        self.handled += len(msgs)

    async def _settle_after(self, acks: list[Any], msg: Any, decision: Decision) -> None:
        """Settle ``msg`` with ``decision`` once the acks queued before it are sent."""
        if acks:
            await self.ack_all(acks)
            acks.clear()
        await self.settle(msg, decision)

    async def settle(self, msg: Any, decision: Decision) -> None:
        """Apply ``decision`` to ``msg`` (written once: runs and test clients)."""
        kind = decision[0]
        try:
            if kind == ACK:
                await msg.ack()
                self.handled += 1
            elif kind == NACK:
                try:
                    await msg.nack(delay=decision[1])
                except UnsupportedError:
                    await msg.nack()  # the broker cannot delay: come again now
                self.handled += 1
            elif kind == DEAD:
                await self.dead_letter(msg, decision[1])
        except BrokerError as exc:
            self._settle_failed(msg, exc)

    @staticmethod
    def _settle_failed(msg: Any, exc: BaseException) -> None:
        log.warning(
            "could not settle message %s of topic %r (it will be delivered again): %s",
            getattr(msg, "id", "?"),
            getattr(msg, "topic", "?"),
            exc,
        )

    async def dead_letter(self, msg: Any, reason: str) -> None:
        """Move ``msg`` out of the way: to the DLQ store, else to the dead_letter_topic,
        else drop it. One log line per message: the consumer writes it for the
        dead_letter_topic (with the delivery count), this one for the others."""
        self.dead_lettered += 1
        if self.dlq is not None:
            log.warning(
                "dead letter: topic=%r id=%s key=%r reason=%s (stored in %r)",
                msg.topic,
                msg.id,
                msg.key,
                reason,
                self.dlq,
            )
            try:
                await asyncio.to_thread(self.dlq.add, msg, reason)
            except Exception:
                log.exception(
                    "could not store dead letter %s of topic %r in %r; it will be delivered again",
                    msg.id,
                    msg.topic,
                    self.dlq,
                )
                return
            await msg.ack()
        elif self.dead_letter_topic:
            await msg.dead_letter(reason)
        else:
            log.error(
                "dead letter: topic=%r id=%s key=%r reason=%s: no dead-letter store (set_dlq()) "
                "and no dead_letter_topic, so the message is dropped",
                msg.topic,
                msg.id,
                msg.key,
                reason,
            )
            await msg.ack()

    # -- processing hooks --------------------------------------------------------------

    async def run_hooks(self, hooks: Sequence[Hook], what: str) -> None:
        for hook in hooks:
            result = hook(self.processing)
            if inspect.isawaitable(result):
                await result


async def _awaited(aw: Any) -> Any:
    return await aw
