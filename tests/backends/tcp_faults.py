"""Test-only TCP helpers for the backend tests: servers that misbehave on purpose.

- :class:`Link`: a proxy to a real server that can hand the server's bytes to the client
  in small pieces with a pause between them (a large reply is only partly there for a
  while), swallow the server's replies, cut every connection, and go silent: stop
  forwarding in both directions without closing anything (:meth:`Link.hold`), on the
  connections open now and on new ones, until :meth:`Link.resume` lets the held bytes
  through (a broker that hangs, a network that drops packets). Any TCP protocol: use
  :func:`through` to point a brokerkit URL at the link.
- :class:`SilentServer`: accepts TCP connections and never answers.
- :class:`NotRedisServer`: answers every connection like an HTTP server and hangs up.
- :func:`free_port` and :func:`wait_for_port`: for tests that start a private server.

Each is a context manager bound to 127.0.0.1 on a free port; closing it closes every
socket it opened and joins its threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from types import TracebackType
from typing import Any

import brokerkit


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0, what: str = "the private server") -> None:
    """Return once 127.0.0.1:``port`` accepts a connection; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{what} did not listen on {port} in {timeout} s"
            time.sleep(0.05)


class _Server:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self._sockets: list[socket.socket] = [self._listener]
        self._threads: list[threading.Thread] = []
        self._closed = False
        self._lock = threading.Lock()

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            self._serve(self._track(conn))

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self._spawn(self._accept_loop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed = True
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in threads:
            thread.join(5)


class Link(_Server):
    """Forwards to ``target``. With ``gap``, the server's bytes reach the client ``chunk``
    bytes at a time, ``gap`` seconds apart (client-to-server traffic passes unchanged)."""

    def __init__(self, target: tuple[str, int], chunk: int = 32 * 1024, gap: float = 0.0) -> None:
        super().__init__()
        self.target = target
        self.chunk = chunk
        self.gap = gap
        self._pairs: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._silent = False
        self._flowing = threading.Event()
        self._flowing.set()
        #: Bytes received and held back (not forwarded) since the last hold().
        self.held = 0

    @property
    def holding(self) -> bool:
        return not self._flowing.is_set()

    def hold(self) -> None:
        """Stop forwarding, both ways, on every connection, without closing any: what
        arrives is held (the broker never sees the commands); new connections are
        accepted and held too (a connect looks like it worked, then nothing answers).
        The broker behind looks hung; :meth:`resume` lets everything through."""
        self.held = 0
        self._flowing.clear()

    def resume(self) -> None:
        """Forward again after :meth:`hold`, starting with what was held (nothing is lost
        or reordered)."""
        self._flowing.set()

    def drop_replies(self) -> None:
        """From now on, swallow what the server sends on the connections open now (for
        good: connections opened later are not affected)."""
        with self._lock:
            for _, _, dropping in self._pairs:
                dropping.set()

    def silence(self) -> None:
        """From now on, swallow what the server sends, on the connections open now and on
        every new one: a broker that stops answering without closing anything."""
        self._silent = True
        self.drop_replies()

    def cut(self) -> int:
        """Close every open connection (as a network failure would); new connections work
        normally. Returns how many were cut."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for conn, upstream, _ in pairs:
            for sock in (conn, upstream):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        return len(pairs)

    def _serve(self, conn: socket.socket) -> None:
        if self.holding:  # connect upstream only once forwarding resumes: like a hung server
            self._spawn(self._serve_later, conn)
            return
        self._pair(conn)

    def _serve_later(self, conn: socket.socket) -> None:
        while not self._closed and not self._flowing.wait(0.1):
            pass
        if not self._closed:
            with contextlib.suppress(OSError):
                self._pair(conn)

    def _pair(self, conn: socket.socket) -> None:
        upstream = self._track(socket.create_connection(self.target))
        dropping = threading.Event()
        if self._silent:
            dropping.set()
        with self._lock:
            self._pairs.append((conn, upstream, dropping))
        self._spawn(self._pipe, conn, upstream, None)
        self._spawn(self._pipe, upstream, conn, dropping)

    def _pipe(
        self, src: socket.socket, dst: socket.socket, dropping: threading.Event | None
    ) -> None:
        downstream = dropping is not None
        try:
            while True:
                data = src.recv(self.chunk)
                if not data:
                    break
                if dropping is not None and dropping.is_set():
                    continue
                if not self._flowing.is_set():
                    self.held += len(data)
                    while not self._flowing.wait(0.1):
                        if self._closed:
                            return
                dst.sendall(data)
                if downstream and self.gap and len(data) == self.chunk:
                    time.sleep(self.gap)  # more is probably waiting: hold it back
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class SilentServer(_Server):
    """Accepts connections, reads what comes, never answers."""

    def _serve(self, conn: socket.socket) -> None:
        self._spawn(self._drain, conn)

    def _drain(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(4096):
                pass


class NotRedisServer(_Server):
    """Answers whatever it is sent like an HTTP server, then hangs up."""

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.shutdown(socket.SHUT_RDWR)


def through(url: str, link: _Server) -> str:
    """``url`` with its host and port replaced by the link's (127.0.0.1:port); user,
    password, path and query are kept."""
    parsed = brokerkit.make_url(url)
    moved = dataclasses.replace(parsed, hosts=(("127.0.0.1", link.port),))
    return moved.render(hide_password=False)
