"""AsyncBroker: one connection to one broker; makes producers and consumers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Unpack

from .._acompat import AOpenable, aopened
from .._instrument import Endpoint, combine
from .._options import CONSUMER_OPTIONS, PRODUCER_OPTIONS, merge_options
from .._optiontypes import ConsumerOptions, ProducerOptions
from .._policy.guarantees import check_consumer, check_producer
from .._spec import BackendSpec
from .._types import Capabilities
from .._url import BrokerURL
from ..errors import BrokerError, ClosedError
from .consumer import AsyncConsumer
from .driver import AsyncDriver
from .producer import AsyncProducer

DriverFactory = Callable[[BrokerURL, Mapping[str, Any], Capabilities], AsyncDriver]


def _check_topic(topic: object, what: str = "topic") -> str:
    if not isinstance(topic, str) or not topic:
        raise TypeError(f"{what} must be a non-empty str, got {topic!r}")
    return topic


class AsyncBroker(AOpenable):
    """A connection to one broker. Use ``brokerkit.connect_async(url)`` to make one."""

    def __init__(
        self,
        url: BrokerURL,
        spec: BackendSpec,
        options: Mapping[str, Any],
        capabilities: Capabilities,
        driver_factory: DriverFactory,
    ) -> None:
        self.url: BrokerURL = url
        self.backend: str = spec.name
        self.capabilities: Capabilities = capabilities
        self.options: dict[str, Any] = dict(options)
        self._spec = spec
        self._factory = driver_factory
        self._driver: AsyncDriver | None = None
        self._closed = False
        self._close_timeout: float | None = options.get("close_timeout")
        self._children: set[AsyncProducer | AsyncConsumer] = set()
        self._producer_schema = PRODUCER_OPTIONS.extend(*spec.producer_options)
        self._consumer_schema = CONSUMER_OPTIONS.extend(*spec.consumer_options)
        #: The instrumentation hook (brokerkit.instrument() and the option), or None.
        self._hooks = combine(options.get("instrumentation"))

    def __repr__(self) -> str:
        text = f"<{type(self).__name__} {self.url.render()}"
        if self._driver is None and not self._closed:
            # What asyncio.run(brokerkit.connect_async(url)) shows ("a coroutine was
            # expected, got <...>"): say what to write instead.
            text += (
                " (not connected: inside an `async def`, write "
                "`broker = await brokerkit.connect_async(...)` or "
                "`async with brokerkit.connect_async(...) as broker:`)"
            )
        return text + ">"

    async def _ensure_open(self) -> AsyncDriver:
        if self._closed:
            raise ClosedError(f"broker {self.url} is closed", url=self.url.render())
        if self._driver is None:
            driver = self._factory(self.url, self.options, self.capabilities)
            try:
                await driver.connect(self.options["connect_timeout"])
            except BrokerError as exc:
                if exc.url is None:  # every backend's connect errors say which URL (masked)
                    exc.url = self.url.render()
                raise
            self._driver = driver
        return self._driver

    def _live_driver(self) -> AsyncDriver:
        if self._driver is None:
            if self._closed:
                raise ClosedError(f"broker {self.url} is closed", url=self.url.render())
            raise ClosedError(
                f"broker {self.url} is not connected yet: use "
                "`await brokerkit.connect_async(...)` or `async with brokerkit.connect_async(...)`",
                url=self.url.render(),
            )
        return self._driver

    def _endpoint(self, topic: str, group: str | None, kind: str) -> Endpoint:
        """What the instrumentation hook is told about a producer or consumer."""
        hosts = self.url.hosts
        server = (hosts[0][0], hosts[0][1]) if hosts else None
        return Endpoint(self.backend, topic, group, kind, server, self.url.render())

    def _register(self, child: AsyncProducer | AsyncConsumer) -> None:
        """Called by a producer/consumer once it is open: close() will close it."""
        self._children.add(child)

    def _unregister(self, child: AsyncProducer | AsyncConsumer) -> None:
        """Called by a producer/consumer that closed itself."""
        self._children.discard(child)

    def producer(
        self,
        topic: str,
        *,
        backend_options: Mapping[str, Any] | None = None,
        **options: Unpack[ProducerOptions],
    ) -> AsyncProducer:
        """A producer for ``topic``. Options: guarantee ("at-least-once" | "at-most-once"),
        batch_size, linger, max_in_flight, buffer_size, delivery_timeout, max_message_bytes,
        plus the backend's producer options (``backend_options``: a mapping of options the
        type checker does not know). Raises UnsupportedError at once if the backend cannot
        keep the guarantee."""
        _check_topic(topic)
        opts = self._producer_schema.resolve(
            {}, merge_options(options, backend_options), context=f"{self.backend} producer"
        )
        guarantee = opts.pop("guarantee")
        check_producer(self.capabilities, self.backend, guarantee)
        backend_opts = {k: opts[k] for k in opts if k in self._spec.producer_options}
        return aopened(AsyncProducer(self, topic, guarantee, backend_opts, opts))

    def consumer(
        self,
        topic: str,
        group: str | None = None,
        *,
        backend_options: Mapping[str, Any] | None = None,
        **options: Unpack[ConsumerOptions],
    ) -> AsyncConsumer:
        """A consumer of ``topic`` in ``group`` (None: a private group). See the docs for
        options (guarantee, commit, commit_every, commit_interval, prefetch, max_deliveries,
        dead_letter_topic, on_commit_error) and the backend's own (``backend_options``: a
        mapping of options the type checker does not know)."""
        _check_topic(topic)
        if group is not None:
            _check_topic(group, "group")
        opts = self._consumer_schema.resolve(
            {}, merge_options(options, backend_options), context=f"{self.backend} consumer"
        )
        check_consumer(
            self.capabilities,
            self.backend,
            group=group,
            guarantee=opts["guarantee"],
            max_deliveries=opts["max_deliveries"],
            dead_letter_topic=opts["dead_letter_topic"],
        )
        if opts["dead_letter_topic"] is not None:
            _check_topic(opts["dead_letter_topic"], "dead_letter_topic")
        backend_opts = {k: opts[k] for k in opts if k in self._spec.consumer_options}
        return aopened(AsyncConsumer(self, topic, group, opts, backend_opts))

    async def close(self) -> None:
        """Close every producer and consumer made here, then the connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            for child in list(self._children):
                await child.close()
        finally:
            driver, self._driver = self._driver, None
            if driver is not None:
                await driver.close()
