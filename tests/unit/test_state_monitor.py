"""The ``state`` source: the SQLite backend's write outcomes and a lost file, as health and metrics."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sesmon.batch import IngestDelta
from sesmon.health import SourceHealth
from sesmon.metrics import build_registry
from sesmon.metrics.state import StateCollector
from sesmon.state.file import StateFileLostError
from sesmon.state.monitor import SOURCE, TARGET, StateSource
from sesmon.state.sqlite import SqliteState


class Clocks:
    """Wall and monotonic time, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0
        self.mono = 0.0

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono


def _status(health: SourceHealth) -> tuple[bool, float | None, str | None]:
    (status,) = [s for s in health.all() if s.source == SOURCE]
    return status.up, status.last_success, status.last_error


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def wired(
    tmp_path: Path, clocks: Clocks
) -> Iterator[tuple[SqliteState, StateSource, SourceHealth, list[str]]]:
    health = SourceHealth()
    lost: list[str] = []
    source = StateSource(health, clocks.wall, on_lost=lost.append, monotonic=clocks.monotonic)
    store = SqliteState(tmp_path / "state.db", listener=source, clock=clocks.wall)
    yield store, source, health, lost
    store.close()


def test_the_state_is_pending_until_opened_then_up(clocks: Clocks) -> None:
    health = SourceHealth()
    source = StateSource(health, clocks.wall, monotonic=clocks.monotonic)
    assert [name.split(" ")[0] for name in health.pending()] == [f"{SOURCE}/{TARGET}"]
    source.opened(123.0, new=True)
    assert health.pending() == []
    assert _status(health) == (True, clocks.now, None)
    assert source.created == 123.0


def test_successes_refresh_health_at_most_once_a_second(clocks: Clocks) -> None:
    health = SourceHealth()
    source = StateSource(health, clocks.wall, monotonic=clocks.monotonic)
    source.opened(0.0, new=False)
    first = clocks.now
    clocks.now += 0.5
    clocks.mono += 0.5
    source.write_succeeded()
    assert _status(health)[1] == first  # not refreshed yet
    clocks.now += 0.6
    clocks.mono += 0.6
    source.write_succeeded()
    assert _status(health)[1] == clocks.now


def test_a_failed_write_takes_state_down_until_a_write_succeeds(clocks: Clocks) -> None:
    health = SourceHealth()
    source = StateSource(health, clocks.wall, monotonic=clocks.monotonic)
    source.opened(0.0, new=False)
    source.write_failed("OperationalError: database or disk is full")
    source.write_failed("OperationalError: database or disk is full")
    assert _status(health) == (False, clocks.now, "OperationalError: database or disk is full")
    assert source.write_failures == 2
    source.write_succeeded()  # at once, not after the refresh interval
    assert _status(health)[0]
    assert source.write_failures == 2  # a counter: it never goes back


def test_a_full_database_is_a_write_failure_and_recovers(
    wired: tuple[SqliteState, StateSource, SourceHealth, list[str]],
) -> None:
    store, source, health, _ = wired
    store.ingest_add("prod", IngestDelta(counters={("events", "tx", "send"): 1}))
    with store.reading() as cur:
        pages = int(cur.execute("PRAGMA page_count").fetchone()[0])
        # SQLite's own size limit gives the same error a full disk does, without a file system.
        cur.execute(f"PRAGMA max_page_count = {pages}")
    big = IngestDelta(counters={("events", f"set-{i}", "send"): 1 for i in range(5000)})
    failure: sqlite3.OperationalError | None = None
    for _ in range(250):  # until the write log is folded into the tables, which needs new pages
        try:
            store.ingest_add("prod", big)
        except sqlite3.OperationalError as exc:
            failure = exc
            break
    assert failure is not None, "the database never filled up"
    assert "full" in str(failure)
    assert source.write_failures == 1
    assert not _status(health)[0]
    with store.reading() as cur:
        cur.execute("PRAGMA max_page_count = 1073741823")
    store.ingest_add("prod", IngestDelta(counters={("events", "tx", "send"): 1}))
    assert _status(health)[0]
    assert store.ingest_load("prod").counters[("events", "tx", "send")] >= 2


def test_a_deleted_file_refuses_every_write_and_reports_once(
    wired: tuple[SqliteState, StateSource, SourceHealth, list[str]], tmp_path: Path
) -> None:
    store, _, health, lost = wired
    (tmp_path / "state.db").unlink()
    for _ in range(3):
        with pytest.raises(StateFileLostError):
            store.ingest_add("prod", IngestDelta(counters={("events", "tx", "send"): 1}))
    assert lost == [f"state file {tmp_path / 'state.db'} was deleted while sesmon was running"]
    up, _, error = _status(health)
    assert not up
    assert error == lost[0]


def test_the_collector_shows_failures_and_the_birth_time(
    wired: tuple[SqliteState, StateSource, SourceHealth, list[str]], clocks: Clocks
) -> None:
    _, source, _, _ = wired
    source.write_failed("OperationalError: disk I/O error")
    registry = build_registry([StateCollector(source)])
    assert registry.get_sample_value("sesmon_state_write_failures_total") == 1
    assert registry.get_sample_value("sesmon_state_created_timestamp_seconds") == clocks.now
