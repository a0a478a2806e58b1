"""One SQS batch, pure: parse it, key it for dedup, and total the effect of its fresh messages.

This is the per-event hot path between the parser and the store, written as plain loops over locals.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from sesmon.counting import (
    SQS_COUNTED,
    SQS_DELETED,
    SQS_DUPLICATE,
    SQS_RECEIVED,
    BatchCounts,
    ConfigurationSets,
    CounterKey,
    CountLayout,
)
from sesmon.events import parse_message
from sesmon.model import EventType, Outcome, Rejection, SesEvent
from sesmon.windows import MINUTE, WindowSet, zero

# Bound once: a module global, not an attribute lookup per event.
_blake2b: Final = hashlib.blake2b
_bisect_left: Final = bisect.bisect_left

# Upper bounds (seconds) of sesmon_event_lag_seconds: processing time minus the SES event's own
# time, seconds for a healthy stream and hours for a backlog. Floats, so that placing a lag
# compares floats with floats.
LAG_BUCKETS: Final[tuple[float, ...]] = (
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    900.0,
    1800.0,
    3600.0,
    21600.0,
    86400.0,
)
# Messages per stored batch (sesmon_sqs_batch_messages): 1-10 is one receive, more a gathered backlog.
BATCH_BUCKETS: Final[tuple[float, ...]] = (1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)


@dataclass(slots=True, init=False)
class Message:
    """One received SQS message, reduced to what ingestion needs."""

    message_id: str
    body: str | bytes
    sent_timestamp: float | None  # SQS SentTimestamp (seconds): the same on every redelivery

    def __init__(self, message_id: str, body: str | bytes, sent_timestamp: float | None = None) -> None:
        self.message_id = message_id
        self.body = body
        self.sent_timestamp = sent_timestamp


@dataclass(frozen=True, slots=True)
class Processed:
    """What became of one message. ``invalid`` is also set for a redelivered invalid body, so the
    ``on_invalid`` policy applies to it again."""

    outcome: Outcome
    reason: str = ""
    invalid: bool = False


def should_delete(item: Processed | SesEvent | Rejection, keep_invalid: bool) -> bool:
    """Whether a message leaves the queue once its batch is stored: all but invalid bodies that the
    ``on_invalid: keep`` policy leaves for the queue's redrive policy (dead-letter queue)."""
    if isinstance(item, SesEvent):
        return True
    invalid = item.invalid if isinstance(item, Processed) else item.outcome is Outcome.INVALID
    return not (invalid and keep_invalid)


@dataclass
class IngestDelta:
    """The combined effect of some messages: counter increments, bucket counts, set admissions.

    ``documents`` are small JSON documents of the target's ingestion (key → value, None removes
    one) that must commit with the same batch: which SQS messages it counted as deleted.
    """

    counters: dict[tuple[str, ...], int] = field(default_factory=dict)
    # (configuration_set, width, start) → count vector in windows.FIELDS order
    buckets: dict[tuple[str, int, int], list[int]] = field(default_factory=dict)
    admitted: set[str] = field(default_factory=set)
    last_events: dict[str, float] = field(default_factory=dict)
    documents: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class Built:
    """A batch's effect to store, and its lag histogram to mirror in memory once stored."""

    delta: IngestDelta
    lag_counts: list[int]  # per LAG_BUCKETS bound (not cumulative), then the overflow
    lag_sum: float  # sum of positive lags


def dedup_digest(target: str, key: str) -> bytes:
    """The stored form of a dedup key: 16 bytes of BLAKE2b over target and key (collision odds are
    negligible at any realistic volume, and rows stay small)."""
    return _blake2b(f"{target}\x00{key}".encode(), digest_size=16).digest()


def parse_batch(
    messages: Sequence[Message], target: str, now: float
) -> tuple[list[SesEvent | Rejection], list[tuple[int, bytes]]]:
    """Each message's parse outcome and its dedup row ``(locality prefix, digest)`` for ``target``
    (``now``: the processing time, which bounds how far ahead an event may be dated).

    Both parts of a row are the same every time the message, or its event, comes back: the prefix
    is the minute of the SES event's own time (or of the SQS send), which keeps a batch's rows on
    few pages of the store's index; the digest is :func:`dedup_digest` of the key.
    """
    parsed: list[SesEvent | Rejection] = []
    rows: list[tuple[int, bytes]] = []
    # dedup_digest(target, "e:" + key) for every event, from a hash state that has already read
    # the shared head: copying it is cheaper than hashing the head again (same digests).
    head = _blake2b(f"{target}\x00e:".encode(), digest_size=16)
    for message in messages:
        item = parse_message(message.body, now)
        parsed.append(item)
        if isinstance(item, SesEvent):
            state = head.copy()
            state.update(item.dedup_key.encode())
            rows.append((int(item.timestamp // MINUTE), state.digest()))
        elif item.outcome is Outcome.CONTROL:
            # Rare, so locality does not matter; keyed by the SNS id when there is one.
            rows.append((0, dedup_digest(target, "m:" + (item.dedup_key or message.message_id))))
        else:
            # Invalid bodies are keyed by the SQS message id, so a kept one is not counted again
            # each time the queue redelivers it.
            sent = message.sent_timestamp
            prefix = int(sent // MINUTE) if sent else 0
            rows.append((prefix, dedup_digest(target, "m:" + message.message_id)))
    return parsed, rows


class _Place:
    """Where a batch counts the events of one (configuration set, minute): the set's label and
    counting cells, its bucket's count vector, the newest event time seen there, and, when the
    whole minute falls in one bucket of the lag histogram, that bucket's index (else -1) and how
    many events it got."""

    __slots__ = ("cells", "configuration_set", "lag_count", "lag_index", "newest", "vector")

    def __init__(
        self,
        configuration_set: str,
        cells: dict[EventType, list[int]],
        vector: list[int],
        newest: float,
        lag_index: int,
    ) -> None:
        self.configuration_set = configuration_set
        self.cells = cells  # BatchCounts.cells_of(configuration_set)
        self.vector = vector
        self.newest = newest
        self.lag_index = lag_index
        self.lag_count = 0


def build_delta(  # noqa: PLR0915 - the per-event loop, kept in one function to save calls
    parsed: Sequence[SesEvent | Rejection],
    fresh: Sequence[bool],
    *,
    now: float,
    received: int,
    deleted: int,
    sets: ConfigurationSets,
    windows: WindowSet,
    layout: CountLayout,
) -> Built:
    """The combined effect of the fresh messages among ``parsed``, at ``now``.

    ``sets`` and ``windows`` are only read (``sets`` resolves names, admitting new ones into the
    delta; ``windows`` places events in buckets); the caller applies the delta once it is stored.
    """
    delta = IngestDelta()
    counters = delta.counters
    last = delta.last_events
    counters[SQS_RECEIVED] = received
    if deleted:
        counters[SQS_DELETED] = deleted
    batch = BatchCounts(layout)
    scratch = zero()  # events older than the volume window: counters only
    # A batch holds few distinct (set, minute) pairs: resolve each pair's label and bucket once.
    # Looked up by set, then by minute: no key tuple to build and hash per event.
    places: dict[str | None, dict[int, _Place]] = {}
    bounds = LAG_BUCKETS
    lag_counts = [0] * (len(bounds) + 1)
    lag_sum = 0.0
    counted = 0
    duplicates = 0
    for i in range(len(parsed)):
        item = parsed[i]
        if not fresh[i]:
            duplicates += 1
            continue
        if not isinstance(item, SesEvent):
            key: CounterKey = ("sqs", item.outcome.value, item.reason)
            counters[key] = counters.get(key, 0) + 1
            continue
        counted += 1
        at = item.timestamp
        raw = item.configuration_set
        minutes = places.get(raw)
        if minutes is None:
            minutes = places[raw] = {}
        minute = int(at // MINUTE)
        place = minutes.get(minute)
        if place is None:
            cs = sets.resolve(raw, delta.admitted)
            vector = scratch
            placed = windows.bucket_of(at, now)
            if placed is not None:
                bucket_key = (cs, placed[0], placed[1])
                existing = delta.buckets.get(bucket_key)
                if existing is None:
                    existing = delta.buckets[bucket_key] = zero()
                vector = existing
            # Every lag of this minute lies in [now - start - 60, now - start]: when both ends fall
            # in the same histogram bucket, so do all its events (a backlog's minutes mostly do).
            start = minute * MINUTE
            lag_index = _bisect_left(bounds, now - start)
            if _bisect_left(bounds, now - start - MINUTE) != lag_index:
                lag_index = -1
            place = minutes[minute] = _Place(cs, batch.cells_of(cs), vector, at, lag_index)
        elif at > place.newest:
            place.newest = at
        batch.add_to(place.cells, item, place.configuration_set, place.vector)
        lag = now - at
        if place.lag_index >= 0:
            place.lag_count += 1
        else:
            lag_counts[_bisect_left(bounds, lag)] += 1
        if lag > 0:
            lag_sum += lag
    for minutes in places.values():
        for place in minutes.values():
            if place.newest > last.get(place.configuration_set, 0.0):
                last[place.configuration_set] = place.newest
            if place.lag_count:
                lag_counts[place.lag_index] += place.lag_count
    batch.drain(counters)
    if counted:
        counters[SQS_COUNTED] = counted
    if duplicates:
        counters[SQS_DUPLICATE] = duplicates
    return Built(delta, lag_counts, lag_sum)


_COUNTED: Final = Processed(Outcome.COUNTED)


def outcomes(parsed: Sequence[SesEvent | Rejection], fresh: Sequence[bool]) -> list[Processed]:
    """What became of each message, in order."""
    out: list[Processed] = []
    for i in range(len(parsed)):
        item = parsed[i]
        new = fresh[i]
        if isinstance(item, SesEvent):
            out.append(_COUNTED if new else Processed(Outcome.DUPLICATE))
        else:
            invalid = item.outcome is Outcome.INVALID
            out.append(Processed(item.outcome if new else Outcome.DUPLICATE, item.reason, invalid))
    return out
