"""The in-memory state backend: the ports' contract in plain dictionaries, for unit tests (lost at exit)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from sesmon.batch import IngestDelta
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
)
from sesmon.windows import WIDTH

_PREFIX_SECONDS = 60  # a dedup prefix is a minute number (sesmon.batch)
_FUTURE_SLACK = 86400.0  # as the SQLite backend: prefixes this far ahead are bogus and looked at


class _Outbox:
    """A mutable outbox row."""

    __slots__ = (
        "attempts",
        "created",
        "fingerprint",
        "finished",
        "id",
        "last_error",
        "next_attempt",
        "notification_id",
        "payload",
        "sink",
        "state",
    )

    def __init__(self, row_id: int, entry: OutboxEntry, now: float) -> None:
        self.id = row_id
        self.sink = entry.sink
        self.notification_id = entry.notification_id
        self.fingerprint = entry.fingerprint
        self.payload = entry.payload
        self.created = now
        self.next_attempt = now
        self.attempts = 0
        self.state = "pending"
        self.last_error: str | None = None
        self.finished: float | None = None


class MemoryState:
    """State in this process only; every method is atomic under one lock."""

    kind = "memory"
    shared = False

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._dedup: dict[DedupRow, int] = {}
        self._counters: dict[tuple[str, tuple[str, ...]], int] = {}
        self._buckets: dict[tuple[str, str, int, int], list[int]] = {}
        self._sets: dict[tuple[str, str], float | None] = {}
        self._kv: dict[tuple[str, str], object] = {}
        self._outbox: dict[int, _Outbox] = {}
        self._outbox_ids: set[tuple[str, str]] = set()
        self._leases: dict[str, Lease] = {}

    def schema_version(self) -> int:
        return SCHEMA_VERSION

    def close(self) -> None:
        return None

    # -- ingestion -------------------------------------------------------------------------------

    def ingest_apply_batch(
        self,
        target: str,
        rows: Sequence[DedupRow],
        build: Callable[[list[bool]], IngestDelta],
        expires: float,
    ) -> list[bool]:
        with self._lock:
            seen: set[DedupRow] = set()
            fresh: list[bool] = []
            for row in rows:
                fresh.append(row not in self._dedup and row not in seen)
                seen.add(row)
            delta = build(fresh)  # may raise: nothing is applied until it returned
            until = int(expires)
            for row, new in zip(rows, fresh, strict=True):
                if new:
                    self._dedup[row] = until
            self._write(target, delta)
        return fresh

    def ingest_add(self, target: str, delta: IngestDelta) -> None:
        with self._lock:
            self._write(target, delta)

    def _write(self, target: str, delta: IngestDelta) -> None:
        for name, document in delta.documents.items():
            if document is None:
                self._kv.pop((INGEST_DOCUMENTS + target, name), None)
            else:
                self._kv[(INGEST_DOCUMENTS + target, name)] = document
        for key, value in delta.counters.items():
            if value:
                self._counters[(target, key)] = self._counters.get((target, key), 0) + value
        for (cs, width, start), counts in delta.buckets.items():
            vector = self._buckets.setdefault((target, cs, width, start), [0] * WIDTH)
            for i, value in enumerate(counts):
                vector[i] += value
        for name in delta.admitted | delta.last_events.keys():
            key = (target, name)
            last = delta.last_events.get(name)
            if key not in self._sets:
                self._sets[key] = last
            elif last is not None:
                held = self._sets[key]
                self._sets[key] = last if held is None else max(held, last)

    def ingest_documents(self, target: str) -> dict[str, object]:
        return self.kv_items(INGEST_DOCUMENTS + target)

    def ingest_load(self, target: str) -> IngestState:
        with self._lock:
            return IngestState(
                counters={key: v for (t, key), v in self._counters.items() if t == target},
                buckets=[
                    (cs, width, start, list(counts))
                    for (t, cs, width, start), counts in sorted(
                        self._buckets.items(), key=lambda kv: kv[0][2:]
                    )
                    if t == target
                ],
                sets={name: last for (t, name), last in self._sets.items() if t == target},
            )

    def ingest_prune_dedup(self, now: float, chunk: int = 20_000, young: float = 0.0) -> int:  # noqa: ARG002
        until = int(now)
        recent = int((now - young) // _PREFIX_SECONDS)
        future = int((now + _FUTURE_SLACK) // _PREFIX_SECONDS)
        with self._lock:
            expired = [
                row
                for row, expires in self._dedup.items()
                if expires < until and not recent <= row[0] <= future
            ]
            for row in expired:
                del self._dedup[row]
        return len(expired)

    def ingest_dedup_count(self) -> int:
        with self._lock:
            return len(self._dedup)

    def ingest_compact(self, target: str, minute_before: int, drop_before: int) -> None:
        with self._lock:
            for key in sorted(self._buckets):
                t, cs, width, start = key
                if t != target:
                    continue
                if width == 60 and start < minute_before:
                    counts = self._buckets.pop(key)
                    hour = self._buckets.setdefault((t, cs, 3600, start - start % 3600), [0] * WIDTH)
                    for i, value in enumerate(counts):
                        hour[i] += value
            for key in [k for k in self._buckets if k[0] == target and k[2] == 3600 and k[3] < drop_before]:
                del self._buckets[key]

    # -- alert state -----------------------------------------------------------------------------

    def kv_items(self, namespace: str) -> dict[str, object]:
        with self._lock:
            return {key: value for (ns, key), value in self._kv.items() if ns == namespace}

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
        with self._lock:
            if fence is not None and not self._current(fence):
                raise LeaseLostError(f"lease {fence.name!r} token {fence.token} is no longer current")
            self._kv[(namespace, key)] = value
            for document in documents:
                self._kv[(document.namespace, document.key)] = document.value
            for entry in entries:
                if (entry.sink, entry.notification_id) in self._outbox_ids:
                    continue
                self._outbox_ids.add((entry.sink, entry.notification_id))
                row_id = max(self._outbox, default=0) + 1
                self._outbox[row_id] = _Outbox(row_id, entry, now)

    # -- outbox ----------------------------------------------------------------------------------

    def outbox_due(self, now: float, limit: int = 100) -> list[OutboxRow]:
        with self._lock:
            due: list[OutboxRow] = []
            blocked: set[tuple[str, str]] = set()
            for row in sorted(self._outbox.values(), key=lambda r: r.id):
                if row.state != "pending" or (row.sink, row.fingerprint) in blocked:
                    continue
                blocked.add((row.sink, row.fingerprint))
                if row.next_attempt <= now:
                    due.append(
                        OutboxRow(
                            row.id,
                            row.sink,
                            row.notification_id,
                            row.fingerprint,
                            row.payload,
                            row.created,
                            row.attempts,
                        )
                    )
                    if len(due) >= limit:
                        break
            return due

    def _finish(self, row_id: int, state: str, now: float, error: str | None) -> None:
        with self._lock:
            row = self._outbox.get(row_id)
            if row is not None:
                row.state, row.finished, row.last_error = state, now, error
                row.attempts += 1

    def outbox_delivered(self, row_id: int, now: float) -> None:
        self._finish(row_id, "delivered", now, None)

    def outbox_retry(self, row_id: int, next_attempt: float, error: str) -> None:
        with self._lock:
            row = self._outbox.get(row_id)
            if row is not None:
                row.attempts += 1
                row.next_attempt, row.last_error = next_attempt, error

    def outbox_give_up(self, row_id: int, now: float, error: str) -> None:
        self._finish(row_id, "given_up", now, error)

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            counts: dict[tuple[str, str], int] = {}
            for row in self._outbox.values():
                counts[(row.sink, row.state)] = counts.get((row.sink, row.state), 0) + 1
            return counts

    def outbox_prune(self, finished_before: float) -> int:
        with self._lock:
            old = [
                r.id
                for r in self._outbox.values()
                if r.state != "pending" and r.finished is not None and r.finished < finished_before
            ]
            for row_id in old:
                del self._outbox[row_id]
            return len(old)

    # -- leases ----------------------------------------------------------------------------------

    def lease_acquire(self, name: str, holder: str, ttl: float, now: float) -> Lease | None:
        with self._lock:
            held = self._leases.get(name)
            if held is None:
                token = 1
            elif held.holder == holder and held.expires >= now:
                token = held.token
            elif held.expires < now:
                token = held.token + 1
            else:
                return None
            lease = Lease(name, holder, token, now + ttl)
            self._leases[name] = lease
            return lease

    def _current(self, lease: Lease) -> bool:
        held = self._leases.get(lease.name)
        return held is not None and (held.holder, held.token) == (lease.holder, lease.token)

    def lease_release(self, lease: Lease) -> None:
        with self._lock:
            if self._current(lease):
                self._leases[lease.name] = Lease(lease.name, lease.holder, lease.token, -1.0)
