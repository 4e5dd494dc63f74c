"""The fault harness itself, against a plain echo server: a silenced link holds bytes
both ways without closing, new connections hang, and resume() lets everything through
in order. (The backends' tests build on it; a harness that cannot go silent would make
their timeout tests pass for the wrong reason.)"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from tcp_faults import Link, through


@pytest.fixture
def echo() -> Iterator[tuple[str, int]]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()
    stop.set()
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def test_hold_holds_bytes_without_closing_and_resume_delivers_them(
    echo: tuple[str, int],
) -> None:
    with Link(echo) as link, socket.create_connection(("127.0.0.1", link.port)) as sock:
        sock.sendall(b"before")
        assert _recv_exactly(sock, 6) == b"before"
        link.hold()
        sock.sendall(b"during")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(10)  # no answer, and no EOF either: the connection stays open
        with socket.create_connection(("127.0.0.1", link.port), timeout=1) as late:
            late.sendall(b"late")
            late.settimeout(0.3)
            with pytest.raises(TimeoutError):
                late.recv(10)
            link.resume()
            late.settimeout(5)
            assert _recv_exactly(late, 4) == b"late"
        sock.settimeout(5)
        assert _recv_exactly(sock, 6) == b"during"
        assert link.held >= 6


def test_through_points_a_url_at_the_link(echo: tuple[str, int]) -> None:
    with Link(echo) as link:
        url = through("redis://user:pw@example.invalid:6379/3?mode=pubsub", link)
        assert url == f"redis://user:pw@127.0.0.1:{link.port}/3?mode=pubsub"
