"""Background WAL checkpoints for the state store, so that no commit has to wait for one."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from sesmon.logs import get_logger, log_event

log = get_logger("sesmon.state")

# Commits between two checkpoints: an ingestion commit writes a few dozen pages, so this keeps
# the log near SQLite's own default of 1,000 pages.
COMMITS_PER_CHECKPOINT = 32
# The writing connection's own automatic checkpoint, only a backstop should this thread fall behind.
BACKSTOP_PAGES = 10_000


class WalCheckpointer:
    """Copies the write-ahead log back into the database from its own thread and connection.

    Otherwise SQLite checkpoints inside whichever commit takes the log past ``wal_autocheckpoint``
    pages: that commit then also writes every page back and syncs the database file, several
    milliseconds every few dozen ingestion batches, with the store's lock held. A PASSIVE checkpoint
    from another connection does the same work without blocking writers or readers.
    """

    def __init__(
        self,
        path: str,
        commits_per_checkpoint: int = COMMITS_PER_CHECKPOINT,
        on_checkpoint: Callable[[tuple[int, int, int]], None] | None = None,
    ) -> None:
        self.path = path
        self.every = commits_per_checkpoint
        self.on_checkpoint = on_checkpoint  # called from the thread after each one (tests await it)
        self._commits = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def committed(self) -> None:
        """Note one commit; every ``every`` commits, wake the thread (started on first need)."""
        self._commits += 1
        if self._commits < self.every:
            return
        self._commits = 0
        with self._guard:
            if self._stop:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sesmon-wal-checkpoint", daemon=True)
                self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Stop the thread after any checkpoint in progress (the caller checkpoints one last time)."""
        with self._guard:
            self._stop = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            # A checkpoint syncs the database file per this connection's setting: as durable as a commit.
            conn.execute("PRAGMA synchronous=FULL")
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                result = checkpoint(conn)
                if self.on_checkpoint is not None:
                    self.on_checkpoint(result)
        finally:
            conn.close()


def checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, pages in the log, pages copied back); errors are logged."""
    try:
        row = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    except sqlite3.Error as exc:
        # The writer's own backstop checkpoint still bounds the log; nothing is lost either way.
        log_event(log, logging.WARNING, "wal_checkpoint_failed", error=str(exc))
        return (1, -1, -1)
    return (int(row[0]), int(row[1]), int(row[2]))
