"""A corrupt, truncated, non-database or unreadable state file: ``sesmon run`` exits 1 with one line naming
the path, the problem and the fix (no traceback); with ``state.on_corrupt: quarantine`` it moves the file
aside, says so loudly and counts every event that arrives afterwards."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sesmon.state.sqlite import SqliteState
from tests.conftest import MotoServer
from tests.reliability.sesmon_process import SesmonProcess, event_counters, stored_counters, wait_for
from tests.sesgen import SesEventGenerator, expected_counters

EVENTS = 80


def _real_state(path: Path) -> None:
    """A state file with real rows (counters, dedup keys), as a running sesmon leaves it."""
    gen = SesEventGenerator(seed=41, start=time.time() - 600, spread=500)
    store = SqliteState(path)
    from sesmon.batch import IngestDelta  # noqa: PLC0415

    store.ingest_add("prod", IngestDelta(counters={("events", "tx", "send"): 5}))
    conn = sqlite3.connect(path)
    # Enough pages that damage in the middle lands in a table, not in free space.
    conn.execute("CREATE TABLE IF NOT EXISTS padding (body BLOB)")
    conn.executemany("INSERT INTO padding VALUES (?)", [(gen.event().body.encode(),) for _ in range(300)])
    conn.commit()
    conn.close()
    store.close()


def _corrupt_pages(path: Path) -> str:
    _real_state(path)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        for page in range(2, size // 4096, 3):  # every third page after the schema's first pages
            handle.seek(page * 4096 + 100)
            handle.write(b"\xff" * 512)
    return "is corrupt ("


def _truncated(path: Path) -> str:
    _real_state(path)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size - 4096 * 3)
    return f"is truncated ({size - 4096 * 3:,} of {size:,} bytes)"


def _not_a_database(path: Path) -> str:
    path.write_text("targets:\n  - name: prod\n" * 200)  # a config written over the state by mistake
    return "is not a SQLite database"


def _unreadable(path: Path) -> str:
    # A directory where the file should be: unreadable as a database even for root (as CI runs).
    path.mkdir()
    return "is a directory, not a database file"


FAULTS: dict[str, Callable[[Path], str]] = {
    "corrupt-pages": _corrupt_pages,
    "truncated": _truncated,
    "not-a-database": _not_a_database,
    "unreadable": _unreadable,
}


@pytest.fixture
def sesmon_factory(moto_server: MotoServer, tmp_path: Path) -> Iterator[Callable[[str], SesmonProcess]]:
    made: list[SesmonProcess] = []

    def make(state_extra: str = "") -> SesmonProcess:
        process = SesmonProcess(moto_server, tmp_path, tmp_path / "state.db", state_extra=state_extra)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_broken_state_file_is_one_line_and_exit_1(
    sesmon_factory: Callable[[str], SesmonProcess], tmp_path: Path, fault: str
) -> None:
    state = tmp_path / "state.db"
    problem = FAULTS[fault](state)
    before = sorted(p.name for p in tmp_path.iterdir())
    sesmon = sesmon_factory("")
    sesmon.start(wait_started=False)
    assert sesmon.wait_exit() == 1
    lines = sesmon.stderr().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"sesmon: state file {state}: {problem}"), lines[0]
    fix = "point state.path at a file" if fault == "unreadable" else "state.on_corrupt: quarantine"
    assert fix in lines[0]
    assert "Traceback" not in sesmon.stderr()
    assert not sesmon.events("started")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("sesmon")) == [
        n for n in before if not n.startswith("sesmon")
    ]  # the broken file was left as it was


@pytest.mark.parametrize("fault", ["corrupt-pages", "truncated", "not-a-database"])
def test_quarantine_moves_the_file_aside_and_counts_what_comes_next(
    sesmon_factory: Callable[[str], SesmonProcess], tmp_path: Path, fault: str
) -> None:
    state = tmp_path / "state.db"
    problem = FAULTS[fault](state)
    broken = state.read_bytes()
    sesmon = sesmon_factory("  on_corrupt: quarantine")
    sesmon.start()
    quarantined = sesmon.events("state_file_quarantined")
    assert len(quarantined) == 1
    assert quarantined[0]["level"] == "critical"
    assert quarantined[0]["problem"].startswith(problem)
    moved = Path(quarantined[0]["moved_to"])
    assert moved.name.startswith("state.db.corrupt-")
    assert moved.read_bytes() == broken  # kept for inspection, byte for byte
    created = sesmon.events("state_file_created")
    assert [(e["level"], e["path"]) for e in created] == [("warning", str(state))]
    assert sesmon.value("sesmon_state_created_timestamp_seconds") > 0

    gen = SesEventGenerator(seed=42, start=time.time() - 600, spread=500)
    events = [gen.event() for _ in range(EVENTS)]
    sesmon.send([e.body for e in events])
    wait_for(lambda: sesmon.depth() == 0, "every event counted and deleted")
    assert sesmon.value("sesmon_source_up", source="state") == 1
    assert sesmon.stop() == 0
    assert event_counters(stored_counters(state)) == expected_counters(events)
    assert moved.exists()
