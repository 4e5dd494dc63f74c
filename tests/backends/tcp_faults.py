"""Test-only TCP helpers for the backend tests: servers that misbehave on purpose.

- :class:`Link`: a proxy to a real server that can hand the server's bytes to the client
  in small pieces with a pause between them (a large reply is only partly there for a
  while), swallow the server's replies, and cut every connection.
- :class:`SilentServer`: accepts TCP connections and never answers.
- :class:`NotRedisServer`: answers every connection like an HTTP server and hangs up.

Each is a context manager bound to 127.0.0.1 on a free port; closing it closes every
socket it opened and joins its threads.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any


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
