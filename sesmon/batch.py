"""One SQS batch, pure: parse it, key it for dedup, and total the effect of its fresh messages.

This is the per-event hot path between the parser and the store, so it is compiled with the parser
(see setup.py) and written as plain loops over typed locals.
"""

from __future__ import annotations

import bisect
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
from sesmon.model import Outcome, Rejection, SesEvent
from sesmon.windows import MINUTE, WindowSet, zero

# Upper bounds (seconds) of sesmon_event_lag_seconds: processing time minus the SES event's own
# time, seconds for a healthy stream and hours for a backlog.
LAG_BUCKETS: Final[tuple[float, ...]] = (1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 21600, 86400)


# Written-out __init__: mypyc compiles it, not one that dataclass generates (see model.SesEvent).
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


@dataclass
class IngestDelta:
    """The combined effect of some messages: counter increments, bucket counts, set admissions."""

    counters: dict[tuple[str, ...], int] = field(default_factory=dict)
    # (configuration_set, width, start) → count vector in windows.FIELDS order
    buckets: dict[tuple[str, int, int], list[int]] = field(default_factory=dict)
    admitted: set[str] = field(default_factory=set)
    last_events: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Built:
    """A batch's effect to store, and its lag histogram to mirror in memory once stored."""

    delta: IngestDelta
    lag_counts: list[int]  # per LAG_BUCKETS bound (not cumulative), then the overflow
    lag_sum: float  # sum of positive lags


def parse_batch(messages: Sequence[Message]) -> tuple[list[SesEvent | Rejection], list[tuple[int, str]]]:
    """Each message's parse outcome and its dedup key ``(locality prefix, key)``.

    Both parts of a key are the same every time the message, or its event, comes back: the prefix
    is the minute of the SES event's own time (or of the SQS send), which keeps a batch's keys on
    few pages of the store's index.
    """
    parsed: list[SesEvent | Rejection] = []
    keys: list[tuple[int, str]] = []
    for message in messages:
        item = parse_message(message.body)
        parsed.append(item)
        if isinstance(item, SesEvent):
            keys.append((int(item.timestamp // MINUTE), "e:" + item.dedup_key))
        elif item.outcome is Outcome.CONTROL:
            # Rare, so locality does not matter; keyed by the SNS id when there is one.
            keys.append((0, "m:" + (item.dedup_key or message.message_id)))
        else:
            # Invalid bodies are keyed by the SQS message id, so a kept one is not counted again
            # each time the queue redelivers it.
            sent = message.sent_timestamp
            keys.append(((int(sent // MINUTE) if sent else 0), "m:" + message.message_id))
    return parsed, keys


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
    places: dict[tuple[str | None, int], tuple[str, list[int]]] = {}
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
        place = (item.configuration_set, int(at // MINUTE))
        found = places.get(place)
        if found is None:
            cs = sets.resolve(item.configuration_set, delta.admitted)
            vector = scratch
            placed = windows.bucket_of(at, now)
            if placed is not None:
                bucket_key = (cs, placed[0], placed[1])
                existing = delta.buckets.get(bucket_key)
                if existing is None:
                    existing = delta.buckets[bucket_key] = zero()
                vector = existing
            found = places[place] = (cs, vector)
        cs, vector = found
        batch.add(item, cs, vector)
        if at > last.get(cs, 0.0):
            last[cs] = at
        lag = now - at
        lag_counts[bisect.bisect_left(bounds, lag)] += 1
        if lag > 0:
            lag_sum += lag
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
