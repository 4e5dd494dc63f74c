"""brokerkit: one Producer/Consumer API, sync and async, over many message brokers.

import brokerkit

with brokerkit.connect("redis://localhost:6379/0") as broker:
    with broker.producer("orders") as producer:
        producer.send(b"hello", key="user-1")
"""

from ._api import connect, connect_async
from ._async.broker import AsyncBroker
from ._async.consumer import AsyncConsumer, AsyncMessage
from ._async.producer import AsyncProducer
from ._instrument import Endpoint, Instrumentation, instrument, uninstrument
from ._optiontypes import ConnectOptions, ConsumerOptions, ProcessorOptions, ProducerOptions
from ._registry import available, register_backend, unregister_backend
from ._sync.broker import Broker
from ._sync.consumer import Consumer, Message
from ._sync.producer import Producer
from ._types import Capabilities, Commit, Guarantee, OutgoingMessage
from ._url import BrokerURL, make_url
from .errors import (
    BrokerConnectionError,
    BrokerError,
    ClosedError,
    ConfigurationError,
    DeliveryError,
    TimeoutError,
    UnsupportedError,
)
from .processor import HandlingContext, ProcessingContext, Processor, SQLiteDLQ

__version__ = "0.1.0"

__all__ = [
    "AsyncBroker",
    "AsyncConsumer",
    "AsyncMessage",
    "AsyncProducer",
    "Broker",
    "BrokerConnectionError",
    "BrokerError",
    "BrokerURL",
    "Capabilities",
    "ClosedError",
    "Commit",
    "ConfigurationError",
    "ConnectOptions",
    "Consumer",
    "ConsumerOptions",
    "DeliveryError",
    "Endpoint",
    "Guarantee",
    "HandlingContext",
    "Instrumentation",
    "Message",
    "OutgoingMessage",
    "ProcessingContext",
    "Processor",
    "ProcessorOptions",
    "Producer",
    "ProducerOptions",
    "SQLiteDLQ",
    "TimeoutError",
    "UnsupportedError",
    "__version__",
    "available",
    "connect",
    "connect_async",
    "instrument",
    "make_url",
    "register_backend",
    "uninstrument",
    "unregister_backend",
]

for _cls in (
    AsyncBroker,
    AsyncConsumer,
    AsyncMessage,
    AsyncProducer,
    Broker,
    Consumer,
    Message,
    Producer,
    BrokerURL,
    ConnectOptions,
    ProducerOptions,
    ConsumerOptions,
    ProcessorOptions,
    Endpoint,
    Instrumentation,
):
    _cls.__module__ = "brokerkit"
del _cls
