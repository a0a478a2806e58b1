"""Pipeline canary bookkeeping (pure, clock injected): probes sent, their events seen, deadlines kept.

A probe is one message sent to the SES mailbox simulator through one configuration set. It
succeeds when both its Send and its Delivery events have come back through the event pipeline
(SES → SNS/EventBridge → SQS → sesmon) before its deadline, and fails otherwise; the round trip
is the time from the send to the later of the two events reaching sesmon. Ingestion hands over
each batch's events only while a probe is outstanding (:attr:`CanaryProbes.outstanding`), so the
hot path pays one emptiness test per batch. A send in flight counts as outstanding too: the events
of a message may come back before SendEmail's reply has named it, so they are kept until it does.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from sesmon.model import EventType

# Upper bounds (seconds) of sesmon_canary_roundtrip_seconds: SES usually reports a delivery to the
# simulator within seconds; minutes mean a slow or backed-up pipeline.
ROUNDTRIP_BUCKETS: tuple[float, ...] = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
EXPECTED = frozenset({EventType.SEND, EventType.DELIVERY})
# Stands in :attr:`CanaryProbes.outstanding` while a send is in flight (never a message id: no "@").
IN_FLIGHT = "@in-flight"
# At most this many events kept while a send is in flight (a busy queue must not grow it unbounded).
EARLY_LIMIT = 10_000


@dataclass(slots=True)
class Probe:
    """One canary message on its way."""

    target: str
    configuration_set: str
    message_id: str
    sent_at: float
    deadline: float
    seen: set[EventType] = field(default_factory=set)


@dataclass(slots=True)
class SetResult:
    """The latest outcome for one (target, configuration set) and the round-trip histogram."""

    failed: bool = False
    detail: str = ""
    concluded_at: float | None = None
    last_success: float | None = None
    last_roundtrip: float | None = None
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(ROUNDTRIP_BUCKETS) + 1))
    roundtrip_sum: float = 0.0
    sent: int = 0


class CanaryProbes:
    """Outstanding probes and per-set results; thread-safe (ingestion and the canary job share it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._probes: dict[str, Probe] = {}
        self._results: dict[tuple[str, str], SetResult] = {}
        self._in_flight = 0
        self._early: dict[str, set[EventType]] = {}  # events seen while a send was in flight
        # Read without the lock by ingestion: replaced (never mutated) under the lock.
        self.outstanding: frozenset[str] = frozenset()

    def _publish(self) -> None:
        ids = frozenset(self._probes)
        self.outstanding = ids | {IN_FLIGHT} if self._in_flight else ids

    def sending(self) -> None:
        """A SendEmail call is about to be made: watch every event until it returns."""
        with self._lock:
            self._in_flight += 1
            self._publish()

    def _landed(self) -> None:
        self._in_flight = max(0, self._in_flight - 1)
        if not self._in_flight:
            self._early.clear()
        self._publish()

    def expect(self, target: str, configuration_set: str) -> None:
        """Declare a set as probed, so it reports before its first probe concludes."""
        with self._lock:
            self._results.setdefault((target, configuration_set), SetResult())

    def sent(self, target: str, configuration_set: str, message_id: str, now: float, deadline: float) -> None:
        """A probe left: SendEmail returned ``message_id``."""
        with self._lock:
            probe = Probe(target, configuration_set, message_id, now, now + deadline)
            probe.seen |= self._early.pop(message_id, set())
            self._probes[message_id] = probe
            self._results.setdefault((target, configuration_set), SetResult()).sent += 1
            self._landed()
            if probe.seen >= EXPECTED:
                self._succeeded(probe, now)

    def send_failed(self, target: str, configuration_set: str, error: str, now: float) -> None:
        """SendEmail itself failed: the probe fails at once."""
        with self._lock:
            result = self._results.setdefault((target, configuration_set), SetResult())
            result.failed, result.detail, result.concluded_at = True, f"send failed: {error}", now
            self._landed()

    def seen(self, events: Iterable[tuple[str, EventType]], now: float) -> None:
        """Events of a processed batch, as (mail message id, event type)."""
        with self._lock:
            for message_id, event_type in events:
                if event_type not in EXPECTED:
                    continue
                probe = self._probes.get(message_id)
                if probe is None:
                    if self._in_flight and len(self._early) < EARLY_LIMIT:
                        self._early.setdefault(message_id, set()).add(event_type)
                    continue
                probe.seen.add(event_type)
                if probe.seen >= EXPECTED:
                    self._succeeded(probe, now)

    def expire(self, now: float) -> list[Probe]:
        """Fail every probe whose deadline has passed; return them."""
        with self._lock:
            late = [p for p in self._probes.values() if now >= p.deadline]
            for probe in late:
                del self._probes[probe.message_id]
                missing = ", ".join(sorted(t.value for t in EXPECTED - probe.seen))
                result = self._results.setdefault((probe.target, probe.configuration_set), SetResult())
                result.failed, result.concluded_at = True, now
                result.detail = f"no {missing} event within {probe.deadline - probe.sent_at:g}s"
            if late:
                self._publish()
            return late

    def _succeeded(self, probe: Probe, now: float) -> None:
        del self._probes[probe.message_id]
        self._publish()
        roundtrip = max(0.0, now - probe.sent_at)
        result = self._results.setdefault((probe.target, probe.configuration_set), SetResult())
        result.failed, result.detail, result.concluded_at = False, "", now
        result.last_success, result.last_roundtrip = now, roundtrip
        result.bucket_counts[bisect.bisect_left(ROUNDTRIP_BUCKETS, roundtrip)] += 1
        result.roundtrip_sum += roundtrip

    def results(self) -> dict[tuple[str, str], SetResult]:
        """Copies of every set's result."""
        with self._lock:
            return {
                key: SetResult(
                    r.failed,
                    r.detail,
                    r.concluded_at,
                    r.last_success,
                    r.last_roundtrip,
                    list(r.bucket_counts),
                    r.roundtrip_sum,
                    r.sent,
                )
                for key, r in self._results.items()
            }
