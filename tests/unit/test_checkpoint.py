"""Background WAL checkpoints: they copy the log back, start only when needed and stop with the store."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sesmon.batch import IngestDelta
from sesmon.state.checkpoint import WalCheckpointer, checkpoint
from sesmon.state.sqlite import SqliteState


def _threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_a_passive_checkpoint_copies_every_logged_page_back(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (v BLOB)")
    for _ in range(20):
        writer.execute("INSERT INTO t VALUES (randomblob(3000))")
    other = sqlite3.connect(path, isolation_level=None)
    busy, logged, copied = checkpoint(other)
    assert busy == 0
    assert logged > 20
    assert copied == logged
    other.close()
    writer.close()


def test_the_store_checkpoints_in_the_background_and_stops_on_close(tmp_path: Path) -> None:
    store = SqliteState(tmp_path / "s.db")
    assert store._checkpointer is not None
    done = threading.Event()
    results: list[tuple[int, int, int]] = []

    def noted(result: tuple[int, int, int]) -> None:
        results.append(result)
        done.set()

    store._checkpointer.on_checkpoint = noted
    assert "sesmon-wal-checkpoint" not in _threads()  # started only once needed
    for i in range(store._checkpointer.every):
        store.ingest_add("prod", IngestDelta(counters={("sqs", "received"): i + 1}))
    assert done.wait(10)
    assert results[0][0] == 0  # not busy
    assert results[0][2] > 0  # pages copied back
    store.close()
    assert "sesmon-wal-checkpoint" not in _threads()
    reopened = SqliteState(tmp_path / "s.db")
    total = sum(range(1, store._checkpointer.every + 1))
    assert reopened.ingest_load("prod").counters == {("sqs", "received"): total}
    reopened.close()


def test_closing_before_any_checkpoint_starts_no_thread(tmp_path: Path) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "s.db"), commits_per_checkpoint=2)
    checkpointer.committed()
    checkpointer.close()
    checkpointer.committed()
    checkpointer.committed()  # after close: never starts one
    assert "sesmon-wal-checkpoint" not in _threads()
