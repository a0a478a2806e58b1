"""The SQLite state file as a file: diagnosis before opening, quarantine, identity watch, write outcomes,
integrity check, online backup and a summary of what it holds.

Past 400 lines on purpose: everything that treats the state file as a file (diagnosis,
quarantine, identity watch, check, backup) shares the header and path handling kept here.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import orjson

from sesmon.logs import get_logger, log_event
from sesmon.state.monitor import StateListener
from sesmon.state.ports import StateError

log = get_logger("sesmon.statefile")

OnCorrupt = Literal["fail", "quarantine"]
MEMORY: Final = ":memory:"
SQLITE_MAGIC: Final = b"SQLite format 3\x00"
HEADER_SIZE: Final = 100
SIDE_FILES: Final = ("-wal", "-shm")  # SQLite's own companions of a WAL-mode database
# File-level facts kept in the file itself, so that "when was this state born" survives restarts.
_META_SCHEMA: Final = "CREATE TABLE IF NOT EXISTS state_file (key TEXT PRIMARY KEY, value REAL NOT NULL)"
_FIX_LOST: Final = "restart sesmon (it exits by itself); the state begins again in a new file"
_FIX_CORRUPT: Final = (
    "restore a backup (sesmon state backup makes one), or set state.on_corrupt: quarantine to move it aside "
    "and start fresh"
)


class StateFileError(StateError):
    """A state file that cannot be used; ``str()`` is one line: the path, the problem and the fix."""

    def __init__(self, path: str, problem: str, fix: str) -> None:
        super().__init__(f"state file {path}: {problem}; {fix}")
        self.path = path
        self.problem = problem
        self.fix = fix


class StateFileLostError(StateFileError):
    """The file the store writes to was deleted or replaced while running: nothing more is written."""


# -- diagnosis --------------------------------------------------------------------------------------


def diagnose(path: str) -> str | None:
    """What is wrong with an existing, non-empty state file (None: it is a sound SQLite database).

    Reads it without writing (a read-only connection, so the diagnosis itself changes nothing).
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            header = handle.read(HEADER_SIZE)
        size = file.stat().st_size
    except IsADirectoryError:
        return "is a directory, not a database file"
    except PermissionError:
        return "cannot be read (permission denied)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if not header.startswith(SQLITE_MAGIC):
        return "is not a SQLite database"
    if len(header) < HEADER_SIZE:
        return f"is truncated ({size} bytes, shorter than a database header)"
    expected = _expected_size(header)
    if expected is not None and size < expected:
        return f"is truncated ({size:,} of {expected:,} bytes)"
    try:
        conn = _read_only(path)
    except sqlite3.Error as exc:
        return f"cannot be opened ({exc})"
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return f"is corrupt ({_one_line(exc)})"
    finally:
        conn.close()
    problems = [_one_line(row[0]) for row in rows if row[0] != "ok"]
    if problems:
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        return f"is corrupt ({problems[0][:200]}{more})"
    return None


def _one_line(text: object) -> str:
    # SQLite's check reports span lines ("*** in database main ***\nPage 5: ..."); errors are one line.
    return " ".join(str(text).split())


def _expected_size(header: bytes) -> int | None:
    """The size the header says the database has, when the header's page count is valid."""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The in-header page count is valid only when "version-valid-for" equals the change counter.
    if header[92:96] != header[24:28] or pages == 0 or page_size < 512:
        return None
    return pages * page_size


# -- opening ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prepared:
    """What :func:`prepare` found before the store connects."""

    new: bool  # no usable file: the store starts fresh
    was_empty: bool = False  # it existed with 0 bytes
    quarantined: str | None = None  # where a corrupt file was moved
    problem: str | None = None  # what was wrong with the quarantined file


def prepare(path: str, on_corrupt: OnCorrupt, now: float) -> Prepared:
    """Check the file before the store opens it: raise :class:`StateFileError` for one that cannot be
    used (``fail``), or move it aside and start fresh (``quarantine``)."""
    if path == MEMORY:
        return Prepared(new=True)
    file = Path(path)
    if not file.exists() and not file.is_symlink():
        return Prepared(new=True)
    if file.is_file() and file.stat().st_size == 0:
        return Prepared(new=True, was_empty=True)
    problem = diagnose(path)
    if problem is None:
        return Prepared(new=False)
    if on_corrupt != "quarantine" or not file.is_file():
        fix = _FIX_CORRUPT if file.is_file() else "point state.path at a file"
        raise StateFileError(path, problem, fix)
    moved = quarantine(path, now)
    log_event(log, logging.CRITICAL, "state_file_quarantined", path=path, problem=problem, moved_to=moved)
    return Prepared(new=True, quarantined=moved, problem=problem)


def quarantine(path: str, now: float) -> str:
    """Move ``path`` and its -wal/-shm aside as ``PATH.corrupt-<UTC time>`` (same suffixes, so SQLite
    still pairs them) and return the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    target = f"{path}.corrupt-{stamp}"
    n = 1
    while Path(target).exists():
        n += 1
        target = f"{path}.corrupt-{stamp}-{n}"
    Path(path).replace(target)
    for suffix in SIDE_FILES:
        if Path(path + suffix).exists():
            Path(path + suffix).replace(target + suffix)
    return target


# -- the running file -------------------------------------------------------------------------------


class StateFile:
    """Watches the one file a SQLite store writes to, and reports each write's outcome to a listener.

    The identity (device, inode) is taken once the store has opened the file; :meth:`check` compares
    it with what the path names now, one ``stat`` call, before every write transaction and again after
    its commit: a commit that may have gone to an unlinked file then raises, so no caller acts on it
    (an SQS batch is not deleted, and comes back after the restart).
    """

    def __init__(self, path: str, prepared: Prepared, listener: StateListener | None = None) -> None:
        self.path = path
        self.prepared = prepared
        self.listener = listener
        self.created: float | None = None  # when this state began (first open of a new file)
        self._identity: tuple[int, int] | None = None
        self._lost: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str,
        on_corrupt: OnCorrupt = "fail",
        listener: StateListener | None = None,
        clock: Callable[[], float] = time.time,
    ) -> StateFile:
        """Diagnose (and maybe quarantine) ``path`` before a store connects to it."""
        return cls(path, prepare(path, on_corrupt, clock()), listener)

    def attach(self, conn: sqlite3.Connection, now: float) -> None:
        """Record the opened file's identity and birth time (outside any transaction)."""
        if self.path != MEMORY:
            conn.execute(_META_SCHEMA)
            row = conn.execute("SELECT value FROM state_file WHERE key = 'created'").fetchone()
            if row is None:
                conn.execute("INSERT INTO state_file(key, value) VALUES ('created', ?)", (now,))
            self.created = now if row is None else float(row[0])
            info = Path(self.path).stat()
            self._identity = (info.st_dev, info.st_ino)
        else:
            self.created = now
        if self.prepared.new and self.path != MEMORY:
            reason = "did not exist"
            if self.prepared.was_empty:
                reason = "was empty (0 bytes)"
            elif self.prepared.quarantined:
                reason = f"the corrupt one was moved to {self.prepared.quarantined}"
            # Loud on purpose: a new state file means every counter, alert and dedup key starts over.
            log_event(log, logging.WARNING, "state_file_created", path=self.path, reason=reason)
        if self.listener is not None:
            self.listener.opened(self.created, self.prepared.new)

    def check(self) -> None:
        """Raise :class:`StateFileLostError` when the path no longer names the file opened."""
        if self._lost is not None:
            raise StateFileLostError(self.path, self._lost, _FIX_LOST)
        if self._identity is None:
            return
        try:
            info = Path(self.path).stat()
        except FileNotFoundError:
            self._lose("was deleted while sesmon was running")
        else:
            if (info.st_dev, info.st_ino) != self._identity:
                self._lose("was replaced by another file while sesmon was running")

    @property
    def lost(self) -> str | None:
        """What happened to the file, once it was lost."""
        return self._lost

    def _lose(self, problem: str) -> None:
        with self._lock:
            first = self._lost is None
            if first:
                self._lost = problem
        if first:
            log_event(
                log,
                logging.CRITICAL,
                "state_file_lost",
                path=self.path,
                problem=problem,
                action="counting stopped; exiting so that a restart opens a fresh file",
            )
            if self.listener is not None:
                self.listener.lost(f"state file {self.path} {problem}")
        raise StateFileLostError(self.path, problem, _FIX_LOST)

    def write_failed(self, exc: BaseException) -> None:
        """Note a failed write transaction (database errors only: a caller's own exception is not one)."""
        if not _is_write_error(exc):
            return
        error = f"{type(exc).__name__}: {exc}"[:300]
        log_event(log, logging.ERROR, "state_write_failed", path=self.path, error=error)
        if self.listener is not None:
            self.listener.write_failed(error)

    def write_succeeded(self) -> None:
        """Note a committed write transaction."""
        if self.listener is not None:
            self.listener.write_succeeded()


def _is_write_error(exc: BaseException) -> bool:
    # Disk full, read-only file system, I/O error, corrupt page, lock timeout: the file's fault.
    # IntegrityError and ProgrammingError are the caller's.
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(
        exc, sqlite3.IntegrityError | sqlite3.ProgrammingError
    )


# -- sesmon state check / backup --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """What a state file holds, for ``sesmon state check``."""

    bytes: int
    tables: dict[str, int]  # table → rows
    sets: dict[str, int]  # target → admitted configuration sets
    counters: int  # stored counter series
    dedup_keys: int
    outbox: dict[str, int]  # state → rows
    created: float | None


def check(path: str) -> tuple[str | None, Summary | None]:
    """A full integrity check (``PRAGMA integrity_check``) and a summary; (problem, None) when unsound."""
    if not Path(path).exists():
        return "does not exist", None
    if Path(path).is_file() and Path(path).stat().st_size == 0:
        return "is empty (0 bytes)", None
    problem = diagnose(path)
    if problem is not None:
        return problem, None
    conn = _read_only(path)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
        problems = [_one_line(r[0]) for r in rows if r[0] != "ok"]
        if problems:
            return f"is corrupt ({problems[0][:200]}, {len(problems)} problem(s) in all)", None
        return None, _summary(conn, Path(path).stat().st_size)
    except sqlite3.DatabaseError as exc:
        return f"is corrupt ({_one_line(exc)})", None
    finally:
        conn.close()


def _read_only(path: str) -> sqlite3.Connection:
    """A connection that writes nothing: without a write-ahead log to read, not even a -shm file."""
    resolved = Path(path).resolve()
    if Path(f"{path}-wal").exists():
        return sqlite3.connect(f"file:{resolved}?mode=ro", uri=True)
    return sqlite3.connect(f"file:{resolved}?immutable=1", uri=True)


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _summary(conn: sqlite3.Connection, size: int) -> Summary:
    names = [
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    # Table names come from the file's own catalogue, quoted as identifiers (a quote inside doubled).
    tables = {
        name: int(conn.execute("SELECT count(*) FROM " + _identifier(name)).fetchone()[0])  # noqa: S608
        for name in sorted(names)
    }
    # Counters and sets are their tables' rows plus what the write log holds, not yet folded in.
    series: set[tuple[str, str]] = set()
    names_by_target: set[tuple[str, str]] = set()
    if "ingest_counters" in tables:
        series.update((str(t), str(k)) for t, k in conn.execute("SELECT target, key FROM ingest_counters"))
    if "ingest_sets" in tables:
        names_by_target.update(
            (str(t), str(n)) for t, n in conn.execute("SELECT target, name FROM ingest_sets")
        )
    if "ingest_counter_log" in tables:
        for target, counts, logged_sets in conn.execute(
            "SELECT target, counts, sets FROM ingest_counter_log"
        ):
            series.update((str(target), str(key)) for key in orjson.loads(counts))
            if logged_sets is not None:
                names_by_target.update((str(target), str(name)) for name in orjson.loads(logged_sets))
    sets: dict[str, int] = {}
    for target, name in names_by_target:
        if name not in ("(none)", "(other)"):  # folds, not admitted sets
            sets[target] = sets.get(target, 0) + 1
    outbox: dict[str, int] = {}
    if "outbox" in tables:
        outbox = {
            str(s): int(n) for s, n in conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")
        }
    created = None
    if "state_file" in tables:
        row = conn.execute("SELECT value FROM state_file WHERE key = 'created'").fetchone()
        created = float(row[0]) if row is not None else None
    return Summary(
        bytes=size,
        tables=tables,
        sets=sets,
        counters=len(series),
        dedup_keys=tables.get("ingest_dedup", 0),
        outbox=outbox,
        created=created,
    )


def backup(path: str, dest: str) -> int:
    """Copy a (possibly live) state file to ``dest`` with SQLite's online backup API; return its pages.

    Raises :class:`StateFileError` when the source is unsound or ``dest`` exists.
    """
    problem = diagnose(path) if Path(path).exists() else "does not exist"
    if problem is not None:
        raise StateFileError(path, problem, "nothing to back up")
    if Path(dest).exists():
        raise StateFileError(dest, "already exists", "give a new destination path")
    source = _read_only(path)
    try:
        target = sqlite3.connect(dest)
        try:
            # Copied in steps: a running sesmon keeps writing between them, and the copy restarts
            # from a consistent snapshot if it does (the backup API's own guarantee).
            source.backup(target, pages=1024)
            pages = int(target.execute("PRAGMA page_count").fetchone()[0])
        finally:
            target.close()
    finally:
        source.close()
    problem = diagnose(dest)
    if problem is not None:
        raise StateFileError(dest, problem, "the copy failed; try again")
    return pages


def describe(path: str, summary: Summary) -> str:
    """``sesmon state check``'s report: one line of verdict, then what the file holds."""
    created = (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(summary.created)) if summary.created else "unknown"
    )
    sets = ", ".join(f"{target}: {n}" for target, n in sorted(summary.sets.items())) or "none"
    outbox = ", ".join(f"{state} {n}" for state, n in sorted(summary.outbox.items())) or "empty"
    lines = [
        f"{path}: ok (integrity check passed), {summary.bytes:,} bytes, state created {created}",
        f"  configuration sets: {sets}",
        f"  counter series: {summary.counters:,}",
        f"  dedup keys: {summary.dedup_keys:,}",
        f"  outbox: {outbox}",
        "  tables: " + ", ".join(f"{name} {rows:,}" for name, rows in summary.tables.items()),
    ]
    return "\n".join(lines)
