"""OpenTelemetry tracing for brokerkit (``pip install 'pybrokerkit[otel]'``).

:class:`Tracing` is an instrumentation hook that follows the OpenTelemetry messaging
semantic conventions:

- a ``publish <topic>`` span (kind PRODUCER) per message sent, from ``send()`` until the
  broker answered for it (status ERROR if it refused the message);
- the trace context is injected into the message's headers by the configured propagator
  (by default the W3C ``traceparent`` / ``tracestate`` headers, which OpenTelemetry
  consumers in other languages read);
- a ``process <topic>`` span (kind CONSUMER) per message handed to the application, from
  ``receive()`` until it is acked, nacked or dead-lettered, parented to the producer's span
  (and linked to it), so one trace crosses producers, brokers and consumers. While a
  message received by ``receive()`` (or iteration) is being handled, its span is the
  current span: what the handler sends, on any broker, continues the trace. A message
  that is never settled (handed back to the group at close, or dropped by the
  application) ends its span when the message object goes away, with
  ``brokerkit.outcome = "unsettled"``.

Install it on one broker or on all::

    brokerkit.connect(url, instrumentation=[brokerkit.otel.Tracing()])
    brokerkit.instrument(brokerkit.otel.Tracing())
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from functools import partial
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.trace import Link, SpanKind, Status, StatusCode
except ImportError as _missing:  # pragma: no cover - the extra is not installed
    raise ImportError(
        "brokerkit.otel needs the OpenTelemetry API: pip install 'pybrokerkit[otel]' "
        "(and an SDK, e.g. opentelemetry-sdk, to export spans)"
    ) from _missing

from ._instrument import Endpoint, Instrumentation, MessageView
from ._types import H_MESSAGE_ID, Record

__all__ = ["MESSAGING_SYSTEMS", "Tracing"]

#: ``messaging.system`` per backend: the semantic conventions' names where they have one.
MESSAGING_SYSTEMS = {"amqp": "rabbitmq", "kafka": "kafka"}

#: The context key that marks a context made current by a handling span: it holds the
#: context that was current before, to restore when the message is settled.
_BEFORE = otel_context.create_key("brokerkit-handling-before")


def _system(endpoint: Endpoint) -> str:
    return MESSAGING_SYSTEMS.get(endpoint.backend, endpoint.backend)


def _base_attributes(endpoint: Endpoint, operation: str, kind: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "messaging.system": _system(endpoint),
        "messaging.destination.name": endpoint.topic,
        "messaging.operation.name": operation,
        "messaging.operation.type": kind,
    }
    if endpoint.group is not None:
        attrs["messaging.consumer.group.name"] = endpoint.group
    if endpoint.server is not None and endpoint.backend != "memory":
        attrs["server.address"] = endpoint.server[0]
        if endpoint.server[1] is not None:
            attrs["server.port"] = endpoint.server[1]
    return attrs


class Tracing(Instrumentation):
    """Spans per publish and per handling, trace context carried in message headers.

    ``tracer_provider``: where spans go (default: the global one); ``propagator``: how the
    context is written to and read from headers (default: the global one, W3C trace
    context and baggage unless configured otherwise).
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        from . import __version__

        self._tracer = trace.get_tracer("brokerkit", __version__, tracer_provider=tracer_provider)
        self._propagator = propagator
        #: Publish spans waiting for the broker's answer, by their traceparent header.
        self._sending: dict[str, trace.Span] = {}
        #: Process spans of messages handed out and not settled yet, by id(message), with
        #: a weak reference whose callback ends the span of a message that goes away
        #: unsettled (settled ones drop their entry, and the reference with it).
        self._handling: dict[int, tuple[trace.Span, Any, weakref.ref[Any]]] = {}

    def _inject(self, headers: dict[str, str], ctx: otel_context.Context) -> None:
        if self._propagator is None:
            propagate.inject(headers, context=ctx)
        else:
            self._propagator.inject(headers, context=ctx)

    def _extract(self, headers: dict[str, str]) -> otel_context.Context:
        if self._propagator is None:
            return propagate.extract(headers)
        return self._propagator.extract(headers)

    # -- producing ---------------------------------------------------------------------

    def send(self, endpoint: Endpoint, headers: dict[str, str]) -> None:
        attrs = _base_attributes(endpoint, "publish", "send")
        message_id = headers.get(H_MESSAGE_ID)
        if message_id is not None:
            attrs["messaging.message.id"] = message_id
        span = self._tracer.start_span(
            f"publish {endpoint.topic}", kind=SpanKind.PRODUCER, attributes=attrs
        )
        self._inject(headers, trace.set_span_in_context(span))
        key = headers.get("traceparent")
        if key is None or key in self._sending:  # a propagator without traceparent
            span.end()
        else:
            self._sending[key] = span

    def publish(
        self,
        endpoint: Endpoint,
        records: Sequence[Record],
        errors: Sequence[BaseException | None],
        seconds: float,
    ) -> None:
        sending = self._sending
        for (_, _, headers), error in zip(records, errors, strict=False):
            if not headers:
                continue
            key = headers.get("traceparent")
            span = sending.pop(key, None) if key is not None else None
            if span is None:
                continue
            if error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, str(error)))
                span.set_attribute("error.type", type(error).__name__)
            span.end()

    # -- consuming ---------------------------------------------------------------------

    def deliver(self, endpoint: Endpoint, messages: Sequence[MessageView]) -> None:
        tracer = self._tracer
        name = f"process {endpoint.topic}"
        base = _base_attributes(endpoint, "process", "process")
        current = otel_context.get_current()
        before = otel_context.get_value(_BEFORE, current)
        if before is None:
            before = current
        for msg in messages:
            parent = self._extract(msg.headers)
            producer = trace.get_current_span(parent).get_span_context()
            links = [Link(producer)] if producer.is_valid else None
            attrs = dict(base)
            attrs["messaging.message.id"] = msg.id
            attrs["messaging.message.body.size"] = len(msg.value)
            if msg.delivery_count > 1:
                attrs["messaging.message.delivery_count"] = msg.delivery_count
            span = tracer.start_span(
                name, context=parent, kind=SpanKind.CONSUMER, attributes=attrs, links=links
            )
            key = id(msg)
            self._handling[key] = (span, before, weakref.ref(msg, partial(self._gone, key)))
            if len(messages) == 1:
                # receive(): the handling that follows runs in this span.
                ctx = trace.set_span_in_context(span, parent)
                otel_context.attach(otel_context.set_value(_BEFORE, before, ctx))

    def _gone(self, key: int, ref: weakref.ref[Any]) -> None:
        """A message went away unsettled: end its span (it never got an outcome)."""
        entry = self._handling.get(key)
        if entry is None or entry[2] is not ref or self._handling.pop(key, None) is None:
            return
        span = entry[0]
        span.set_attribute("brokerkit.outcome", "unsettled")
        span.end()

    def _settled(self, message: MessageView, outcome: str, error: str | None = None) -> None:
        entry = self._handling.pop(id(message), None)
        if entry is None:
            return
        span, before, _ = entry
        span.set_attribute("brokerkit.outcome", outcome)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()
        if trace.get_current_span() is span:
            otel_context.attach(before)  # the context from before the handling

    def ack(self, endpoint: Endpoint, message: MessageView, seconds: float) -> None:
        self._settled(message, "ack")

    def nack(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        requeue: bool,
        delay: float | None,
    ) -> None:
        self._settled(message, "nack" if requeue else "drop")

    def dead_letter(
        self,
        endpoint: Endpoint,
        message: MessageView,
        seconds: float,
        reason: str,
        dead_letter_topic: str,
    ) -> None:
        self._settled(message, "dead_letter", f"dead-lettered to {dead_letter_topic}: {reason}")
