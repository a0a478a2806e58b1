"""A state file made by the first release opens with today's code, at today's schema, keeping its counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from sesmon.batch import IngestDelta
from sesmon.state.ports import SCHEMA_VERSION, StateError
from sesmon.state.sqlite import SqliteState
from tests.conftest import FIXTURES

RELEASE = FIXTURES / "state"


def release_copy(tmp_path: Path) -> Path:
    """The release's state file, rebuilt by SQLite from its dump (``make_release_state.py``)."""
    path = tmp_path / "release-1.db"
    conn = sqlite3.connect(path)
    try:
        conn.executescript((RELEASE / "release-1.sql").read_text())
    finally:
        conn.close()
    return path


def test_a_first_release_state_file_keeps_every_count(tmp_path: Path) -> None:
    expected = orjson.loads((RELEASE / "release-1.json").read_bytes())
    path = release_copy(tmp_path)
    for _ in range(2):  # the migration runs once; reopening the migrated file changes nothing
        store = SqliteState(path)
        try:
            assert store.schema_version() == SCHEMA_VERSION
            state = store.ingest_load("prod")
            assert sorted([list(k), v] for k, v in state.counters.items()) == expected["counters"]
            assert [list(b) for b in state.buckets] == expected["buckets"]
            assert state.sets == expected["sets"]
            assert store.ingest_dedup_count() == expected["dedup_keys"]
            assert store.kv_items("alerts") == expected["kv"]
            counts = {f"{sink}/{state}": n for (sink, state), n in store.outbox_counts().items()}
            assert counts == expected["outbox"]
        finally:
            store.close()


def test_keys_are_stored_structured_after_the_migration(tmp_path: Path) -> None:
    path = release_copy(tmp_path)
    SqliteState(path).close()
    with sqlite3.connect(path) as raw:
        keys = [row[0] for row in raw.execute("SELECT key FROM ingest_counters")]
        logged = [orjson.loads(row[0]) for row in raw.execute("SELECT counts FROM ingest_counter_log")]
    assert keys
    assert all("\x1f" not in key and isinstance(orjson.loads(key), list) for key in keys)
    assert all(isinstance(orjson.loads(key), list) for counts in logged for key in counts)


def test_a_migrated_file_keeps_counting_and_deduplicating(tmp_path: Path) -> None:
    path = release_copy(tmp_path)
    store = SqliteState(path)
    try:
        before = store.ingest_load("prod").counters[("sqs", "received")]
        store.ingest_add("prod", IngestDelta(counters={("sqs", "received"): 1}))
        assert store.ingest_load("prod").counters[("sqs", "received")] == before + 1
    finally:
        store.close()


def test_a_file_from_a_newer_sesmon_is_refused_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        raw.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateError, match="newer than this sesmon"):
        SqliteState(path)
