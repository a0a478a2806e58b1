"""The PostgreSQL state backend, shared by a fleet of replicas: psycopg 3 with a connection pool.

Every replica writes its SQS batches here; the unit of atomicity is still the batch (dedup rows by
``INSERT … ON CONFLICT DO NOTHING``, counters, buckets and sets by upsert, one transaction, before
the delete). Rows each transaction locks are taken in one order (sorted), so replicas do not deadlock
on each other; a deadlock or serialization failure PostgreSQL still reports is retried whole.

Past 400 lines on purpose: one backend implementing every port over one pool, with its
migrations, retry and lease fencing, which all share the same transaction helper.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout

from sesmon import redact
from sesmon.batch import IngestDelta
from sesmon.logs import get_logger, log_event
from sesmon.state.keys import decode_key, encode_key
from sesmon.state.monitor import StateListener
from sesmon.state.ports import (
    INGEST_DOCUMENTS,
    SCHEMA_VERSION,
    DedupRow,
    Document,
    IngestState,
    Lease,
    LeaseLostError,
    OutboxEntry,
    OutboxRow,
    StateError,
)
from sesmon.windows import WIDTH

log = get_logger("sesmon.state")
T = TypeVar("T")

_COLUMNS = [f"n{i}" for i in range(WIDTH)]
_PREFIX_SECONDS = 60  # a dedup prefix is a minute number (sesmon.batch)
_PREFIX_MIN, _PREFIX_MAX = -(2**63), 2**63 - 1
_FUTURE_SLACK = 86400.0  # prefixes further ahead than this are treated as bogus when pruning
_RETRIES = 5  # whole-transaction retries on deadlock or serialization failure
# Serialises schema migrations of replicas that start at the same time (any constant would do).
_MIGRATION_LOCK = 0x5E5_0001

_SCHEMA: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BYTEA NOT NULL,
        updated DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (namespace, key)
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token BIGINT NOT NULL,
        expires DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS outbox (
        id BIGSERIAL PRIMARY KEY,
        sink TEXT NOT NULL,
        notification_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        payload BYTEA NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        next_attempt DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        finished DOUBLE PRECISION,
        UNIQUE (sink, notification_id)
    )""",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (sink, fingerprint, id) WHERE state = 'pending'",
    # Dedup rows of every message applied; prefix (a minute number) first, for range pruning.
    """CREATE TABLE IF NOT EXISTS ingest_dedup (
        prefix BIGINT NOT NULL,
        key BYTEA NOT NULL,
        expires BIGINT NOT NULL,
        PRIMARY KEY (prefix, key)
    )""",
    # Cumulative counters; key is the JSON array of metric family and labels (sesmon.state.keys).
    """CREATE TABLE IF NOT EXISTS ingest_counters (
        target TEXT NOT NULL,
        key TEXT NOT NULL,
        value BIGINT NOT NULL,
        PRIMARY KEY (target, key)
    )""",
    "CREATE TABLE IF NOT EXISTS ingest_buckets (target TEXT NOT NULL, configuration_set TEXT NOT NULL, "
    "width INTEGER NOT NULL, start BIGINT NOT NULL, "
    + "".join(f"{c} BIGINT NOT NULL DEFAULT 0, " for c in _COLUMNS)
    + "PRIMARY KEY (target, configuration_set, width, start))",
    """CREATE TABLE IF NOT EXISTS ingest_sets (
        target TEXT NOT NULL,
        name TEXT NOT NULL,
        last_event DOUBLE PRECISION,
        PRIMARY KEY (target, name)
    )""",
)

# Rows travel as one JSON parameter each (orjson on this side, jsonb on the server's): far cheaper
# for the daemon than adapting a dozen Python lists to PostgreSQL arrays value by value. Rows are
# applied in the order given, which callers sort, so concurrent transactions lock rows in one order.
_DEDUP_INSERT = (
    "INSERT INTO ingest_dedup(prefix, key, expires) "
    "SELECT (e->>0)::bigint, decode(e->>1, 'hex'), %s FROM jsonb_array_elements(%s::jsonb) AS e "
    "ON CONFLICT DO NOTHING RETURNING prefix, key"
)
# One statement for a batch's whole effect: three upserts as data-modifying CTEs (one round trip).
_EFFECT = (  # built from fixed column names only
    "WITH c AS (INSERT INTO ingest_counters(target, key, value) "  # noqa: S608
    "SELECT %(target)s, e->>0, (e->>1)::bigint FROM jsonb_array_elements(%(counters)s::jsonb) AS e "
    "ON CONFLICT (target, key) DO UPDATE SET value = ingest_counters.value + excluded.value), "
    "b AS (INSERT INTO ingest_buckets(target, configuration_set, width, start, "
    + ", ".join(_COLUMNS)
    + ") SELECT %(target)s, e->>0, (e->>1)::int, (e->>2)::bigint, "
    + ", ".join(f"(e->>{i + 3})::bigint" for i in range(WIDTH))
    + " FROM jsonb_array_elements(%(buckets)s::jsonb) AS e "
    "ON CONFLICT (target, configuration_set, width, start) DO UPDATE SET "
    + ", ".join(f"{c} = ingest_buckets.{c} + excluded.{c}" for c in _COLUMNS)
    + ") INSERT INTO ingest_sets(target, name, last_event) "
    "SELECT %(target)s, e->>0, (e->>1)::float8 FROM jsonb_array_elements(%(sets)s::jsonb) AS e "
    # The later time; NULL ("no event yet") only while both are (greatest() ignores NULLs).
    "ON CONFLICT (target, name) DO UPDATE SET "
    "last_event = greatest(ingest_sets.last_event, excluded.last_event)"
)
_COMPACT = (  # built from fixed column names only
    "WITH moved AS (DELETE FROM ingest_buckets WHERE target = %(target)s AND width = 60 "  # noqa: S608
    "AND start < %(before)s RETURNING *) "
    "INSERT INTO ingest_buckets(target, configuration_set, width, start, "
    + ", ".join(_COLUMNS)
    + ") SELECT target, configuration_set, 3600, start - start %% 3600, "
    + ", ".join(f"sum({c})" for c in _COLUMNS)
    + " FROM moved GROUP BY target, configuration_set, start - start %% 3600 "
    "ON CONFLICT (target, configuration_set, width, start) DO UPDATE SET "
    + ", ".join(f"{c} = ingest_buckets.{c} + excluded.{c}" for c in _COLUMNS)
)
_LEASE = (
    "INSERT INTO leases(name, holder, token, expires) VALUES (%(name)s, %(holder)s, 1, %(expires)s) "
    "ON CONFLICT (name) DO UPDATE SET token = CASE WHEN leases.holder = excluded.holder "
    "AND leases.expires >= %(now)s THEN leases.token ELSE leases.token + 1 END, "
    "holder = excluded.holder, expires = excluded.expires "
    "WHERE leases.expires < %(now)s OR leases.holder = excluded.holder RETURNING token"
)


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, for messages (never the password or other parameters)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "an unparsable state.dsn"
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or "5432")
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"


class PostgresState:
    """State in a PostgreSQL database that every replica of a fleet shares; thread-safe."""

    kind = "postgresql"
    shared = True

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 4,
        connect_timeout: float = 15.0,
        listener: StateListener | None = None,
    ) -> None:
        # The whole DSN and its password are secrets: mask them wherever an error might echo them.
        try:
            password = conninfo_to_dict(dsn).get("password")
        except psycopg.ProgrammingError as exc:
            raise StateError(
                f"state.dsn is not a valid PostgreSQL connection string: {_clean(exc, dsn)}"
            ) from None
        self._secrets = (dsn, *([str(password)] if password else []))
        redact.register(*self._secrets)
        self.location = describe_dsn(dsn)
        # Hears how each transaction goes: the daemon's ``state`` source (set once opened, so that
        # the migration's own failure is the one-line start-up error, not a health event).
        self.listener: StateListener | None = None
        # Statements sent, BEGIN and COMMIT included, each one network round trip: for benchmarks.
        self.round_trips = 0
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            open=False,
            name="sesmon-state",
            timeout=connect_timeout,
            kwargs={"connect_timeout": max(1, int(connect_timeout)), "application_name": "sesmon"},
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            self._pool.close()
            raise StateError(
                f"cannot connect to PostgreSQL at {self.location} within {connect_timeout:g}s "
                "(check state.dsn, the server and the network)"
            ) from None
        try:
            self._version = self._migrate()
        except psycopg.Error as exc:
            self._pool.close()
            raise StateError(
                f"cannot set up the sesmon schema in PostgreSQL at {self.location}: {_clean(exc, dsn)} "
                "(the user needs to create tables in its database)"
            ) from None
        except BaseException:
            self._pool.close()
            raise
        self.listener = listener
        if listener is not None:
            listener.opened(None, False)  # when the shared database began is not recorded there

    # -- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction on a pooled connection: committed on success, rolled back on error.

        Its outcome goes to the listener: a server that is down, unreachable, read-only or out of
        space makes the ``state`` source go down, and the next committed transaction brings it back.
        """
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                self.round_trips += 2  # BEGIN and COMMIT
                yield cur
        except BaseException as exc:
            if self.listener is not None and _is_storage_error(exc):
                error = f"{type(exc).__name__}: {_clean(exc, *self._secrets)}"[:300]
                log_event(log, logging.ERROR, "state_write_failed", location=self.location, error=error)
                self.listener.write_failed(error)
            raise
        if self.listener is not None:
            self.listener.write_succeeded()

    def _run(self, cur: psycopg.Cursor[Any], query: str, params: Any = None) -> psycopg.Cursor[Any]:
        """Execute one statement (one round trip)."""
        self.round_trips += 1
        return cur.execute(query.encode(), params)

    def _retrying(self, work: Callable[[], T]) -> T:
        """Run ``work`` (one whole transaction), again after a deadlock or serialization failure."""
        for attempt in range(_RETRIES):
            try:
                return work()
            except (errors.DeadlockDetected, errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
                # Jitter only spreads the retries of colliding replicas apart.
                time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))  # noqa: S311
        raise AssertionError("unreachable")

    def _migrate(self) -> int:
        with self._tx() as cur:
            self._run(cur, "SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._run(cur, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._run(cur, "SELECT max(version) FROM schema_version").fetchone()
            version = int(row[0]) if row and row[0] is not None else 0
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"the PostgreSQL state at {self.location} is at schema version {version}, newer than "
                    f"this sesmon ({SCHEMA_VERSION}): upgrade every replica"
                )
            # Version 2 is the first PostgreSQL schema; later versions add their steps here.
            for statement in _SCHEMA:
                self._run(cur, statement)
            self._run(cur, "DELETE FROM schema_version")
            self._run(cur, "INSERT INTO schema_version(version) VALUES (%s)", (SCHEMA_VERSION,))
        return SCHEMA_VERSION

    def schema_version(self) -> int:
        return self._version

    def close(self) -> None:
        self._pool.close()

    # -- ingestion -------------------------------------------------------------------------------

    def ingest_apply_batch(
        self,
        target: str,
        rows: Sequence[DedupRow],
        build: Callable[[list[bool]], IngestDelta],
        expires: float,
    ) -> list[bool]:
        # Distinct and sorted: one insert per key, and every transaction locks keys in one order.
        distinct = orjson.dumps([[p, k.hex()] for p, k in sorted(set(rows))]).decode()

        def attempt() -> list[bool]:
            with self._tx() as cur:
                inserted = {
                    (int(p), bytes(k))
                    for p, k in self._run(cur, _DEDUP_INSERT, (int(expires), distinct)).fetchall()
                }
                fresh: list[bool] = []
                for row in rows:
                    if row in inserted:
                        inserted.discard(row)  # a second copy later in this batch is a duplicate
                        fresh.append(True)
                    else:
                        fresh.append(False)
                self._write(cur, target, build(fresh))
            return fresh

        return self._retrying(attempt)

    def ingest_add(self, target: str, delta: IngestDelta) -> None:
        def attempt() -> None:
            with self._tx() as cur:
                self._write(cur, target, delta)

        self._retrying(attempt)

    def _write(self, cur: psycopg.Cursor[Any], target: str, delta: IngestDelta) -> None:
        for key, document in delta.documents.items():
            if document is None:
                self._run(
                    cur,
                    "DELETE FROM kv WHERE namespace = %s AND key = %s",
                    (INGEST_DOCUMENTS + target, key),
                )
            else:
                self._run(
                    cur,
                    "INSERT INTO kv(namespace, key, value, updated) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                    "updated = excluded.updated",
                    (INGEST_DOCUMENTS + target, key, orjson.dumps(document), time.time()),
                )
        counters = sorted([encode_key(k), v] for k, v in delta.counters.items() if v)
        buckets = sorted([cs, width, start, *counts] for (cs, width, start), counts in delta.buckets.items())
        names = sorted(delta.admitted | delta.last_events.keys())
        if not (counters or buckets or names):
            return
        params = {
            "target": target,
            "counters": orjson.dumps(counters).decode(),
            "buckets": orjson.dumps(buckets).decode(),
            "sets": orjson.dumps([[n, delta.last_events.get(n)] for n in names]).decode(),
        }
        self._run(cur, _EFFECT, params)

    def ingest_documents(self, target: str) -> dict[str, object]:
        return self.kv_items(INGEST_DOCUMENTS + target)

    def ingest_load(self, target: str) -> IngestState:
        with self._pool.connection() as conn:
            # One snapshot for the three reads, so counters and buckets agree with each other.
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction(), conn.cursor() as cur:
                    self.round_trips += 2
                    counters = self._run(
                        cur, "SELECT key, value FROM ingest_counters WHERE target = %s", (target,)
                    ).fetchall()
                    buckets = self._run(
                        cur,
                        f"SELECT configuration_set, width, start, {', '.join(_COLUMNS)} "  # noqa: S608
                        "FROM ingest_buckets WHERE target = %s ORDER BY width, start, configuration_set",
                        (target,),
                    ).fetchall()
                    sets = self._run(
                        cur, "SELECT name, last_event FROM ingest_sets WHERE target = %s", (target,)
                    ).fetchall()
            finally:
                conn.isolation_level = None
        return IngestState(
            counters={decode_key(key): int(value) for key, value in counters},
            buckets=[(str(r[0]), int(r[1]), int(r[2]), [int(v) for v in r[3:]]) for r in buckets],
            sets={str(name): (float(last) if last is not None else None) for name, last in sets},
        )

    def ingest_prune_dedup(self, now: float, chunk: int = 20_000, young: float = 0.0) -> int:
        until = int(now)
        ranges = (
            (_PREFIX_MIN, int((now - young) // _PREFIX_SECONDS)),
            (int((now + _FUTURE_SLACK) // _PREFIX_SECONDS) + 1, _PREFIX_MAX),
        )
        removed = 0
        for low, high in ranges:
            while True:
                with self._tx() as cur:
                    # Short transactions of at most ``chunk`` rows; SKIP LOCKED leaves rows another
                    # replica is pruning (or inserting) to it.
                    deleted = self._run(
                        cur,
                        "DELETE FROM ingest_dedup WHERE ctid = ANY(ARRAY(SELECT ctid FROM ingest_dedup "
                        "WHERE prefix >= %s AND prefix < %s AND expires < %s LIMIT %s "
                        "FOR UPDATE SKIP LOCKED))",
                        (low, high, until, chunk),
                    ).rowcount
                removed += deleted
                if deleted < chunk:
                    break
        return removed

    def ingest_dedup_count(self) -> int:
        with self._tx() as cur:
            row = self._run(cur, "SELECT count(*) FROM ingest_dedup").fetchone()
        return int(row[0]) if row else 0

    def ingest_compact(self, target: str, minute_before: int, drop_before: int) -> None:
        def attempt() -> None:
            with self._tx() as cur:
                # Deleting the minute rows locks them: an ingest adding to one waits, then inserts it
                # anew; a second replica compacting at once finds them gone. No count is lost or doubled.
                self._run(cur, _COMPACT, {"target": target, "before": minute_before})
                self._run(
                    cur,
                    "DELETE FROM ingest_buckets WHERE target = %s AND width = 3600 AND start < %s",
                    (target, drop_before),
                )

        self._retrying(attempt)

    # -- alert state -----------------------------------------------------------------------------

    def kv_items(self, namespace: str) -> dict[str, object]:
        with self._tx() as cur:
            rows = self._run(cur, "SELECT key, value FROM kv WHERE namespace = %s", (namespace,)).fetchall()
        return {str(key): orjson.loads(value) for key, value in rows}

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
        def attempt() -> None:
            with self._tx() as cur:
                if fence is not None:
                    # FOR SHARE: a takeover waits until this commit, so no write lands after one.
                    held = self._run(
                        cur,
                        "SELECT 1 FROM leases WHERE name = %s AND holder = %s AND token = %s FOR SHARE",
                        (fence.name, fence.holder, fence.token),
                    ).fetchone()
                    if held is None:
                        raise LeaseLostError(f"lease {fence.name!r} token {fence.token} is no longer current")
                self._run(
                    cur,
                    "INSERT INTO kv(namespace, key, value, updated) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                    "updated = excluded.updated",
                    (namespace, key, orjson.dumps(value), now),
                )
                for document in documents:  # an action decided on this transition, and so on
                    self._run(
                        cur,
                        "INSERT INTO kv(namespace, key, value, updated) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
                        "updated = excluded.updated",
                        (document.namespace, document.key, orjson.dumps(document.value), now),
                    )
                if entries:
                    self._run(
                        cur,
                        "INSERT INTO outbox(sink, notification_id, fingerprint, payload, created, "
                        "next_attempt) SELECT s, n, f, p, %s, %s FROM unnest(%s::text[], %s::text[], "
                        "%s::text[], %s::bytea[]) AS t(s, n, f, p) ON CONFLICT (sink, notification_id) "
                        "DO NOTHING",
                        (
                            now,
                            now,
                            [e.sink for e in entries],
                            [e.notification_id for e in entries],
                            [e.fingerprint for e in entries],
                            [orjson.dumps(e.payload) for e in entries],
                        ),
                    )

        self._retrying(attempt)

    # -- outbox ----------------------------------------------------------------------------------

    def outbox_due(self, now: float, limit: int = 100) -> list[OutboxRow]:
        with self._tx() as cur:
            rows = self._run(
                cur,
                # The oldest pending row of each (sink, alert); of those, the ones whose time has come.
                "SELECT id, sink, notification_id, fingerprint, payload, created, attempts FROM ("
                "SELECT DISTINCT ON (sink, fingerprint) * FROM outbox WHERE state = 'pending' "
                "ORDER BY sink, fingerprint, id) AS oldest WHERE next_attempt <= %s ORDER BY id LIMIT %s",
                (now, limit),
            ).fetchall()
        return [
            OutboxRow(int(r[0]), str(r[1]), str(r[2]), str(r[3]), orjson.loads(r[4]), float(r[5]), int(r[6]))
            for r in rows
        ]

    def _update(self, query: str, params: Sequence[object]) -> int:
        with self._tx() as cur:
            return int(self._run(cur, query, params).rowcount)

    def outbox_delivered(self, row_id: int, now: float) -> None:
        self._update(
            "UPDATE outbox SET state = 'delivered', finished = %s, attempts = attempts + 1, "
            "last_error = NULL WHERE id = %s",
            (now, row_id),
        )

    def outbox_retry(self, row_id: int, next_attempt: float, error: str) -> None:
        self._update(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt = %s, last_error = %s WHERE id = %s",
            (next_attempt, error, row_id),
        )

    def outbox_give_up(self, row_id: int, now: float, error: str) -> None:
        self._update(
            "UPDATE outbox SET state = 'given_up', finished = %s, attempts = attempts + 1, last_error = %s "
            "WHERE id = %s",
            (now, error, row_id),
        )

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        with self._tx() as cur:
            rows = self._run(cur, "SELECT sink, state, count(*) FROM outbox GROUP BY sink, state").fetchall()
        return {(str(sink), str(state)): int(n) for sink, state, n in rows}

    def outbox_prune(self, finished_before: float) -> int:
        return self._update(
            "DELETE FROM outbox WHERE state != 'pending' AND finished < %s", (finished_before,)
        )

    # -- leases ----------------------------------------------------------------------------------

    def lease_acquire(self, name: str, holder: str, ttl: float, now: float) -> Lease | None:
        with self._tx() as cur:
            row = self._run(
                cur, _LEASE, {"name": name, "holder": holder, "expires": now + ttl, "now": now}
            ).fetchone()
        return Lease(name, holder, int(row[0]), now + ttl) if row else None

    def lease_release(self, lease: Lease) -> None:
        self._update(
            "UPDATE leases SET expires = -1 WHERE name = %s AND holder = %s AND token = %s",
            (lease.name, lease.holder, lease.token),
        )


def _is_storage_error(exc: BaseException) -> bool:
    # The database's fault: connection lost or refused, pool exhausted, read-only, disk full,
    # permission revoked. A deadlock or serialization failure is retried whole and a unique
    # violation is the caller's; neither says the state is unwell.
    if isinstance(exc, PoolTimeout):
        return True
    return isinstance(exc, psycopg.Error) and not isinstance(
        exc, errors.DeadlockDetected | errors.SerializationFailure | psycopg.IntegrityError
    )


def _clean(exc: BaseException, *secrets: str) -> str:
    """An exception's first line with every given secret masked."""
    return redact.redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, set(secrets))
