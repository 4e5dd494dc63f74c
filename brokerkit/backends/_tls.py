"""TLS options spelled the same on every backend, and the SSLContext built from them.

``tls_ca_file``, ``tls_cert_file``, ``tls_key_file`` and ``tls_verify`` mean the same on
rediss://, amqps://, tls:// (NATS), memphis:// and kafka:// with ``tls=true``, so moving a
deployment from one broker to another keeps its TLS settings. A backend declares them with
:func:`tls_options` and builds its context with :func:`ssl_context` (clients that take file
names, such as librdkafka, read the options themselves).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from .._options import Option
from ..errors import ConfigurationError

TLS_FILES = ("tls_ca_file", "tls_cert_file", "tls_key_file")


def tls_options(when: str) -> tuple[Option, ...]:
    """The four TLS options, their docs prefixed with ``when`` (e.g. ``"rediss://"``)."""
    return (
        Option(
            "tls_ca_file",
            str,
            None,
            f"{when}: a CA bundle (PEM) to verify the server with (default: the system's)",
        ),
        Option("tls_cert_file", str, None, f"{when}: a client certificate (PEM), for mutual TLS"),
        Option("tls_key_file", str, None, f"{when}: the private key (PEM) of tls_cert_file"),
        Option(
            "tls_verify",
            bool,
            True,
            f"{when}: verify the server's certificate and host name",
            nullable=False,
        ),
    )


def tls_files_given(options: Mapping[str, Any]) -> bool:
    """Whether any of the TLS file options is set."""
    return any(options.get(name) for name in TLS_FILES)


def ssl_context(options: Mapping[str, Any], *, backend: str | None = None) -> ssl.SSLContext:
    """A client context from the TLS options: the CA bundle (else the system's), the
    client certificate and key when given, and ``tls_verify``. Files that cannot be read
    raise ConfigurationError naming the options."""
    if options.get("tls_key_file") and not options.get("tls_cert_file"):
        raise ConfigurationError(
            "option 'tls_key_file' needs 'tls_cert_file' (the certificate it belongs to)",
            backend=backend,
        )
    try:
        context = ssl.create_default_context(cafile=options.get("tls_ca_file"))
        if options.get("tls_cert_file"):
            context.load_cert_chain(options["tls_cert_file"], options.get("tls_key_file"))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(
            f"cannot load the TLS files (tls_ca_file / tls_cert_file / tls_key_file): {exc}",
            backend=backend,
        ) from exc
    if not options.get("tls_verify", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
