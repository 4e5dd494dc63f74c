"""The plugin API: what a third-party backend needs to register itself.

A backend package exposes a :class:`BackendSpec` (its one registration: schemes, default
port, pip extra, options, capabilities, drivers, test variants, bench baseline) and names
it in its entry points::

    [project.entry-points."brokerkit.backends"]
    sqs = "brokerkit_sqs:spec"

The driver protocols, the :class:`Delivery` record and the helpers a driver needs (delay
scheduling, reconnect with backoff, error mapping, partial-batch DeliveryError) are in
:mod:`brokerkit.backends.toolkit`, re-exported here.
"""

from .._options import COMMON_OPTIONS, Option, OptionSchema
from .._registry import available, get_backend, register_backend, unregister_backend
from .toolkit import (
    AsyncConsumerDriver,
    AsyncDriver,
    AsyncProducerDriver,
    BackendSpec,
    Capabilities,
    ConsumerConfig,
    DelayScheduler,
    Delivery,
    Outcomes,
    ProducerConfig,
    SyncConsumerDriver,
    SyncDriver,
    SyncProducerDriver,
    aretry,
    delivery_error,
    map_errors,
    retry,
)

__all__ = [
    "COMMON_OPTIONS",
    "AsyncConsumerDriver",
    "AsyncDriver",
    "AsyncProducerDriver",
    "BackendSpec",
    "Capabilities",
    "ConsumerConfig",
    "DelayScheduler",
    "Delivery",
    "Option",
    "OptionSchema",
    "Outcomes",
    "ProducerConfig",
    "SyncConsumerDriver",
    "SyncDriver",
    "SyncProducerDriver",
    "aretry",
    "available",
    "delivery_error",
    "get_backend",
    "map_errors",
    "register_backend",
    "retry",
    "unregister_backend",
]
