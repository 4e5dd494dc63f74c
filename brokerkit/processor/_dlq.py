"""Dead-letter stores: where a processor puts what it cannot process.

:class:`SQLiteDLQ` keeps each dead letter (value, key, headers, topic, reason, time) in an
SQLite file: it survives restarts and is safe to share between threads (one connection,
one lock, a transaction per write). Any object with ``add(message, reason)`` can be a
store.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["DeadLetter", "DeadLetterStore", "SQLiteDLQ"]


@runtime_checkable
class DeadLetterStore(Protocol):
    """Keeps a message that could not be processed; ``add`` returns once it is stored."""

    def add(self, message: Any, reason: str) -> None: ...


@dataclass(frozen=True)
class DeadLetter:
    """One stored dead letter."""

    id: int
    topic: str
    value: bytes
    key: bytes | None
    headers: dict[str, str]
    reason: str
    time: float
    message_id: str | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    value BLOB NOT NULL,
    key BLOB,
    headers TEXT NOT NULL,
    reason TEXT NOT NULL,
    time REAL NOT NULL,
    message_id TEXT
)
"""


class SQLiteDLQ:
    """A dead-letter store in an SQLite database file (created if missing)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path: str = os.fspath(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=timeout, check_same_thread=False, isolation_level=None
        )
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)

    def __repr__(self) -> str:
        return f"SQLiteDLQ({self.path!r})"

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise ValueError(f"{self!r} is closed")
        return self._db

    def add(self, message: Any, reason: str) -> None:
        """Store ``message`` (anything with value, key, headers, topic and id) with
        ``reason``; returns once it is committed to the file."""
        key = message.key
        if isinstance(key, str):
            key = key.encode()
        value = message.value
        if isinstance(value, str):
            value = value.encode()
        row = (
            message.topic,
            value,
            key,
            json.dumps(dict(message.headers or {})),
            str(reason),
            time.time(),
            getattr(message, "id", None),
        )
        with self._lock:
            self._conn().execute(
                "INSERT INTO dead_letters (topic, value, key, headers, reason, time, message_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            )

    def list(self, limit: int | None = None) -> list[DeadLetter]:
        """The stored dead letters, oldest first (at most ``limit``)."""
        sql = "SELECT id, topic, value, key, headers, reason, time, message_id FROM dead_letters"
        sql += " ORDER BY id"
        params: tuple[int, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        with self._lock:
            rows = self._conn().execute(sql, params).fetchall()
        return [
            DeadLetter(
                id=r[0],
                topic=r[1],
                value=bytes(r[2]),
                key=None if r[3] is None else bytes(r[3]),
                headers=json.loads(r[4]),
                reason=r[5],
                time=r[6],
                message_id=r[7],
            )
            for r in rows
        ]

    def remove(self, ids: Iterable[int]) -> int:
        """Delete the dead letters with these ids; returns how many were deleted."""
        ids = list(ids)
        with self._lock:
            db = self._conn()
            db.execute("BEGIN")
            try:
                n = 0
                for i in range(0, len(ids), 500):
                    part: Sequence[int] = ids[i : i + 500]
                    marks = ",".join("?" * len(part))
                    cur = db.execute(f"DELETE FROM dead_letters WHERE id IN ({marks})", part)
                    n += cur.rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return n

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._conn().execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(n)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> SQLiteDLQ:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
