"""``BackendSpec.test_setup`` for nats:// and memphis://: the conformance suite's server.

The suite sends 1 MiB values with a key, which a server with NATS's default
``max_payload`` (1 MiB, headers included) cannot take. When ``nats-server`` is installed,
this starts a private one on a free loopback port with JetStream and ``max_payload: 8MB``
(otherwise as CONTRIBUTING.md starts the shared one) and yields its URL, keeping the
variant's query string; the server and its store are removed afterwards. Without the
binary, or with ``BROKERKIT_TEST_<VARIANT>_URL`` set, the variant's URL is used as is.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MAX_PAYLOAD = "8MB"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def test_server(variant: str) -> Iterator[str | None]:
    from . import spec as nats_spec

    if os.environ.get("BROKERKIT_TEST_" + variant.upper().replace("-", "_") + "_URL"):
        yield None
        return
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(binary).exists():
        yield None
        return
    from ..memphis import spec as memphis_spec

    default = {**nats_spec.test_variants, **memphis_spec.test_variants}.get(variant)
    if default is None:
        yield None
        return
    scheme, _, rest = default.partition("://")
    query = rest.partition("?")[2]
    tmp = Path(tempfile.mkdtemp(prefix="bk-nats-"))
    port = _free_port()
    conf = tmp / "nats.conf"
    conf.write_text(
        f"listen: 127.0.0.1:{port}\nmax_payload: {MAX_PAYLOAD}\n"
        f'jetstream {{\n  store_dir: "{tmp / "js"}"\n}}\n'
    )
    log = open(tmp / "nats.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(
                        f"nats-server did not start: {(tmp / 'nats.log').read_text()[-500:]}"
                    ) from None
                time.sleep(0.05)
        yield f"{scheme}://127.0.0.1:{port}" + (f"?{query}" if query else "")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
