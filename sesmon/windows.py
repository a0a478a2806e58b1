"""Time-bucketed counts per configuration set: sliding windows, the volume window and exact rates (pure).

Layout and exact semantics
--------------------------
* Every counted event lands in the bucket of its **own SES timestamp**, never of its processing time,
  so a backlog drained after an outage fills the buckets it belongs to instead of looking like a spike.
* Recent buckets are one minute wide. Buckets older than the *horizon* (the longest sliding window plus
  one hour) are merged into one-hour buckets, and hour buckets wholly older than
  ``volume_window.max_age`` are dropped. Memory is therefore O(configuration sets x buckets) with at
  most ``horizon/60 + max_age/3600`` buckets per set, whatever the event count.
* A sliding window of length ``L`` at time ``now`` is the ``ceil(L/60)`` most recent minute buckets,
  the current (partial) minute included: bucket ``b`` (its start, Unix seconds) belongs to it when
  ``floor(now/60)*60 - L < b``. Buckets stamped in the future (clock skew) belong to every window.
  Sums are kept incrementally, so reading a window costs O(1).
* The volume window mirrors how AWS judges reputation over a representative volume: walking buckets
  from the newest back, whole buckets are taken until they hold at least ``volume_recipients`` sent
  recipients, or until the next bucket would lie wholly before ``now - max_age``. The bucket that
  crosses the recipient limit is taken **whole** (never pro-rated), so the window holds at least the
  limit and every numerator comes from exactly the same buckets as its denominator; the rates are then
  exact ratios of integer counts.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

MINUTE: Final = 60
HOUR: Final = 3600

# One bucket is a fixed vector of integer counts (recipients unless said otherwise).
FIELDS: Final[tuple[str, ...]] = (
    "events",  # every counted event, any type (for "no events" detection)
    "sent",  # sent recipients, simulator excluded: the AWS-comparable denominator
    "sent_all",  # sent recipients, simulator included: denominator of the other rates
    "bounced_rate",  # permanent bounces counting toward the AWS-comparable bounce rate
    "complained_rate",  # complaints counting toward the AWS-comparable complaint rate
    "bounced",  # every bounced recipient
    "transient",  # transient bounce recipients
    "complained",  # every complained recipient
    "delayed",  # delivery-delay recipients
    "rejected",  # rejected recipients
    "rendering_failed",  # recipients of rendering failures
    "delivered",  # delivered recipients
)
# Each field's index, one named constant apiece.
EVENTS: Final = 0
SENT: Final = 1
SENT_ALL: Final = 2
BOUNCED_RATE: Final = 3
COMPLAINED_RATE: Final = 4
BOUNCED: Final = 5
TRANSIENT: Final = 6
COMPLAINED: Final = 7
DELAYED: Final = 8
REJECTED: Final = 9
RENDERING_FAILED: Final = 10
DELIVERED: Final = 11
WIDTH: Final = len(FIELDS)
VOLUME: Final = "volume"

# Rate name → (numerator field, denominator field); the AWS-comparable pair as
# docs/ARCHITECTURE.md#counting-rules defines it.
RATES: Final[dict[str, tuple[int, int]]] = {
    "bounce_rate": (BOUNCED_RATE, SENT),
    "complaint_rate": (COMPLAINED_RATE, SENT),
    "transient_bounce_rate": (TRANSIENT, SENT_ALL),
    "delivery_delay_rate": (DELAYED, SENT_ALL),
    "reject_rate": (REJECTED, SENT_ALL),
    "rendering_failure_rate": (RENDERING_FAILED, SENT_ALL),
}


def zero() -> list[int]:
    """An empty count vector."""
    return [0] * WIDTH


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts summed over a window; ``oldest`` is the start of its oldest bucket (None when empty).

    ``denominator`` says where the sent recipients come from: ``events`` (Send events counted here)
    or ``cloudwatch`` (AWS/SES Send, for sets whose Send events never reach sesmon; see
    ``sesmon.denominators``).
    """

    counts: tuple[int, ...]
    oldest: float | None = None
    denominator: str = "events"

    def __getitem__(self, field: int) -> int:
        return self.counts[field]

    def rate(self, name: str) -> tuple[float | None, int, int]:
        """``(ratio, numerator, denominator)`` of rate ``name``; the ratio is None with no denominator
        (no rate is known, which is not a rate of 0)."""
        num_field, den_field = RATES[name]
        num, den = self.counts[num_field], self.counts[den_field]
        return (num / den if den else None), num, den


EMPTY: Final = Totals(tuple(zero()))


def _add(into: list[int], counts: Sequence[int]) -> None:
    for i, value in enumerate(counts):
        if value:
            into[i] += value


def _sub(into: list[int], counts: Sequence[int]) -> None:
    for i, value in enumerate(counts):
        if value:
            into[i] -= value


class _SetBuckets:
    """Buckets and running window sums of one configuration set."""

    __slots__ = ("hour_keys", "hours", "minute_keys", "minutes", "sums")

    def __init__(self, windows: Iterable[str]) -> None:
        self.minutes: dict[int, list[int]] = {}
        self.minute_keys: list[int] = []  # sorted
        self.hours: dict[int, list[int]] = {}
        self.hour_keys: list[int] = []  # sorted
        self.sums: dict[str, list[int]] = {w: zero() for w in windows}


class WindowSet:
    """Buckets of every configuration set of one target. Not thread-safe: the caller serialises."""

    def __init__(
        self, windows: Mapping[str, float], volume_recipients: int, volume_max_age: float, now: float
    ) -> None:
        self.windows = dict(windows)
        self.volume_recipients = volume_recipients
        self.volume_max_age = volume_max_age
        longest = max(self.windows.values(), default=float(HOUR))
        # Whole hours, so compaction never splits a sliding window's minutes across hour buckets.
        self.horizon = int(math.ceil(longest / HOUR) * HOUR) + HOUR
        self._sets: dict[str, _SetBuckets] = {}
        # Per window, the newest bucket start that is already *out* of it; only ever moves forward.
        self._cut: dict[str, int] = {w: self._cut_for(length, now) for w, length in self.windows.items()}

    # -- bucket keys -------------------------------------------------------------------------------

    @staticmethod
    def _cut_for(length: float, now: float) -> int:
        current = int(now // MINUTE) * MINUTE
        # Buckets b with b > current - L belong to the window; the largest excluded start is ≤ that.
        return int(math.floor((current - length) / MINUTE) * MINUTE)

    def bucket_of(self, timestamp: float, now: float) -> tuple[int, int] | None:
        """``(width, start)`` of the bucket an event stamped ``timestamp`` goes to, or None when it is
        older than ``max_age`` (it then counts in the counters only)."""
        if timestamp < now - self.volume_max_age - HOUR:
            return None
        minute = int(timestamp // MINUTE) * MINUTE
        if minute <= int(now // MINUTE) * MINUTE - self.horizon:
            hour = int(timestamp // HOUR) * HOUR
            if hour + HOUR <= now - self.volume_max_age:
                return None
            return HOUR, hour
        return MINUTE, minute

    # -- updates ---------------------------------------------------------------------------------

    def _set(self, configuration_set: str) -> _SetBuckets:
        found = self._sets.get(configuration_set)
        if found is None:
            found = self._sets[configuration_set] = _SetBuckets(self.windows)
        return found

    def add(self, configuration_set: str, width: int, start: int, counts: Sequence[int]) -> None:
        """Add ``counts`` to the bucket ``(width, start)`` (from :meth:`bucket_of` or the store)."""
        entry = self._set(configuration_set)
        if width == MINUTE:
            bucket = entry.minutes.get(start)
            if bucket is None:
                bucket = entry.minutes[start] = zero()
                _insort(entry.minute_keys, start)
            _add(bucket, counts)
            for window, cut in self._cut.items():
                if start > cut:
                    _add(entry.sums[window], counts)
        else:
            bucket = entry.hours.get(start)
            if bucket is None:
                bucket = entry.hours[start] = zero()
                _insort(entry.hour_keys, start)
            _add(bucket, counts)

    def advance(self, now: float) -> None:
        """Move the sliding windows to ``now`` (monotonic: an older ``now`` changes nothing)."""
        for window, length in self.windows.items():
            new_cut = self._cut_for(length, now)
            old_cut = self._cut[window]
            if new_cut <= old_cut:
                continue
            for entry in self._sets.values():
                keys = entry.minute_keys
                # Buckets leaving the window: old_cut < b <= new_cut.
                lo = bisect.bisect_right(keys, old_cut)
                hi = bisect.bisect_right(keys, new_cut)
                for key in keys[lo:hi]:
                    _sub(entry.sums[window], entry.minutes[key])
            self._cut[window] = new_cut

    def prune(self, now: float) -> None:
        """Merge minute buckets older than the horizon into hours; drop hours older than ``max_age``."""
        self.advance(now)
        minute_limit = int(now // MINUTE) * MINUTE - self.horizon
        for name in list(self._sets):
            entry = self._sets[name]
            keys = entry.minute_keys
            cut = bisect.bisect_right(keys, minute_limit)
            for key in keys[:cut]:
                hour = key - key % HOUR
                bucket = entry.hours.get(hour)
                if bucket is None:
                    bucket = entry.hours[hour] = zero()
                    _insort(entry.hour_keys, hour)
                _add(bucket, entry.minutes.pop(key))
            del keys[:cut]
            hour_keys = entry.hour_keys
            # An hour bucket is dropped once it lies wholly before now - max_age.
            drop = bisect.bisect_right(hour_keys, now - self.volume_max_age - HOUR)
            for key in hour_keys[:drop]:
                del entry.hours[key]
            del hour_keys[:drop]
            if not entry.minutes and not entry.hours:
                del self._sets[name]

    # -- reads -----------------------------------------------------------------------------------

    def configuration_sets(self) -> list[str]:
        """Sets with at least one bucket."""
        return sorted(self._sets)

    def totals(self, configuration_set: str, window: str) -> Totals:
        """Sums over sliding ``window`` (call :meth:`advance` first) or over the volume window."""
        if window == VOLUME:
            raise ValueError("use volume() for the volume window")
        entry = self._sets.get(configuration_set)
        if entry is None:
            return EMPTY
        return Totals(tuple(entry.sums[window]), self._cut[window] + MINUTE)

    def volume(self, configuration_set: str, now: float) -> Totals:
        """Sums over the volume window (see the module docstring for the exact rule)."""
        entry = self._sets.get(configuration_set)
        if entry is None:
            return EMPTY
        total = zero()
        oldest: float | None = None
        limit = self.volume_recipients
        floor = now - self.volume_max_age
        for width, start, counts in self._newest_first(entry):
            if start + width <= floor:
                break
            _add(total, counts)
            oldest = float(start)
            if total[SENT] >= limit:
                break
        return Totals(tuple(total), oldest)

    def history(
        self, configuration_set: str, now: float, span: int = 24 * HOUR, step: int = 15 * MINUTE
    ) -> list[tuple[int, int, int, int]]:
        """``(start, sent, bounced_rate, complained_rate)`` per ``step`` over the ``span`` before ``now``.

        Read from the buckets already kept (no extra state): minute buckets fall into the step that
        contains them, an hour bucket into the step its start falls in, so with a step shorter than an
        hour older data shows as one hour-wide point. Steps are aligned to multiples of ``step``;
        the last one holds the current, partial step.
        """
        last = int(now // step) * step
        first = last - span + step
        bins = {start: [0, 0, 0] for start in range(first, last + step, step)}
        entry = self._sets.get(configuration_set)
        if entry is not None:
            for width, start, counts in self._newest_first(entry):
                if start + width <= first:
                    break
                found = bins.get(max(first, int(start // step) * step))
                if found is not None:
                    found[0] += counts[SENT]
                    found[1] += counts[BOUNCED_RATE]
                    found[2] += counts[COMPLAINED_RATE]
        return [(start, c[0], c[1], c[2]) for start, c in bins.items()]

    def between(self, configuration_set: str, start: float, end: float) -> Totals:
        """Sums over the whole buckets starting in ``[start, end)``."""
        entry = self._sets.get(configuration_set)
        if entry is None:
            return EMPTY
        total = zero()
        oldest: float | None = None
        for keys, buckets in ((entry.hour_keys, entry.hours), (entry.minute_keys, entry.minutes)):
            for key in keys[bisect.bisect_left(keys, start) : bisect.bisect_left(keys, end)]:
                _add(total, buckets[key])
                oldest = key if oldest is None else min(oldest, key)
        return Totals(tuple(total), oldest)

    @staticmethod
    def _newest_first(entry: _SetBuckets) -> Iterator[tuple[int, int, list[int]]]:
        for key in reversed(entry.minute_keys):
            yield MINUTE, key, entry.minutes[key]
        for key in reversed(entry.hour_keys):
            yield HOUR, key, entry.hours[key]

    def bucket_count(self) -> int:
        """Buckets held, over every set (for memory checks)."""
        return sum(len(e.minutes) + len(e.hours) for e in self._sets.values())


def _insort(keys: list[int], key: int) -> None:
    # Buckets mostly arrive in time order, so appending is the common case.
    if not keys or keys[-1] < key:
        keys.append(key)
    else:
        bisect.insort(keys, key)
