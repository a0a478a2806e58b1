"""Durable state in SQLite (WAL): one connection, serialised by a lock, every write in a transaction."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

_SCHEMA: tuple[str, ...] = (
    # Small JSON documents by namespace: alert lifecycle state, cached discoveries.
    """CREATE TABLE IF NOT EXISTS kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    )""",
)


class Store:
    """The embedded state store; safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE) so a batch is all or nothing.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a batch is deleted from SQS only after its commit, so the commit must survive power loss.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        with self.transaction() as cur:
            for statement in _SCHEMA:
                cur.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """Run the block in one write transaction; commit on success, roll back on error."""
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Cursor]:
        """A cursor for reads, serialised with writes."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()

    # -- key/value documents ---------------------------------------------------------------------

    def kv_put(self, namespace: str, key: str, value: object, now: float) -> None:
        """Store ``value`` (JSON-serialisable) under ``namespace/key``."""
        with self.transaction() as cur:
            self.kv_put_in(cur, namespace, key, value, now)

    @staticmethod
    def kv_put_in(cur: sqlite3.Cursor, namespace: str, key: str, value: object, now: float) -> None:
        """Like :meth:`kv_put`, inside a caller's transaction."""
        cur.execute(
            "INSERT INTO kv(namespace, key, value, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
            (namespace, key, orjson.dumps(value), now),
        )

    def kv_delete(self, namespace: str, key: str) -> None:
        """Remove ``namespace/key`` if present."""
        with self.transaction() as cur:
            cur.execute("DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key))

    def kv_items(self, namespace: str) -> dict[str, object]:
        """Every document in ``namespace``."""
        with self.reading() as cur:
            rows = cur.execute("SELECT key, value FROM kv WHERE namespace = ?", (namespace,)).fetchall()
        return {key: orjson.loads(value) for key, value in rows}
