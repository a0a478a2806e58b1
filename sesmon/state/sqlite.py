"""The SQLite state backend (default, embedded; WAL): one connection, serialised by a lock, every write
in a transaction.

Past 400 lines on purpose: it is one backend implementing every port of ``sesmon.state.ports``
(ingestion, alert state, outbox, leases) over one connection and one lock; the file-level concerns
live in ``state/file.py`` and the WAL checkpoints in ``state/checkpoint.py``.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path

import orjson

from sesmon.batch import IngestDelta
from sesmon.state.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from sesmon.state.file import OnCorrupt, StateFile, StateFileError
from sesmon.state.keys import decode_key, encode_key, from_legacy
from sesmon.state.monitor import StateListener
from sesmon.state.ports import (
    INGEST_DOCUMENTS,
    SCHEMA_VERSION,
    Document,
    IngestState,
    Lease,
    LeaseLostError,
    OutboxEntry,
    OutboxRow,
    StateError,
)
from sesmon.windows import WIDTH as _BUCKET_WIDTH

_SCHEMA: tuple[str, ...] = (
    # Small JSON documents by namespace: alert lifecycle state, cached discoveries.
    """CREATE TABLE IF NOT EXISTS kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        updated REAL NOT NULL,
        PRIMARY KEY (namespace, key)
    )""",
    # Named leases with a fencing token (one process holds a SQLite file, but the contract is shared).
    """CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token INTEGER NOT NULL,
        expires REAL NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
)


_FIX_OPEN = "check that its directory is writable and that no other process holds the file"


class SqliteState:
    """The embedded state store; safe to share between threads."""

    kind = "sqlite"
    shared = False

    def __init__(
        self,
        path: str | Path,
        on_corrupt: OnCorrupt = "fail",
        listener: StateListener | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # The file is diagnosed (or moved aside) before SQLite sees it, and watched from then on.
        self.file = StateFile.open(self.path, on_corrupt, listener, clock)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE) so a batch is all or nothing.
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StateFileError(self.path, f"cannot be opened ({exc})", _FIX_OPEN) from None
        self._lock = threading.RLock()
        self._checkpointer: WalCheckpointer | None = None
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a batch is deleted from SQS only after its commit, so the commit must survive power loss.
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            # Checkpoints run in the background (sesmon.state.checkpoint), not inside a commit.
            if self.path != ":memory:":
                self._conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
                self._checkpointer = WalCheckpointer(self.path)
            with self.transaction() as cur:
                self._version = _migrate(cur, self.path)
                # Writes not yet folded into ingest_counters, ingest_buckets and ingest_sets (_ingest_write).
                self._write_log_rows = int(
                    cur.execute("SELECT count(*) FROM ingest_counter_log").fetchone()[0]
                )
            self.file.attach(self._conn, clock())
        except sqlite3.Error as exc:
            self.close()
            raise StateFileError(self.path, f"cannot be opened ({exc})", _FIX_OPEN) from None
        except BaseException:
            self.close()
            raise

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """Run the block in one write transaction; commit on success, roll back on error."""
        with self._lock:
            self.file.check()
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                yield cur
                cur.execute("COMMIT")
            except BaseException as exc:
                # SQLite may have rolled back already (a full disk does); a failed COMMIT leaves it open.
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        cur.execute("ROLLBACK")
                self.file.write_failed(exc)
                raise
            finally:
                cur.close()
            if self._checkpointer is not None:
                self._checkpointer.committed()
            self.file.check()  # raises if this commit may have gone to a file deleted meanwhile
            self.file.write_succeeded()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Cursor]:
        """A cursor for reads, serialised with writes."""
        with self._lock:
            cur = self._conn.cursor()
            try:
                yield cur
            finally:
                cur.close()

    def schema_version(self) -> int:
        """The schema version of the open file."""
        return self._version

    def close(self) -> None:
        """Stop background checkpoints, checkpoint the WAL one last time and close the connection."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        with self._lock:
            try:
                # On a full disk this fails; the log is replayed at the next open, so a stop stays clean.
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()

    # -- alert state (key/value documents) -------------------------------------------------------

    def kv_items(self, namespace: str) -> dict[str, object]:
        """Every document in ``namespace``."""
        with self.reading() as cur:
            rows = cur.execute("SELECT key, value FROM kv WHERE namespace = ?", (namespace,)).fetchall()
        return {key: orjson.loads(value) for key, value in rows}

    def alert_commit(
        self,
        namespace: str,
        key: str,
        value: object,
        entries: Sequence[OutboxEntry],
        *,
        now: float,
        fence: Lease | None = None,
        documents: Sequence[Document] = (),
    ) -> None:
        """Store documents and queue their notifications in one transaction (fenced when asked)."""
        with self.transaction() as cur:
            if fence is not None:
                _check_fence(cur, fence)
            cur.executemany(
                "INSERT INTO kv(namespace, key, value, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, "
                "updated = excluded.updated",
                [
                    (namespace, key, orjson.dumps(value), now),
                    *((d.namespace, d.key, orjson.dumps(d.value), now) for d in documents),
                ],
            )
            cur.executemany(
                "INSERT OR IGNORE INTO outbox(sink, notification_id, fingerprint, payload, created, "
                "next_attempt) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (e.sink, e.notification_id, e.fingerprint, orjson.dumps(e.payload), now, now)
                    for e in entries
                ],
            )

    # -- leases ----------------------------------------------------------------------------------

    def lease_acquire(self, name: str, holder: str, ttl: float, now: float) -> Lease | None:
        """Take or renew ``name`` (see LeasePort)."""
        with self.transaction() as cur:
            row = cur.execute("SELECT holder, token, expires FROM leases WHERE name = ?", (name,)).fetchone()
            if row is None:
                token = 1
            elif row[0] == holder and row[2] >= now:
                token = int(row[1])
            elif row[2] < now:
                token = int(row[1]) + 1
            else:
                return None
            cur.execute(
                "INSERT INTO leases(name, holder, token, expires) VALUES (?, ?, ?, ?) ON CONFLICT(name) "
                "DO UPDATE SET holder = excluded.holder, token = excluded.token, expires = excluded.expires",
                (name, holder, token, now + ttl),
            )
        return Lease(name, holder, token, now + ttl)

    def lease_release(self, lease: Lease) -> None:
        """Expire ``lease`` at once if it is still current."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE leases SET expires = -1 WHERE name = ? AND holder = ? AND token = ?",
                (lease.name, lease.holder, lease.token),
            )

    # -- notification outbox (alerts) ------------------------------------------------------------
    # Each notification is written here, per sink, in the same transaction as the alert state that
    # produced it, before any attempt to send it. Rows end as ``delivered`` or ``given_up``.

    def outbox_due(self, now: float, limit: int = 100) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first; per (sink, alert) only the oldest pending
        row is eligible, so a receiver never sees an alert's transitions out of order."""
        with self.reading() as cur:
            rows = cur.execute(
                "SELECT id, sink, notification_id, fingerprint, payload, created, next_attempt, attempts "
                "FROM outbox WHERE state = 'pending' ORDER BY id"
            ).fetchall()
        due: list[OutboxRow] = []
        blocked: set[tuple[str, str]] = set()
        for row in rows:
            key = (row[1], row[3])
            if key in blocked:
                continue
            blocked.add(key)
            if row[6] <= now:
                due.append(OutboxRow(row[0], row[1], row[2], row[3], orjson.loads(row[4]), row[5], row[7]))
                if len(due) >= limit:
                    break
        return due

    def outbox_delivered(self, row_id: int, now: float) -> None:
        """Mark a row acknowledged by its sink; it is never sent again."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE outbox SET state = 'delivered', finished = ?, attempts = attempts + 1, "
                "last_error = NULL WHERE id = ?",
                (now, row_id),
            )

    def outbox_retry(self, row_id: int, next_attempt: float, error: str) -> None:
        """Record a failed attempt and when to try again."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
                (next_attempt, error, row_id),
            )

    def outbox_give_up(self, row_id: int, now: float, error: str) -> None:
        """Stop trying a row (permanent failure or too old)."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE outbox SET state = 'given_up', finished = ?, attempts = attempts + 1, last_error = ? "
                "WHERE id = ?",
                (now, error, row_id),
            )

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(sink, state) → number of rows."""
        with self.reading() as cur:
            rows = cur.execute("SELECT sink, state, COUNT(*) FROM outbox GROUP BY sink, state").fetchall()
        return {(sink, state): count for sink, state, count in rows}

    def outbox_prune(self, finished_before: float) -> int:
        """Delete delivered and given-up rows that finished before ``finished_before``."""
        with self.transaction() as cur:
            cur.execute("DELETE FROM outbox WHERE state != 'pending' AND finished < ?", (finished_before,))
            return int(cur.rowcount)

    # -- ingestion: dedup keys, cumulative counters, window buckets ------------------------------
    # Owned by sesmon.ingest. A whole SQS batch (dedup check, counters, buckets, dedup keys) is applied
    # in one transaction, so a crash leaves either all of a batch's effect or none of it.

    def ingest_apply_batch(
        self,
        target: str,
        rows: Sequence[tuple[int, bytes]],
        build: Callable[[list[bool]], IngestDelta],
        expires: float,
    ) -> list[bool]:
        """Apply one batch atomically and return, per message, whether it is new (not a duplicate).

        ``rows`` are the messages' dedup rows in order (``sesmon.batch.parse_batch``): a locality
        prefix (the minute of the SES event's own time) and the key's digest, both the same whenever
        the message comes back. Rows of a batch then land on few B-tree pages instead of one random
        page each, which keeps commits small. ``build`` receives the fresh flags (a row seen before,
        in the store or earlier in this batch, is not fresh) and returns the combined effect of the
        fresh messages; that effect and the new rows (kept until ``expires``) commit in the same
        transaction.
        """
        until = int(expires)
        with self.transaction() as cur:
            # Usually every row is new: inserting them all and comparing the count of rows inserted
            # decides that in one statement per chunk (a row repeated within the batch conflicts
            # with its first copy, so it too shows as a shortfall). Otherwise undo, and insert each
            # distinct row once, asking which ones went in.
            cur.execute("SAVEPOINT dedup")
            if self._dedup_insert(cur, rows, until, None) == len(rows):
                cur.execute("RELEASE dedup")
                fresh = [True] * len(rows)
            else:
                cur.execute("ROLLBACK TO dedup")
                new: set[tuple[int, bytes]] = set()
                self._dedup_insert(cur, list(dict.fromkeys(rows)), until, new)
                cur.execute("RELEASE dedup")
                fresh = []
                for row in rows:
                    if row in new:
                        new.discard(row)  # a second copy later in this batch is a duplicate
                        fresh.append(True)
                    else:
                        fresh.append(False)
            self._ingest_write(cur, target, build(fresh))
        return fresh

    @staticmethod
    def _dedup_insert(
        cur: sqlite3.Cursor,
        rows: Sequence[tuple[int, bytes]],
        until: int,
        inserted: set[tuple[int, bytes]] | None,
    ) -> int:
        """Insert the keys not yet stored; return how many were, and collect them into ``inserted``
        when given (RETURNING reports only rows actually inserted)."""
        count = 0
        tail = _DEDUP_INSERT_TAIL if inserted is None else _DEDUP_INSERT_TAIL + _DEDUP_RETURNING
        for i in range(0, len(rows), _SQL_CHUNK):
            chunk = rows[i : i + _SQL_CHUNK]
            # ?1 is ``until``, bound once; the text depends only on the row count, so SQLite's
            # prepared statement is reused from one batch to the next.
            query = _DEDUP_INSERT_HEAD + _dedup_values(len(chunk)) + tail
            cur.execute(query, [until, *chain.from_iterable(chunk)])
            if inserted is None:
                count += cur.rowcount
            else:
                found = cur.fetchall()
                inserted.update(found)
                count += len(found)
        return count

    def ingest_add(self, target: str, delta: IngestDelta) -> None:
        """Apply ``delta`` without dedup keys (e.g. counts of deleted messages)."""
        with self.transaction() as cur:
            self._ingest_write(cur, target, delta)

    def _ingest_write(self, cur: sqlite3.Cursor, target: str, delta: IngestDelta) -> None:
        # One row per write however many series, buckets and sets changed (a batch touches
        # hundreds): appending to a log is far cheaper than an upsert for each, and dirties one page
        # instead of one per bucket. The log is folded into ingest_counters, ingest_buckets and
        # ingest_sets every _WRITE_LOG_FOLD rows, in the same transaction; readers add it back.
        increments = {encode_key(k): v for k, v in delta.counters.items() if v}
        buckets = [[cs, width, start, counts] for (cs, width, start), counts in delta.buckets.items()]
        names = delta.admitted | delta.last_events.keys()
        if delta.documents:
            self._ingest_documents_write(cur, target, delta.documents)
        if not (increments or buckets or names):
            return
        cur.execute(
            "INSERT INTO ingest_counter_log(target, counts, buckets, sets) VALUES (?, ?, ?, ?)",
            (
                target,
                orjson.dumps(increments),
                orjson.dumps(buckets) if buckets else None,
                orjson.dumps({n: delta.last_events.get(n) for n in names}) if names else None,
            ),
        )
        self._write_log_rows += 1
        if self._write_log_rows >= _WRITE_LOG_FOLD:
            self._fold_write_log(cur)

    def _ingest_documents_write(self, cur: sqlite3.Cursor, target: str, documents: dict[str, object]) -> None:
        namespace = INGEST_DOCUMENTS + target
        for key, value in documents.items():
            if value is None:
                cur.execute("DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key))
            else:
                cur.execute(
                    "INSERT INTO kv(namespace, key, value, updated) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(namespace, key) DO UPDATE SET value = excluded.value, "
                    "updated = excluded.updated",
                    (namespace, key, orjson.dumps(value), time.time()),
                )

    def ingest_documents(self, target: str) -> dict[str, object]:
        return self.kv_items(INGEST_DOCUMENTS + target)

    def _fold_write_log(self, cur: sqlite3.Cursor) -> None:
        """Apply every logged write to the tables and empty the log (inside a transaction)."""
        totals: dict[tuple[str, str], int] = {}
        buckets: dict[tuple[str, str, int, int], list[int]] = {}
        sets: dict[tuple[str, str], float | None] = {}
        # Row by row, not fetchall(): what accumulates is bounded by the distinct series, buckets
        # and sets, while the log's rows together can be many megabytes (hundreds of sets).
        for target, counts, logged_buckets, logged_sets in cur.execute(
            "SELECT target, counts, buckets, sets FROM ingest_counter_log"
        ):
            for key, value in orjson.loads(counts).items():
                totals[(target, key)] = totals.get((target, key), 0) + value
            _merge_logged(target, logged_buckets, logged_sets, buckets, sets)
        cur.executemany(
            "INSERT INTO ingest_counters(target, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT(target, key) DO UPDATE SET value = value + excluded.value",
            [(target, key, value) for (target, key), value in totals.items()],
        )
        cur.executemany(_BUCKET_UPSERT, [(*key, *counts) for key, counts in buckets.items()])
        cur.executemany(
            "INSERT INTO ingest_sets(target, name, last_event) VALUES (?, ?, ?) "
            # The later time; NULL ("no event yet") only while both are (max() of a NULL is NULL).
            "ON CONFLICT(target, name) DO UPDATE SET last_event = "
            "max(coalesce(last_event, excluded.last_event), coalesce(excluded.last_event, last_event))",
            [(target, name, last) for (target, name), last in sorted(sets.items())],
        )
        cur.execute("DELETE FROM ingest_counter_log")
        self._write_log_rows = 0

    def ingest_load(self, target: str) -> IngestState:
        """Everything ingestion persisted for ``target``: counters, buckets, admitted sets."""
        columns = ", ".join(f"n{i}" for i in range(_BUCKET_WIDTH))
        with self.reading() as cur:
            # One read transaction: the counters and their unfolded increments from the same snapshot.
            cur.execute("BEGIN")
            try:
                stored: dict[str, int] = {
                    key: int(value)
                    for key, value in cur.execute(
                        "SELECT key, value FROM ingest_counters WHERE target = ?", (target,)
                    )
                }
                # The tables' rows, then every unfolded log row added on top (keyed as the log's).
                buckets: dict[tuple[str, str, int, int], list[int]] = {
                    (target, str(row[0]), int(row[1]), int(row[2])): [int(v) for v in row[3:]]
                    for row in cur.execute(
                        f"SELECT configuration_set, width, start, {columns} "  # noqa: S608 - fixed names
                        "FROM ingest_buckets WHERE target = ?",
                        (target,),
                    )
                }
                sets: dict[tuple[str, str], float | None] = {
                    (target, str(name)): (float(last) if last is not None else None)
                    for name, last in cur.execute(
                        "SELECT name, last_event FROM ingest_sets WHERE target = ?", (target,)
                    )
                }
                for counts, bucket_rows, set_rows in cur.execute(
                    "SELECT counts, buckets, sets FROM ingest_counter_log WHERE target = ? ORDER BY id",
                    (target,),
                ):
                    for key, value in orjson.loads(counts).items():
                        stored[key] = stored.get(key, 0) + value
                    _merge_logged(target, bucket_rows, set_rows, buckets, sets)
            finally:
                cur.execute("COMMIT")
        return IngestState(
            counters={decode_key(key): value for key, value in stored.items()},
            buckets=[
                (cs, width, start, counts)
                for (_, cs, width, start), counts in sorted(buckets.items(), key=lambda kv: kv[0][2:])
            ],
            sets={name: last for (_, name), last in sets.items()},
        )

    def ingest_prune_dedup(self, now: float, chunk: int = 20_000, young: float = 0.0) -> int:
        """Delete dedup keys that expired before ``now``, in short transactions; return how many.

        Keys are found by their locality prefix, not by an index on ``expires`` (which would cost a
        second B-tree insert per message): a key's prefix is the minute of its event (or of its SQS
        send), and a message is processed after that, so a key whose prefix lies within ``young``
        seconds before ``now`` (pass the dedup TTL) cannot have expired yet and is not looked at. Keys
        stamped more than a day ahead of ``now`` are looked at too, so a bogus future timestamp cannot
        keep its key forever. Every key is still kept until its own ``expires``.
        """
        until = int(now)
        ranges = (
            (_PREFIX_MIN, int((now - young) // _PREFIX_SECONDS)),
            (int((now + _FUTURE_SLACK) // _PREFIX_SECONDS) + 1, _PREFIX_MAX),
        )
        removed = 0
        for low, high in ranges:
            position: tuple[int, bytes] = (low, b"")
            while True:
                with self.transaction() as cur:
                    rows = cur.execute(
                        "SELECT prefix, key, expires FROM ingest_dedup WHERE (prefix, key) >= (?, ?) "
                        "AND prefix < ? ORDER BY prefix, key LIMIT ?",
                        (*position, high, chunk),
                    ).fetchall()
                    expired = [(prefix, key) for prefix, key, expires in rows if expires < until]
                    cur.executemany("DELETE FROM ingest_dedup WHERE prefix = ? AND key = ?", expired)
                removed += len(expired)
                if len(rows) < chunk:
                    break
                last_prefix, last_key, _ = rows[-1]
                position = (last_prefix, last_key + b"\x00")  # the smallest key after the last one seen
        return removed

    def ingest_dedup_count(self) -> int:
        """Dedup keys currently held."""
        with self.reading() as cur:
            return int(cur.execute("SELECT count(*) FROM ingest_dedup").fetchone()[0])

    def ingest_compact(self, target: str, minute_before: int, drop_before: int) -> None:
        """Merge minute buckets starting before ``minute_before`` into hour buckets and drop hour
        buckets starting before ``drop_before`` (mirrors ``WindowSet.prune``)."""
        columns = ", ".join(f"n{i}" for i in range(_BUCKET_WIDTH))
        sums = ", ".join(f"sum(n{i})" for i in range(_BUCKET_WIDTH))
        with self.transaction() as cur:
            if self._write_log_rows:
                self._fold_write_log(cur)
            cur.execute(
                f"INSERT INTO ingest_buckets(target, configuration_set, width, start, {columns}) "  # noqa: S608
                f"SELECT target, configuration_set, 3600, start - start % 3600, {sums} "
                "FROM ingest_buckets WHERE target = ? AND width = 60 AND start < ? "
                f"GROUP BY target, configuration_set, start - start % 3600 {_BUCKET_CONFLICT}",
                (target, minute_before),
            )
            cur.execute(
                "DELETE FROM ingest_buckets WHERE target = ? AND width = 60 AND start < ?",
                (target, minute_before),
            )
            cur.execute(
                "DELETE FROM ingest_buckets WHERE target = ? AND width = 3600 AND start < ?",
                (target, drop_before),
            )


_OUTBOX_SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        sink TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        payload BLOB NOT NULL,
        created REAL NOT NULL,
        next_attempt REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        finished REAL,
        UNIQUE (sink, notification_id)
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_by_state ON outbox(state, id)",
)


# -- ingestion schema and types (see the ingestion section of SqliteState) ------------------------

_SQL_CHUNK = 499  # rows of 2 parameters, plus one: SQLite's historical limit of 999 bound parameters
_DEDUP_INSERT_HEAD = "INSERT INTO ingest_dedup(prefix, key, expires) VALUES "
_DEDUP_INSERT_TAIL = " ON CONFLICT DO NOTHING"


@functools.lru_cache(maxsize=64)
def _dedup_values(rows: int) -> str:
    """``(?2,?3,?1),(?4,?5,?1),...``: each row's prefix and key, and the shared expiry ?1."""
    return ",".join(f"(?{2 * i + 2},?{2 * i + 3},?1)" for i in range(rows))


_DEDUP_RETURNING = " RETURNING prefix, key"
_PREFIX_SECONDS = 60  # a dedup prefix is a minute number (sesmon.ingest)
_PREFIX_MIN, _PREFIX_MAX = -(2**63), 2**63 - 1
_FUTURE_SLACK = 86400.0  # prefixes further ahead than this are treated as bogus when pruning
_WRITE_LOG_FOLD = 200  # log rows (one per write) folded into the tables at once

_INGEST_SCHEMA: tuple[str, ...] = (
    # Dedup keys of every message already applied; kept until ``expires`` (state.dedup_ttl).
    # prefix: minute of the SES event's time (or of the SQS send), for write locality; key: BLAKE2b-128.
    """CREATE TABLE IF NOT EXISTS ingest_dedup (
        prefix INTEGER NOT NULL,
        key BLOB NOT NULL,
        expires INTEGER NOT NULL,
        PRIMARY KEY (prefix, key)
    ) WITHOUT ROWID""",
    # Expired keys are found by prefix (see ingest_prune_dedup); state files from before that carry
    # an index on expires, which would only slow every insert.
    "DROP INDEX IF EXISTS ingest_dedup_expires",
    # Cumulative counters (key: the JSON array of metric family and labels), so totals survive restarts.
    """CREATE TABLE IF NOT EXISTS ingest_counters (
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        value INTEGER NOT NULL,
        PRIMARY KEY (target, key)
    ) WITHOUT ROWID""",
    # Recent writes, one row each, until folded into the three tables below: counter increments
    # ({key: increment}), bucket counts ([[set, width, start, counts]]) and sets ({name: last event}),
    # as JSON. A counter, bucket or set is its table row plus what the log holds for it.
    """CREATE TABLE IF NOT EXISTS ingest_counter_log (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        counts BLOB NOT NULL,
        buckets BLOB,
        sets BLOB
    )""",
    # Window buckets (width 60 or 3600 s) keyed by the SES event's own time; n<i> is windows.FIELDS[i].
    "CREATE TABLE IF NOT EXISTS ingest_buckets (target TEXT NOT NULL, configuration_set TEXT NOT NULL, "
    "width INTEGER NOT NULL, start INTEGER NOT NULL, "
    + "".join(f"n{i} INTEGER NOT NULL DEFAULT 0, " for i in range(_BUCKET_WIDTH))
    + "PRIMARY KEY (target, configuration_set, width, start)) WITHOUT ROWID",
    # Admitted configuration-set names (so the (other) folding survives restarts) and newest event time.
    """CREATE TABLE IF NOT EXISTS ingest_sets (
        target TEXT NOT NULL,
        name TEXT NOT NULL,
        last_event REAL,
        PRIMARY KEY (target, name)
    ) WITHOUT ROWID""",
)

_BUCKET_CONFLICT = "ON CONFLICT(target, configuration_set, width, start) DO UPDATE SET " + ", ".join(
    f"n{i} = n{i} + excluded.n{i}" for i in range(_BUCKET_WIDTH)
)
_BUCKET_UPSERT = (  # built from fixed column names only
    "INSERT INTO ingest_buckets(target, configuration_set, width, start, "  # noqa: S608
    + ", ".join(f"n{i}" for i in range(_BUCKET_WIDTH))
    + ") VALUES ("
    + ", ".join("?" * (_BUCKET_WIDTH + 4))
    + ") "
    + _BUCKET_CONFLICT
)


def _later(a: float | None, b: float | None) -> float | None:
    """The newer of two last-event times, None standing for "none yet"."""
    if a is None:
        return b
    return a if b is None else max(a, b)


def _merge_logged(
    target: str,
    logged_buckets: bytes | None,
    logged_sets: bytes | None,
    buckets: dict[tuple[str, str, int, int], list[int]],
    sets: dict[tuple[str, str], float | None],
) -> None:
    """Add one log row's bucket counts into ``buckets`` and its set times into ``sets``."""
    if logged_buckets is not None:
        for cs, width, start, counts in orjson.loads(logged_buckets):
            vector = buckets.setdefault((target, cs, width, start), [0] * _BUCKET_WIDTH)
            for i, value in enumerate(counts):
                vector[i] += value
    if logged_sets is not None:
        for name, last in orjson.loads(logged_sets).items():
            key = (target, name)
            sets[key] = _later(sets.get(key), last)


def _check_fence(cur: sqlite3.Cursor, fence: Lease) -> None:
    """Raise LeaseLostError unless ``fence`` is still the lease's current holder and token."""
    row = cur.execute("SELECT holder, token FROM leases WHERE name = ?", (fence.name,)).fetchone()
    if row is None or (row[0], int(row[1])) != (fence.holder, fence.token):
        raise LeaseLostError(f"lease {fence.name!r} token {fence.token} is no longer current")


# -- schema versions ---------------------------------------------------------------------------------
# Version 1 is the first release (no schema_version table); each step moves a file one version on.


_RELEASE_1_TABLES = frozenset({"kv", "outbox", "ingest_dedup", "ingest_counters", "ingest_counter_log"})


def _migrate(cur: sqlite3.Cursor, path: str) -> int:
    """Create or upgrade the schema inside the open transaction; return the resulting version."""
    tables = {row[0] for row in cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" in tables:
        version = int(cur.execute("SELECT max(version) FROM schema_version").fetchone()[0] or 0)
    else:
        version = 1 if tables & _RELEASE_1_TABLES else SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state file {path} is at schema version {version}, newer than this sesmon "
            f"({SCHEMA_VERSION}): upgrade sesmon, or point state.path at another file"
        )
    for statement in (*_SCHEMA, *_OUTBOX_SCHEMA, *_INGEST_SCHEMA):
        cur.execute(statement)
    if version < 2:
        _to_v2(cur)
    cur.execute("DELETE FROM schema_version")
    cur.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))
    return SCHEMA_VERSION


def _to_v2(cur: sqlite3.Cursor) -> None:
    """Version 2: counter keys as JSON arrays instead of parts joined by \\x1f (in the table and the log)."""
    # Early first-release files lack the log's bucket and set columns.
    have = {row[1] for row in cur.execute("PRAGMA table_info(ingest_counter_log)")}
    for column in ("buckets", "sets"):
        if column not in have:
            cur.execute(f"ALTER TABLE ingest_counter_log ADD COLUMN {column} BLOB")
    counters = cur.execute("SELECT target, key, value FROM ingest_counters").fetchall()
    cur.execute("DELETE FROM ingest_counters")
    cur.executemany(
        "INSERT INTO ingest_counters(target, key, value) VALUES (?, ?, ?)",
        [(target, from_legacy(key), value) for target, key, value in counters],
    )
    logged = cur.execute("SELECT id, counts FROM ingest_counter_log").fetchall()
    cur.executemany(
        "UPDATE ingest_counter_log SET counts = ? WHERE id = ?",
        [
            (orjson.dumps({from_legacy(k): v for k, v in orjson.loads(counts).items()}), row_id)
            for row_id, counts in logged
        ],
    )
