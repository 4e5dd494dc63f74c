"""The plugin API: what a third-party backend needs to register itself.

A backend package exposes a :class:`BackendSpec` and names it in its entry points::

    [project.entry-points."brokerkit.backends"]
    sqs = "brokerkit_sqs:spec"
"""

from .._async.driver import AsyncConsumerDriver, AsyncDriver, AsyncProducerDriver, Delivery
from .._options import COMMON_OPTIONS, Option, OptionSchema
from .._registry import available, get_backend, register_backend, unregister_backend
from .._spec import BackendSpec, ConsumerConfig, ProducerConfig
from .._sync.driver import SyncConsumerDriver, SyncDriver, SyncProducerDriver
from .._types import Capabilities

__all__ = [
    "COMMON_OPTIONS",
    "AsyncConsumerDriver",
    "AsyncDriver",
    "AsyncProducerDriver",
    "BackendSpec",
    "Capabilities",
    "ConsumerConfig",
    "Delivery",
    "Option",
    "OptionSchema",
    "ProducerConfig",
    "SyncConsumerDriver",
    "SyncDriver",
    "SyncProducerDriver",
    "available",
    "get_backend",
    "register_backend",
    "unregister_backend",
]
