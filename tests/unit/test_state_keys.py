"""Stored counter keys are structured: any label text comes back exactly, through the write log, its
fold into the tables and a reopen."""

from __future__ import annotations

from pathlib import Path

from sesmon.batch import IngestDelta
from sesmon.state.sqlite import SqliteState

AWKWARD = ("evil\x1fname", 'quo"te\\d', "two\nlines", "ünï✓ 雪", '"]', "", " ", "\x00nul")


def test_awkward_parts_survive_the_log_its_fold_and_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteState(path)
    writes = 450  # past two folds of the write log into the tables, with some rows left unfolded
    for i in range(writes):
        part = AWKWARD[i % len(AWKWARD)]
        store.ingest_add("prod", IngestDelta(counters={("providers", "tx", part, "send"): 1}))
    expected = {
        ("providers", "tx", part, "send"): sum(1 for i in range(writes) if AWKWARD[i % len(AWKWARD)] == part)
        for part in AWKWARD
    }
    assert store.ingest_load("prod").counters == expected
    store.close()
    reopened = SqliteState(path)
    try:
        assert reopened.ingest_load("prod").counters == expected
    finally:
        reopened.close()
