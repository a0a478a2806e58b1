"""The state ports: what ingestion, alerting and leadership need from storage, and the types they share.

Backends (``sesmon.state.sqlite``, ``sesmon.state.postgres``, ``sesmon.state.memory``) implement
:class:`StateBackend`; nothing outside a backend sees a cursor, SQL or a storage-engine detail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sesmon.batch import IngestDelta

# A message's dedup row: (locality prefix, key digest), as sesmon.batch.parse_batch makes them.
DedupRow = tuple[int, bytes]
# The schema every backend migrates to on open (see each backend's migrations).
SCHEMA_VERSION = 2


@dataclass
class IngestState:
    """What :meth:`IngestPort.ingest_load` returns."""

    counters: dict[tuple[str, ...], int]
    buckets: list[tuple[str, int, int, list[int]]]  # (configuration_set, width, start, counts)
    sets: dict[str, float | None]  # admitted name → newest event time


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One queued notification for one sink."""

    id: int
    sink: str
    notification_id: str
    fingerprint: str
    payload: Any
    created: float
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A notification to queue for one sink (a repeated (sink, notification_id) is ignored)."""

    sink: str
    notification_id: str
    fingerprint: str
    payload: object


@dataclass(frozen=True, slots=True)
class Document:
    """A further key/value document written in the same atomic write as an alert commit."""

    namespace: str
    key: str
    value: object


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease: ``token`` grows by one each time the lease changes hands (a fencing token)."""

    name: str
    holder: str
    token: int
    expires: float


class LeaseLostError(RuntimeError):
    """A fenced write was refused: the lease it carried is no longer the current one."""


class StateError(RuntimeError):
    """State cannot be opened or used as configured (message names the problem, never a secret)."""


# kv namespace of IngestDelta.documents, followed by the target's name: every backend writes a
# delta's documents (a value of None removes one) in the same transaction as the rest of it.
INGEST_DOCUMENTS = "ingest:"


class IngestPort(Protocol):
    """Ingestion: dedup rows, cumulative counters, window buckets and admitted sets per target.

    The unit of atomicity is the SQS batch: its dedup rows and its effect commit together.
    ``shared`` is true when other processes (a fleet's replicas) write the same state.
    """

    shared: bool

    def ingest_apply_batch(
        self,
        target: str,
        rows: Sequence[DedupRow],
        build: Callable[[list[bool]], IngestDelta],
        expires: float,
    ) -> list[bool]:
        """Apply one batch atomically and return, per row, whether it is new (not a duplicate).

        ``build`` receives those flags (a row seen before, stored or earlier in this batch, is not
        new) and returns the combined effect of the new messages, which commits with the new rows
        (kept until ``expires``). ``build`` may be called again if the backend retries the batch.
        """
        ...

    def ingest_add(self, target: str, delta: IngestDelta) -> None:
        """Apply ``delta`` without dedup rows (e.g. counts of deleted messages)."""
        ...

    def ingest_load(self, target: str) -> IngestState:
        """Everything stored for ``target``, read from one snapshot."""
        ...

    def ingest_documents(self, target: str) -> dict[str, object]:
        """The documents (``IngestDelta.documents``) stored for ``target`` with its batches."""
        ...

    def ingest_prune_dedup(self, now: float, chunk: int = 20_000, young: float = 0.0) -> int:
        """Delete dedup rows that expired before ``now``; return how many. Rows whose prefix (a
        minute number) lies within ``young`` seconds before ``now`` need not be looked at."""
        ...

    def ingest_dedup_count(self) -> int:
        """Dedup rows currently held."""
        ...

    def ingest_compact(self, target: str, minute_before: int, drop_before: int) -> None:
        """Merge minute buckets starting before ``minute_before`` into hour buckets and drop hour
        buckets starting before ``drop_before`` (mirrors ``WindowSet.prune``)."""
        ...


class AlertStatePort(Protocol):
    """Alert lifecycle state, written together with the notifications it produced."""

    def kv_items(self, namespace: str) -> dict[str, object]:
        """Every document stored in ``namespace``."""
        ...

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
        """Store ``value`` under ``namespace/key`` and ``documents``, and queue ``entries``, all or
        nothing (an action decided on a transition is one of ``documents``).

        With ``fence``, the write happens only while that lease is still current, else
        :class:`LeaseLostError` is raised and nothing is written.
        """
        ...


class OutboxPort(Protocol):
    """Delivery of queued notifications; rows end ``delivered`` or ``given_up``."""

    def outbox_due(self, now: float, limit: int = 100) -> list[OutboxRow]:
        """Pending rows whose time has come, oldest first; per (sink, fingerprint) only the oldest
        pending row is eligible, so a receiver never sees an alert's transitions out of order."""
        ...

    def outbox_delivered(self, row_id: int, now: float) -> None:
        """Mark a row acknowledged by its sink; it is never sent again."""
        ...

    def outbox_retry(self, row_id: int, next_attempt: float, error: str) -> None:
        """Record a failed attempt and when to try again."""
        ...

    def outbox_give_up(self, row_id: int, now: float, error: str) -> None:
        """Stop trying a row (permanent failure or too old)."""
        ...

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(sink, state) → number of rows."""
        ...

    def outbox_prune(self, finished_before: float) -> int:
        """Delete finished rows that finished before ``finished_before``; return how many."""
        ...


class LeasePort(Protocol):
    """Named leases with fencing tokens, so one replica of a fleet leads."""

    def lease_acquire(self, name: str, holder: str, ttl: float, now: float) -> Lease | None:
        """Take or renew ``name`` for ``holder`` until ``now + ttl``; None while another holder's
        lease is unexpired. Renewing keeps the token; taking it over increments it."""
        ...

    def lease_release(self, lease: Lease) -> None:
        """Give ``lease`` up early (at shutdown) if it is still the current one."""
        ...


class AlertStore(AlertStatePort, OutboxPort, Protocol):
    """What the alerting component needs: its state with the outbox, and delivery."""


class StateBackend(IngestPort, AlertStatePort, OutboxPort, LeasePort, Protocol):
    """Everything sesmon keeps, in one backend (``kind``: sqlite, postgresql or memory)."""

    kind: str

    def schema_version(self) -> int:
        """The schema version the stored state is at."""
        ...

    def close(self) -> None:
        """Release connections and background work."""
        ...
