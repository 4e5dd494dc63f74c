"""AsyncProducer: validates what the application sends and hands it to the driver."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._acompat import AOpenable
from .._policy.records import check_headers, coerce_key, coerce_value, record_of
from .._spec import ProducerConfig
from .._types import Guarantee
from ..errors import ClosedError
from .driver import AsyncProducerDriver

if TYPE_CHECKING:
    from .broker import AsyncBroker


class AsyncProducer(AOpenable):
    """Sends messages to one topic. Create it with ``AsyncBroker.producer()``."""

    __slots__ = ("_broker", "_closed", "_drv", "_options", "guarantee", "topic")

    def __init__(
        self, broker: AsyncBroker, topic: str, guarantee: Guarantee, options: Mapping[str, Any]
    ) -> None:
        self._broker = broker
        self.topic = topic
        self.guarantee = guarantee
        self._options = options
        self._drv: AsyncProducerDriver | None = None
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} topic={self.topic!r} {self.guarantee.value} {state}>"

    async def _ensure_open(self) -> AsyncProducerDriver:
        if self._closed:
            raise ClosedError(f"producer for topic {self.topic!r} is closed")
        if self._drv is None:
            driver = self._broker._live_driver()
            config = ProducerConfig(guarantee=self.guarantee, options=self._options)
            self._drv = await driver.open_producer(self.topic, config)
            self._broker._children.add(self)
        return self._drv

    async def send(
        self,
        value: bytes | str,
        key: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send one message. With at-least-once, a refusal raises DeliveryError here or
        from a later send()/flush()/close()."""
        drv = self._drv
        if drv is None:
            drv = await self._ensure_open()
        if type(value) is not bytes:
            value = coerce_value(value)
        if key is not None and type(key) is not bytes:
            key = coerce_key(key)
        await drv.send(value, key, check_headers(headers) if headers else None)

    async def send_many(self, messages: Iterable[Any]) -> None:
        """Send a batch, pipelined. Items are values, or (value, key) / (value, key, headers)."""
        drv = self._drv
        if drv is None:
            drv = await self._ensure_open()
        records = [record_of(item) for item in messages]
        if records:
            await drv.send_many(records)

    async def flush(self, timeout: float | None = None) -> None:
        """Wait until the broker acknowledged every message sent so far (at-least-once)."""
        drv = self._drv
        if drv is None:
            drv = await self._ensure_open()
        await drv.flush(timeout)

    async def close(self) -> None:
        """Flush and release the producer. Idempotent; send() afterwards raises ClosedError."""
        if self._closed:
            return
        self._closed = True
        drv, self._drv = self._drv, None
        self._broker._children.discard(self)
        if drv is not None:
            await drv.close(self._broker._close_timeout)
