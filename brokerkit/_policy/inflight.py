"""Sends in flight: what became of every message between ``send()`` and the broker's answer.

Sans-I/O bookkeeping for the producer facade. The facade buffers records and hands them to
the driver in batches; for each batch it reports the driver's outcomes here, and asks here
what to raise and when:

- a refused or lost message is kept as a failure until it is raised, as one
  :class:`~brokerkit.DeliveryError` naming every such message, from the next ``send()``,
  ``flush()`` or ``close()``: never dropped silently;
- a message sent with ``wait=True`` has a ticket (whatever the facade wakes its sender
  with): its outcome goes to that caller alone (raised there) and is not raised again
  from a later call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

from .._types import Record
from ..errors import BrokerError, DeliveryError

#: The tickets of waiting senders whose messages were answered, and each one's error
#: (None: stored), or None for the errors when every one of them is stored (no list and
#: no pair per message: a batch of confirmed sends is answered with two lists at most).
Answers = tuple[list[Any], list[BaseException | None] | None]

NONE_DONE: Answers = ([], None)

#: How many failures a DeliveryError lists by value (all are counted).
MAX_LISTED = 1000


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _preview(value: bytes) -> str:
    return repr(value[:40]) + ("..." if len(value) > 40 else "")


class InFlight:
    """Failures not yet raised, and the tickets of messages whose sender waits for them."""

    __slots__ = ("failures", "tickets", "topic")

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.failures: list[tuple[Record, BaseException]] = []
        #: id(record) -> ticket, for records sent with wait=True (alive while in flight).
        self.tickets: dict[int, Any] = {}

    def claim(self, record: Record, ticket: Any) -> None:
        """The sender of ``record`` will wait for its outcome itself, on ``ticket`` (the
        facade's own object: this module only hands it back with the outcome)."""
        self.tickets[id(record)] = ticket

    def outcome(
        self, records: Sequence[Record], outcomes: Sequence[BaseException | None] | None
    ) -> Answers:
        """Record what the broker said about a published batch; return the tickets now
        done, with their records' errors.

        ``outcomes`` is the driver's answer: None when every record is stored, else one
        entry per record (None: stored; an exception: refused or lost).
        """
        if outcomes is None:
            return self._stored(records) if self.tickets else NONE_DONE
        if len(outcomes) != len(records):  # a driver bug must not lose messages silently
            exc = DeliveryError(
                f"the driver reported {len(outcomes)} outcomes for a batch of {len(records)}"
            )
            return self.fail(records, exc)
        return self._record(records, outcomes)

    def settled(
        self,
        records: Sequence[Record],
        outcomes: Sequence[BaseException | None] | None,
        exc: BaseException | None,
    ) -> Answers:
        """The driver's answer for a batch: its outcomes, or ``exc`` for the whole batch."""
        if exc is not None:
            return self.fail(records, exc)
        return self.outcome(records, outcomes)

    def fail(self, records: Sequence[Record], exc: BaseException) -> Answers:
        """The whole batch failed (connection lost, no answer in time)."""
        if not self.tickets:
            self.failures.extend((record, exc) for record in records)
            return NONE_DONE
        return self._record(records, repeat(exc))

    def _record(self, records: Sequence[Record], errors: Iterable[BaseException | None]) -> Answers:
        """Each record's error goes to its ticket when its sender waits for it, else to
        the failures not raised yet."""
        tickets = self.tickets
        done: list[Any] = []
        errs: list[BaseException | None] = []
        for record, error in zip(records, errors, strict=False):  # errors may repeat()
            ticket = tickets.pop(id(record), None) if tickets else None
            if ticket is not None:
                done.append(ticket)
                errs.append(error)
            elif error is not None:
                self.failures.append((record, error))
        return done, errs

    def _stored(self, records: Sequence[Record]) -> Answers:
        """Every record of the batch is stored: the tickets of those waited for."""
        pop = self.tickets.pop
        done = [ticket for record in records if (ticket := pop(id(record), None)) is not None]
        return done, None

    def take_error(self) -> DeliveryError | None:
        """The DeliveryError to raise for every failure not raised yet (and forget them)."""
        failures = self.failures
        n = len(failures)
        if not n:
            return None
        # Copy, then delete what was copied: a failure the flusher thread appends
        # meanwhile stays for the next call (the sync producer's flusher is a thread).
        taken = failures[:n]
        del failures[:n]
        return delivery_error(self.topic, taken)


def delivery_error(topic: str, failures: Sequence[tuple[Record, BaseException]]) -> DeliveryError:
    """One DeliveryError naming the failed messages (``.failures``: (value, reason) pairs)."""
    first = failures[0][1]
    n = len(failures)
    what = "message" if n == 1 else "messages"
    listed = [(record[0], _reason(exc)) for record, exc in failures[:MAX_LISTED]]
    err = DeliveryError(
        f"{n} {what} sent to topic {topic!r} {'was' if n == 1 else 'were'} not stored "
        f"(first: {_preview(failures[0][0][0])}: {_reason(first)})",
        failures=listed,
        backend=first.backend if isinstance(first, BrokerError) else None,
        url=first.url if isinstance(first, BrokerError) else None,
    )
    err.__cause__ = first
    return err


def ticket_error(topic: str, record: Record, exc: BaseException) -> BaseException:
    """What a ``wait=True`` sender raises when its message was not stored: the driver's
    brokerkit error as it is (DeliveryError for a refusal, BrokerConnectionError or
    TimeoutError when the broker could not be reached in time)."""
    if isinstance(exc, BrokerError):
        return exc
    return delivery_error(topic, [(record, exc)])
