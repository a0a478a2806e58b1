"""CloudWatch ``AWS/SES Send`` as the rates' denominator where Send events never reach sesmon (pure).

Wirings that route only bounces and complaints (identity feedback notifications, or an event
destination without Send) give counts but no denominator. For such a configuration set sesmon asks
CloudWatch for ``Send`` (the set's own dimension where one is published, else the account's) in the
same batched GetMetricData call as the reputation metrics, and divides the window's numerators by it.

A ratio then covers ``[window start, end of the newest CloudWatch period)``: numerator and
denominator are counted over the same interval, so CloudWatch's publishing delay does not inflate it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final

from sesmon.windows import SENT, SENT_ALL, Totals

EVENTS: Final = "events"
CLOUDWATCH: Final = "cloudwatch"
DENOMINATORS: Final = (EVENTS, CLOUDWATCH)


@dataclass(frozen=True, slots=True)
class SendSeries:
    """CloudWatch Send datapoints of one subject: ``(period start, recipients)`` sorted oldest first;
    the data covers ``[start, end)`` (the poll's range)."""

    points: tuple[tuple[float, float], ...]
    start: float
    end: float
    period: float

    def total_since(self, since: float) -> float:
        """Recipients sent in periods starting at or after ``since``."""
        return sum(value for stamp, value in self.points if stamp >= since)

    def volume(self, recipients: int, floor: float) -> tuple[float, float] | None:
        """``(sent, oldest period start)`` of the newest periods that together hold at least
        ``recipients`` (whole periods, like the volume window's buckets), stopping at ``floor``;
        None when no period holds a send."""
        total = 0.0
        oldest: float | None = None
        for stamp, value in reversed(self.points):
            if stamp + self.period <= floor:
                break
            total += value
            oldest = stamp
            if total >= recipients:
                break
        if oldest is None or total <= 0:
            return None
        return total, oldest


def needs_cloudwatch(totals: Totals) -> bool:
    """True when a window holds no sent recipients of its own (no Send events reached sesmon)."""
    return totals[SENT_ALL] == 0


def with_cloudwatch(totals: Totals, sent: float) -> Totals:
    """``totals`` whose sent recipients are CloudWatch's ``sent``; its rates then say ``cloudwatch``."""
    counts = list(totals.counts)
    counts[SENT] = counts[SENT_ALL] = round(sent)
    return replace(totals, counts=tuple(counts), denominator=CLOUDWATCH)


class SendBoard:
    """Where the CloudWatch poller and ingestion meet: which sets want a CloudWatch denominator, and
    the Send series fetched for them. Thread-safe: the poller and the readers run on other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted: dict[str, frozenset[str]] = {}
        self._series: dict[str, dict[str | None, SendSeries]] = {}

    def want(self, target: str, configuration_sets: Iterable[str]) -> None:
        """Ingestion: the sets of ``target`` counted without Send events (replaces the last call)."""
        wanted = frozenset(configuration_sets)
        with self._lock:
            self._wanted[target] = wanted

    def wanted(self, target: str) -> frozenset[str]:
        """The poller: the sets of ``target`` to fetch Send for."""
        with self._lock:
            return self._wanted.get(target, frozenset())

    def publish(self, target: str, series: Mapping[str | None, SendSeries]) -> None:
        """The poller: the newest Send series of ``target`` (``None`` keys the account level)."""
        with self._lock:
            self._series[target] = dict(series)

    def series_for(self, target: str, configuration_set: str) -> SendSeries | None:
        """The set's own Send series where CloudWatch publishes one, else the account's."""
        with self._lock:
            known = self._series.get(target, {})
            own = known.get(configuration_set)
            if own is not None and own.points:
                return own
            account = known.get(None)
            return account if account is not None and account.points else None
