"""The state file as a file: diagnosis, quarantine, identity watch, integrity check, backup."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from sesmon.state import file as statefile
from sesmon.state.file import StateFile, StateFileError, StateFileLostError


def _database(path: Path, rows: int = 200) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO t(body) VALUES (?)", [("x" * 500,) for _ in range(rows)])
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


class Recorder:
    """A StateListener that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def opened(self, created: float | None, new: bool) -> None:
        self.events.append(("opened", (created, new)))

    def write_failed(self, error: str) -> None:
        self.events.append(("write_failed", error))

    def write_succeeded(self) -> None:
        self.events.append(("write_succeeded", None))

    def lost(self, problem: str) -> None:
        self.events.append(("lost", problem))


def test_a_sound_database_has_no_problem(tmp_path: Path) -> None:
    assert statefile.diagnose(str(_database(tmp_path / "s.db"))) is None


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_text("hello, this is a config file by mistake\n" * 10)
    assert statefile.diagnose(str(path)) == "is not a SQLite database"


def test_a_truncated_database(tmp_path: Path) -> None:
    path = _database(tmp_path / "s.db")
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)
    assert statefile.diagnose(str(path)) == f"is truncated ({size // 2:,} of {size:,} bytes)"
    with path.open("r+b") as handle:
        handle.truncate(50)
    assert statefile.diagnose(str(path)) == "is truncated (50 bytes, shorter than a database header)"


def test_corrupt_pages(tmp_path: Path) -> None:
    path = _database(tmp_path / "s.db")
    page = 4096
    with path.open("r+b") as handle:
        handle.seek(2 * page)  # a b-tree page of the table, well past the header
        handle.write(os.urandom(page))
    problem = statefile.diagnose(str(path))
    assert problem is not None
    assert problem.startswith("is corrupt (")


def test_a_directory_is_not_a_state_file(tmp_path: Path) -> None:
    assert statefile.diagnose(str(tmp_path)) == "is a directory, not a database file"
    with pytest.raises(StateFileError) as raised:
        statefile.prepare(str(tmp_path), "quarantine", 0.0)
    assert (
        str(raised.value)
        == f"state file {tmp_path}: is a directory, not a database file; point state.path at a file"
    )


def test_prepare_fails_with_one_line_naming_path_problem_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"\x00" * 8192)
    with pytest.raises(StateFileError) as raised:
        statefile.prepare(str(path), "fail", 0.0)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"state file {path}: is not a SQLite database; restore a backup")
    assert "state.on_corrupt: quarantine" in message
    assert path.read_bytes() == b"\x00" * 8192  # untouched


def test_quarantine_moves_the_file_and_its_companions_aside(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"garbage" * 100)
    (tmp_path / "s.db-wal").write_bytes(b"wal")
    (tmp_path / "s.db-shm").write_bytes(b"shm")
    prepared = statefile.prepare(str(path), "quarantine", 1_790_000_000.0)
    moved = f"{path}.corrupt-20260921T141320Z"
    assert prepared == statefile.Prepared(new=True, quarantined=moved, problem="is not a SQLite database")
    assert not path.exists()
    assert Path(moved).read_bytes() == b"garbage" * 100
    assert Path(moved + "-wal").read_bytes() == b"wal"
    assert Path(moved + "-shm").read_bytes() == b"shm"
    # A second corrupt file in the same second gets its own name.
    path.write_bytes(b"garbage")
    assert statefile.prepare(str(path), "quarantine", 1_790_000_000.0).quarantined == moved + "-2"


def test_absent_and_empty_files_are_new(tmp_path: Path) -> None:
    assert statefile.prepare(str(tmp_path / "absent.db"), "fail", 0.0) == statefile.Prepared(new=True)
    empty = tmp_path / "empty.db"
    empty.touch()
    assert statefile.prepare(str(empty), "fail", 0.0) == statefile.Prepared(new=True, was_empty=True)


def _attached(path: Path, listener: Recorder, now: float = 100.0) -> tuple[StateFile, sqlite3.Connection]:
    watch = StateFile.open(str(path), listener=listener)
    conn = sqlite3.connect(path, isolation_level=None)
    watch.attach(conn, now)
    return watch, conn


def test_birth_time_is_kept_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    listener = Recorder()
    watch, conn = _attached(path, listener, now=100.0)
    conn.close()
    assert watch.created == 100.0
    again, conn = _attached(path, listener, now=200.0)
    conn.close()
    assert again.created == 100.0
    assert listener.events == [("opened", (100.0, True)), ("opened", (100.0, False))]


@pytest.mark.parametrize("fault", ["deleted", "replaced"])
def test_a_deleted_or_replaced_file_is_lost_once_and_stays_lost(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "s.db"
    listener = Recorder()
    watch, conn = _attached(path, listener)
    watch.check()  # still the same file
    path.unlink()
    if fault == "replaced":
        _database(path, rows=1)
    with pytest.raises(StateFileLostError) as raised:
        watch.check()
    verb = "deleted" if fault == "deleted" else "replaced by another file"
    assert raised.value.problem == f"was {verb} while sesmon was running"
    assert listener.events[-1] == ("lost", f"state file {path} was {verb} while sesmon was running")
    with pytest.raises(StateFileLostError):
        watch.check()  # every later write is refused too
    assert [e for e, _ in listener.events].count("lost") == 1
    conn.close()


def test_only_database_errors_count_as_write_failures(tmp_path: Path) -> None:
    listener = Recorder()
    watch, conn = _attached(tmp_path / "s.db", listener)
    watch.write_failed(sqlite3.OperationalError("database or disk is full"))
    watch.write_failed(sqlite3.IntegrityError("UNIQUE constraint failed"))
    watch.write_failed(ValueError("a bug in the caller"))
    watch.write_succeeded()
    assert listener.events[1:] == [
        ("write_failed", "OperationalError: database or disk is full"),
        ("write_succeeded", None),
    ]
    conn.close()


def test_check_reports_integrity_and_a_summary(tmp_path: Path) -> None:
    path = _database(tmp_path / "s.db", rows=3)
    problem, summary = statefile.check(str(path))
    assert problem is None
    assert summary is not None
    assert summary.tables == {"t": 3}
    assert statefile.check(str(tmp_path / "absent.db")) == ("does not exist", None)


def test_backup_copies_a_live_database_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = _database(tmp_path / "s.db", rows=50)
    live = sqlite3.connect(path)  # a writer keeps the file open, as a running sesmon does
    live.execute("INSERT INTO t(body) VALUES ('late')")
    live.commit()
    dest = tmp_path / "copy.db"
    pages = statefile.backup(str(path), str(dest))
    assert pages > 1
    copy = sqlite3.connect(dest)
    assert copy.execute("SELECT count(*) FROM t").fetchone()[0] == 51
    copy.close()
    with pytest.raises(StateFileError, match="already exists; give a new destination path"):
        statefile.backup(str(path), str(dest))
    live.close()
