"""Hypothesis properties of every backend, through the sync API.

- any bytes payload, any key (bytes, str or None) and any valid headers (str -> str, not
  starting with ``brokerkit-``) survive a round trip;
- random interleavings of send, receive, ack, nack and consumer close/reopen never lose a
  sent message and never redeliver an acked one (checked against a simple model; the
  second half only where acks are per message, not cumulative offsets).

Example counts are modest so that a real broker takes seconds per case.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

import brokerkit

from .._types import RESERVED_HEADER_PREFIX
from ._support import (
    DELIVERY_TIMEOUT,
    QUIET_PERIOD,
    guarantee_for,
    requires,
    unique_group,
    unique_topic,
)
from ._sync.support import collect

_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow],
}

keys = st.none() | st.binary(max_size=64) | st.text(max_size=32)
header_names = st.text(min_size=1, max_size=24).filter(
    lambda name: not name.startswith(RESERVED_HEADER_PREFIX)
)
headers = st.dictionaries(header_names, st.text(max_size=64), max_size=6)


class PropertySuite:
    """Property-based cases. Needs the fixtures of ``brokerkit.testing.plugin``."""

    round_trip_examples = 40
    machine_examples = 10
    machine_steps = 25

    def test_any_payload_key_and_headers_round_trip(
        self, broker: brokerkit.Broker, topic: str
    ) -> None:
        caps = broker.capabilities
        g = guarantee_for(caps)
        with (
            broker.consumer(topic, guarantee=g) as consumer,
            broker.producer(topic, guarantee=g) as producer,
        ):

            @settings(max_examples=self.round_trip_examples, **_SETTINGS)
            def check(value: bytes, key: bytes | str | None, hdrs: dict[str, str]) -> None:
                producer.send(value, key=key, headers=hdrs)
                producer.flush()
                msgs = collect(consumer, 1, ack=True)
                assert len(msgs) == 1, "the message never arrived"
                [msg] = msgs
                assert msg.value == value
                assert msg.key == (key.encode() if isinstance(key, str) else key)
                if caps.headers:
                    assert msg.headers == hdrs
                assert msg.topic == topic

            given(st.binary(max_size=4096), keys, headers)(check)()

    @requires("at_least_once", "consumer_groups")
    def test_random_interleavings_never_lose_or_redeliver_acked(
        self, broker: brokerkit.Broker, topic: str
    ) -> None:
        # Cumulative acks (an acked message behind an unacked one may come again after a
        # reopen): the state machine then only checks "never lost".
        per_message = not broker.capabilities.cumulative_ack
        machine = _machine(broker, per_message)
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=self.machine_examples,
                stateful_step_count=self.machine_steps,
                **_SETTINGS,
            ),
        )


def _machine(broker: brokerkit.Broker, per_message: bool) -> type[RuleBasedStateMachine]:
    class AckModel(RuleBasedStateMachine):
        """Model: sent, acked, and held (received, not settled) message values."""

        def __init__(self) -> None:
            super().__init__()
            self.topic = unique_topic()
            self.group = unique_group()
            self.consumer = broker.consumer(self.topic, group=self.group)
            self.producer = broker.producer(self.topic)
            self.sent: set[bytes] = set()
            self.acked: set[bytes] = set()
            self.held: dict[bytes, brokerkit.Message] = {}
            self.next = 0

        def _check(self, msg: brokerkit.Message) -> None:
            assert msg.value in self.sent, f"received {msg.value!r}, never sent"
            if per_message:
                assert msg.value not in self.acked, f"{msg.value!r} came back after its ack"
                assert msg.value not in self.held, f"{msg.value!r} delivered twice while held"
            # Cumulative acks: a nack re-delivers the later messages of its partition too,
            # held ones included; the newest copy is the one held.
            self.held[msg.value] = msg

        @rule(n=st.integers(min_value=1, max_value=4))
        def send(self, n: int) -> None:
            values = [b"v%d" % (self.next + i) for i in range(n)]
            self.next += n
            self.producer.send_many(values)
            self.producer.flush()
            self.sent.update(values)

        @rule()
        def receive(self) -> None:
            for msg in self.consumer.receive_many(max_messages=5, timeout=0.05):
                self._check(msg)

        # What is held depends on the broker's timing, so no precondition or draw may
        # depend on it (Hypothesis requires the same choices to replay the same way): an
        # index is drawn, and a rule with nothing held does nothing.
        def _pick(self, index: int) -> bytes | None:
            if not self.held:
                return None
            return sorted(self.held)[index % len(self.held)]

        @rule(index=st.integers(min_value=0, max_value=1 << 16))
        def ack(self, index: int) -> None:
            value = self._pick(index)
            if value is not None:
                self.held.pop(value).ack()
                self.acked.add(value)

        @rule(index=st.integers(min_value=0, max_value=1 << 16))
        def nack(self, index: int) -> None:
            value = self._pick(index)
            if value is not None:
                self.held.pop(value).nack()

        @rule()
        def reopen(self) -> None:
            self.consumer.close()
            self.held.clear()
            self.consumer = broker.consumer(self.topic, group=self.group)

        @invariant()
        def acked_were_sent(self) -> None:
            assert self.acked <= self.sent

        def teardown(self) -> None:
            try:
                for value in list(self.held):
                    self.held.pop(value).ack()
                    self.acked.add(value)
                deadline = time.monotonic() + DELIVERY_TIMEOUT
                while self.sent - self.acked and time.monotonic() < deadline:
                    missing = self.sent - self.acked
                    for msg in collect(self.consumer, len(missing), QUIET_PERIOD):
                        self._check(msg)
                        self.held.pop(msg.value).ack()
                        self.acked.add(msg.value)
                assert self.sent - self.acked == set(), f"lost: {sorted(self.sent - self.acked)}"
            finally:
                self.consumer.close()
                self.producer.close()

    return AckModel
