"""What the async driver and its generated sync twin share: librdkafka settings from the
URL and options, and the error table (the one place where confluent-kafka errors become
brokerkit errors). Imports confluent_kafka.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, unquote

from confluent_kafka import KafkaError, KafkaException

from ..._async.driver import Delivery
from ..._spec import ConsumerConfig
from ..._types import Guarantee
from ..._url import BrokerURL
from ...errors import (
    BrokerConnectionError,
    BrokerError,
    ConfigurationError,
    DeliveryError,
    TimeoutError,
    scrub,
)
from .._tls import TLS_FILES, ssl_context

__all__ = ["Delivery", "ErrorMapper"]

DEFAULT_PORT = 9092
#: The largest message a producer sends (librdkafka's message.max.bytes; its default is
#: 1,000,000) and the max.message.bytes of topics brokerkit creates (Kafka's default is
#: 1 MiB + 12, too small for a 1 MiB value with its record framing). Topics created
#: elsewhere keep their own limit: a larger message is then a DeliveryError.
MESSAGE_MAX_BYTES = 8 << 20
LOG = logging.getLogger("brokerkit.kafka")
#: librdkafka's own log lines (connection failures are retried by it): for applications that
#: configure logging; without a handler they are not printed to stderr.
CLIENT_LOG = logging.getLogger("brokerkit.kafka.librdkafka")
CLIENT_LOG.addHandler(logging.NullHandler())

#: librdkafka settings brokerkit decides itself (guarantees, groups, offsets, callbacks);
#: client_options may not set them.
OWNED = frozenset(
    {
        "bootstrap.servers",
        "metadata.broker.list",
        "group.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "auto.offset.reset",
        "acks",
        "request.required.acks",
        "enable.idempotence",
        "on_delivery",
        "on_commit",
        "error_cb",
        "logger",
        "enable.partition.eof",
        "sasl.password",
        "sasl.username",
    }
)

_CONNECTION = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE,
    KafkaError._TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NETWORK_EXCEPTION,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError._WAIT_COORD,
    KafkaError._DESTROY,
}
_CREDENTIALS = {
    KafkaError._AUTHENTICATION,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.UNSUPPORTED_SASL_MECHANISM,
    KafkaError.ILLEGAL_SASL_STATE,
    KafkaError._SSL,
}
_CONFIG = {
    KafkaError._INVALID_ARG,
    KafkaError.INVALID_SESSION_TIMEOUT,
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError.INVALID_PARTITIONS,
    KafkaError.POLICY_VIOLATION,
    KafkaError.TOPIC_EXCEPTION,
}
#: Commit failures that only mean the partition moved to another member: its messages
#: come again from the last committed offset, nothing is lost.
REBALANCING = {
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError._NO_OFFSET,
    KafkaError._STATE,
}


#: brokerkit's TLS file options -> librdkafka settings.
TLS_SETTINGS = {
    "tls_ca_file": "ssl.ca.location",
    "tls_cert_file": "ssl.certificate.location",
    "tls_key_file": "ssl.key.location",
}


def bootstrap(url: BrokerURL) -> str:
    """``host:port,host:port`` (default port 9092) for bootstrap.servers and messages."""
    if not url.hosts:
        return f"localhost:{DEFAULT_PORT}"
    return ",".join(url.with_defaults(port=DEFAULT_PORT, host="localhost").endpoints())


def base_config(url: BrokerURL, options: Mapping[str, Any], errors: ErrorMapper) -> dict[str, Any]:
    """Settings every client (admin, producer, consumer) of one broker shares."""
    tls = bool(options["tls"])
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap(url),
        "client.id": options.get("client_id") or "brokerkit",
        "socket.timeout.ms": int(options["request_timeout"] * 1000),
        "socket.connection.setup.timeout.ms": max(1000, int(options["connect_timeout"] * 1000)),
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 1000,
        "error_cb": errors.note,
        "logger": CLIENT_LOG,
        "log.connection.close": False,
    }
    if url.username is not None or url.password is not None:
        conf["security.protocol"] = "SASL_SSL" if tls else "SASL_PLAINTEXT"
        conf["sasl.mechanism"] = options["sasl_mechanism"]
        conf["sasl.username"] = url.username or ""
        conf["sasl.password"] = url.password or ""
    elif tls:
        conf["security.protocol"] = "SSL"
    if tls:
        ssl_context(options, backend="kafka")  # the files load, or a clear error now
        for name, setting in TLS_SETTINGS.items():
            if options.get(name):
                conf[setting] = options[name]
        if not options.get("tls_verify", True):
            conf["enable.ssl.certificate.verification"] = False
            conf["ssl.endpoint.identification.algorithm"] = "none"
    else:
        for name in TLS_FILES:
            if options.get(name):
                raise ConfigurationError(
                    f"option {name!r} applies with tls=true only (kafka://host:9092?tls=true)"
                )
    extra = options.get("client_options") or {}
    if not isinstance(extra, Mapping):
        raise ConfigurationError(
            f"option 'client_options' takes a mapping of librdkafka settings, "
            f"got {type(extra).__name__}"
        )
    owned = sorted(k for k in extra if k in OWNED)
    if owned:
        raise ConfigurationError(
            f"client_options may not set {', '.join(map(repr, owned))}: brokerkit sets "
            "them from the URL, the guarantee and the group; every other librdkafka "
            "setting is accepted"
        )
    conf.update(extra)
    return conf


def producer_config(
    base: Mapping[str, Any], options: Mapping[str, Any], guarantee: Guarantee
) -> dict[str, Any]:
    conf = dict(base)
    conf.setdefault("linger.ms", options["linger"] * 1000)
    conf.setdefault("message.timeout.ms", int(options["delivery_timeout"] * 1000))
    conf.setdefault("topic.metadata.refresh.interval.ms", 10_000)
    conf.setdefault("message.max.bytes", MESSAGE_MAX_BYTES)
    # Connect to the brokers of the metadata at once, not when a request needs one: with
    # sparse connections an idempotent producer often finds no broker up when it first
    # asks for its producer id and waits for its 500 ms retry timer (once or twice), so
    # the first message of a new producer took 0.5 or 1 s; with this, ~25 ms.
    conf.setdefault("enable.sparse.connections", False)
    if guarantee is Guarantee.AT_MOST_ONCE:
        conf["acks"] = 0
        conf["enable.idempotence"] = False
        conf["message.send.max.retries"] = 0
    else:
        conf["acks"] = "all"
        conf["enable.idempotence"] = True
    return conf


def topic_config(options: Mapping[str, Any]) -> dict[str, str]:
    """The configs of a topic brokerkit creates: ``topic_config``, and a message size limit
    that matches the producers' unless ``topic_config`` sets one."""
    config = {str(k): str(v) for k, v in (options.get("topic_config") or {}).items()}
    config.setdefault("max.message.bytes", str(MESSAGE_MAX_BYTES))
    return config


def consumer_config(
    base: Mapping[str, Any], options: Mapping[str, Any], group_id: str, config: ConsumerConfig
) -> dict[str, Any]:
    conf = dict(base)
    session_ms = int(options["session_timeout"] * 1000)
    conf.setdefault("session.timeout.ms", session_ms)
    conf.setdefault("heartbeat.interval.ms", max(100, min(1000, session_ms // 3)))
    conf.setdefault("fetch.wait.max.ms", int(options["fetch_wait"] * 1000))
    conf.setdefault("topic.metadata.refresh.interval.ms", 10_000)
    conf.update(
        {
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
    )
    return conf


#: A header name librdkafka cannot carry (it holds NUL: C strings) travels escaped under
#: this name prefix; the reserved ``brokerkit-`` prefix keeps it from meeting a user's.
ESCAPED_NAME = "brokerkit-kafka-name:"


def kafka_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Headers as librdkafka takes them: values as bytes (a str value would be cut at a
    NUL), names holding NUL escaped."""
    out = []
    for name, value in headers.items():
        if "\x00" in name:
            name = ESCAPED_NAME + quote(name, safe="")
        out.append((name, value.encode()))
    return out


def our_headers(raw: list[tuple[str, bytes | None]]) -> dict[str, str]:
    """Kafka headers as brokerkit hands them out: str values (UTF-8), escaped names back."""
    out = {}
    for name, value in raw:
        if name.startswith(ESCAPED_NAME):
            name = unquote(name[len(ESCAPED_NAME) :])
        out[name] = value.decode("utf-8", "replace") if value is not None else ""
    return out


def private_group() -> str:
    """A group id no other consumer uses (``group=None``)."""
    return f"brokerkit-private-{os.getpid()}-{uuid.uuid4().hex[:12]}"


class ErrorMapper:
    """Turns confluent-kafka exceptions and KafkaErrors into brokerkit errors, naming the
    bootstrap servers and never the password. Also the clients' ``error_cb``: it keeps
    the last error librdkafka reported on its own (a refused login, brokers down), so that
    a failed connect() can say why."""

    def __init__(self, servers: str, password: str | None) -> None:
        self.servers = servers
        self._secrets = [password] if password else []
        self.last: KafkaError | None = None

    def note(self, err: KafkaError) -> None:
        self.last = err
        LOG.debug("kafka client error: %s", err)

    def text(self, err: Any) -> str:
        return scrub(str(err.str() if isinstance(err, KafkaError) else err), self._secrets)

    def error(self, err: KafkaError, what: str = "") -> BrokerError:
        """The brokerkit error for one KafkaError (``what``: the operation, for the message)."""
        code = err.code()
        reason = self.text(err)
        where = f"Kafka at {self.servers}"
        prefix = f"{what}: " if what else ""
        if code in _CREDENTIALS:
            return BrokerConnectionError(
                f"{prefix}{where} rejected the credentials or permissions: {reason}",
                backend="kafka",
            )
        if code in _CONFIG:
            return ConfigurationError(f"{prefix}{where} refused the settings: {reason}")
        if code in _CONNECTION:
            if code in (KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT):
                return TimeoutError(f"{prefix}{where} did not answer in time: {reason}")
            return BrokerConnectionError(f"{prefix}cannot reach {where}: {reason}", backend="kafka")
        if code == KafkaError.MSG_SIZE_TOO_LARGE or code == KafkaError._MSG_TIMED_OUT:
            return DeliveryError(f"{prefix}{where} did not store the message: {reason}")
        return (
            DeliveryError(f"{prefix}{where}: {reason}")
            if what.startswith("send")
            else BrokerError(f"{prefix}{where}: {reason}", backend="kafka")
        )

    def connect_error(self, exc: Any, timeout: float) -> BrokerConnectionError:
        """What connect() raises when the cluster did not answer within ``timeout``."""
        if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
            exc = exc.args[0]
        last = self.last
        why = self.text(last) if last is not None else (self.text(exc) if exc else "no answer")
        if last is not None and last.code() in _CREDENTIALS:
            return BrokerConnectionError(
                f"Kafka at {self.servers} rejected the credentials: {why}", backend="kafka"
            )
        return BrokerConnectionError(
            f"cannot connect to Kafka at {self.servers} within {timeout:g} s: {why}",
            backend="kafka",
        )

    @contextmanager
    def __call__(self, what: str = "") -> Iterator[None]:
        try:
            yield
        except BrokerError:
            raise
        except KafkaException as exc:
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            if err is None:
                raise BrokerError(f"{what}: Kafka at {self.servers}: {self.text(exc)}") from exc
            raise self.error(err, what) from exc
        except BufferError as exc:
            raise TimeoutError(f"{what}: the producer's local queue is full") from exc
