"""SES event ingestion: parse, dedup, count and store each SQS batch; windows, signals, metrics, status."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from prometheus_client.registry import Collector

from sesmon import globs
from sesmon.batch import (
    LAG_BUCKETS,
    Built,
    IngestDelta,
    Message,
    Processed,
    build_delta,
    outcomes,
    parse_batch,
)
from sesmon.component import BaseComponent, Job
from sesmon.config import Config, TargetConfig
from sesmon.counting import (
    SQS_DELETED,
    ConfigurationSets,
    CounterKey,
    CountLayout,
    providers_with_other,
)
from sesmon.denominators import CLOUDWATCH, SendBoard, needs_cloudwatch, with_cloudwatch
from sesmon.events import INVALID_REASONS, invert_providers
from sesmon.health import SourceHealth
from sesmon.logs import get_logger, log_event
from sesmon.metrics.events import EventsCollector, TargetReadout
from sesmon.signals import WINDOWED_SIGNALS, Observation
from sesmon.sources.sqs import SqsSource
from sesmon.state.ports import IngestPort, IngestState
from sesmon.status import RateRow, RatesStatus
from sesmon.targets import TargetDirectory
from sesmon.windows import EVENTS, HOUR, MINUTE, SENT, VOLUME, Totals, WindowSet

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from sesmon.sources.aws import AwsClients

log = get_logger("sesmon.ingest")

Clock = Callable[[], float]
NO_EVENTS = "no_events"
PRUNE_INTERVAL = 300.0


class TargetIngest:
    """Ingestion state of one target; every method is thread-safe (one lock per target)."""

    def __init__(
        self, target: TargetConfig, config: Config, store: IngestPort, sends: SendBoard | None = None
    ) -> None:
        self.target = target
        self._sends = sends
        self.name = target.name
        self.store = store
        self.window_lengths = config.window_seconds
        self.dedup_ttl = config.state.dedup_ttl
        self.providers = invert_providers(config.providers)
        self._layout = CountLayout(self.providers)
        self.provider_labels = providers_with_other(config.providers)
        self.literals = globs.literals(target.configuration_sets)
        self._volume = (config.volume_window.recipients, config.volume_window.max_age)
        self._lock = threading.Lock()
        self._sets = ConfigurationSets(target)
        self._windows = WindowSet(self.window_lengths, *self._volume, now=0.0)
        self._counters: dict[CounterKey, int] = {}
        self._last_events: dict[str, float] = {}
        self._lag_counts = [0] * (len(LAG_BUCKETS) + 1)
        self._lag_sum = 0.0
        self._deleted_pending = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def restore(self, now: float) -> None:
        """Load counters, buckets and admitted sets from the store (at start)."""
        state = self.store.ingest_load(self.name)
        with self._lock:
            self._load(state, dict(state.counters), now)

    def _load(self, state: IngestState, counters: dict[CounterKey, int], now: float) -> None:
        self._counters = counters
        self._sets = ConfigurationSets(self.target, state.sets)
        self._last_events = {k: v for k, v in state.sets.items() if v is not None}
        self._windows = WindowSet(self.window_lengths, *self._volume, now=now)
        for cs, width, start, counts in state.buckets:
            self._windows.add(cs, width, start, counts)
        self._windows.prune(now)

    def refresh(self, now: float) -> None:
        """Replace the in-memory mirror with what shared state holds now (other replicas' commits
        included), keeping what this process has not persisted yet (deleted-message counts) and its
        own lag histogram."""
        with self._lock:
            # Under the lock: no local commit lands between the snapshot and the swap.
            state = self.store.ingest_load(self.name)
            counters = dict(state.counters)
            if self._deleted_pending:
                counters[SQS_DELETED] = counters.get(SQS_DELETED, 0) + self._deleted_pending
            self._load(state, counters, now)

    def prune(self, now: float) -> None:
        """Compact old buckets in memory and in the store (dedup keys are pruned store-wide)."""
        with self._lock:
            self._windows.prune(now)
            minute_limit = int(now // MINUTE) * MINUTE - self._windows.horizon + MINUTE
            drop = int(now - self._volume[1]) - HOUR + 1
        self.store.ingest_compact(self.name, minute_limit, drop)

    # -- the pipeline ----------------------------------------------------------------------------

    def process(self, messages: Sequence[Message], now: float) -> list[Processed]:
        """Parse, dedup, count and durably store one batch; return each message's outcome.

        The whole batch commits in one transaction; memory (windows, counters) changes only after it
        committed, so a failed commit leaves no trace and the batch is simply received again.
        """
        parsed, rows = parse_batch(messages, self.name, now)
        with self._lock:
            deleted = self._deleted_pending
            holder: list[Built] = []

            def build(fresh: list[bool]) -> IngestDelta:
                built = build_delta(
                    parsed,
                    fresh,
                    now=now,
                    received=len(messages),
                    deleted=deleted,
                    sets=self._sets,
                    windows=self._windows,
                    layout=self._layout,
                )
                holder.append(built)
                return built.delta

            fresh = self.store.ingest_apply_batch(self.name, rows, build, now + self.dedup_ttl)
            # Committed: mirror the effect in memory.
            built = holder[-1]  # the last build is the one that committed (a backend may retry)
            delta = built.delta
            self._deleted_pending -= deleted
            self._sets.commit(delta.admitted)
            counters = self._counters
            for key, value in delta.counters.items():
                if key != SQS_DELETED:  # already in memory since record_deleted()
                    counters[key] = counters.get(key, 0) + value
            for (cs, width, start), counts in delta.buckets.items():
                self._windows.add(cs, width, start, counts)
            for cs, when in delta.last_events.items():
                if when > self._last_events.get(cs, 0.0):
                    self._last_events[cs] = when
            totals = self._lag_counts
            for i, count in enumerate(built.lag_counts):
                totals[i] += count
            self._lag_sum += built.lag_sum
        return outcomes(parsed, fresh)

    def record_deleted(self, count: int) -> None:
        """Count messages deleted from SQS; persisted with the next batch (or :meth:`flush`)."""
        if count:
            with self._lock:
                self._deleted_pending += count
                self._counters[SQS_DELETED] = self._counters.get(SQS_DELETED, 0) + count

    def flush(self) -> None:
        """Persist counts not yet stored (deleted messages)."""
        with self._lock:
            pending = self._deleted_pending
            if not pending:
                return
            self.store.ingest_add(self.name, IngestDelta(counters={SQS_DELETED: pending}))
            self._deleted_pending = 0

    # -- reads -----------------------------------------------------------------------------------

    def readout(self, now: float) -> TargetReadout:
        """A consistent copy for the metrics collector."""
        with self._lock:
            windows = self._all_totals(now)
            counters = dict(self._counters)
            # The in-memory mirror already includes deleted counts not yet persisted.
            return TargetReadout(
                target=self.name,
                counters=counters,
                windows=windows,
                last_events=dict(self._last_events),
                lag_counts=list(self._lag_counts),
                lag_sum=self._lag_sum,
                preinit_sets=self.literals,
                window_labels=(*self.window_lengths, VOLUME),
                providers=self.provider_labels,
                invalid_reasons=INVALID_REASONS,
            )

    def _all_totals(self, now: float) -> dict[str, dict[str, Totals]]:
        """Every set's windows (the caller holds the lock); tells the Send board which sets have
        no Send events of their own, so the next CloudWatch poll fetches their denominator."""
        self._windows.advance(now)
        out: dict[str, dict[str, Totals]] = {}
        wanting: list[str] = []
        for cs in self._windows.configuration_sets():
            per_window = out[cs] = self._window_totals(cs, now)
            if any(
                t.denominator == CLOUDWATCH or (t[EVENTS] and needs_cloudwatch(t))
                for t in per_window.values()
            ):
                wanting.append(cs)
        if self._sends is not None:
            self._sends.want(self.name, wanting)
        return out

    def _window_totals(self, cs: str, now: float) -> dict[str, Totals]:
        out = {w: self._windows.totals(cs, w) for w in self.window_lengths}
        out[VOLUME] = self._windows.volume(cs, now)
        if self._sends is not None and any(needs_cloudwatch(t) for t in out.values()):
            self._cloudwatch_denominators(cs, out, now)
        return out

    def _cloudwatch_denominators(self, cs: str, out: dict[str, Totals], now: float) -> None:
        """Windows without sent recipients of their own take CloudWatch's Send, both counted over
        ``[window start, end of CloudWatch's data)``; without CloudWatch data they keep no ratio."""
        assert self._sends is not None
        series = self._sends.series_for(self.name, cs)
        if series is None:
            return
        for window, totals in out.items():
            if not needs_cloudwatch(totals):
                continue
            if window == VOLUME:
                found = series.volume(self._volume[0], now - self._volume[1])
                if found is None:
                    continue
                sent, start = found
            else:
                start = totals.oldest if totals.oldest is not None else now - self.window_lengths[window]
                sent = series.total_since(start)
            if sent > 0:
                out[window] = with_cloudwatch(self._windows.between(cs, start, series.end), sent)

    def bucket_count(self) -> int:
        """Window buckets held in memory (for memory checks)."""
        with self._lock:
            return self._windows.bucket_count()

    def counters(self) -> dict[CounterKey, int]:
        """A copy of the cumulative counters."""
        with self._lock:
            return dict(self._counters)

    def totals(self, now: float) -> dict[str, dict[str, Totals]]:
        """Configuration set → window label (and ``volume``) → totals."""
        with self._lock:
            return self._all_totals(now)

    def last_events(self) -> dict[str, float]:
        """Configuration set → newest SES event time."""
        with self._lock:
            return dict(self._last_events)


class IngestComponent(BaseComponent):
    """Ingestion of every target with an ``sqs`` section: receivers, state, signals, metrics."""

    name = "ingest"

    def __init__(
        self,
        config: Config,
        store: IngestPort,
        *,
        health: SourceHealth,
        targets: TargetDirectory,
        clock: Clock,
        sqs_clients: Mapping[str, Callable[[], SQSClient]],
        backoff: Callable[[int], float] | None = None,
        sends: SendBoard | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self._targets = targets
        self.ingests = {
            t.name: TargetIngest(t, config, store, sends) for t in config.targets if t.sqs is not None
        }
        self.sources = [
            SqsSource(
                target=t,
                ingest=self.ingests[t.name],
                client=sqs_clients[t.name],
                health=health,
                clock=clock,
                backoff=backoff,
            )
            for t in config.targets
            if t.sqs is not None
        ]
        self._collector = EventsCollector(self.readouts, targets)

    # -- Component -------------------------------------------------------------------------------

    def jobs(self) -> Sequence[Job]:
        if not self.ingests:
            return ()
        jobs = [Job("ingest-prune", PRUNE_INTERVAL, self.prune, run_at_start=False, every_replica=True)]
        if self.store.shared:
            # The leader's windows and counters include what other replicas committed.
            jobs.append(Job("ingest-refresh", self.config.state.refresh_interval, self.refresh))
        return jobs

    def collectors(self) -> Sequence[Collector]:
        return (self._collector,) if self.ingests else ()

    def start(self) -> None:
        now = self.clock()
        for ingest in self.ingests.values():
            ingest.restore(now)
        for source in self.sources:
            source.start()
        log_event(log, logging.INFO, "ingest_started", targets=sorted(self.ingests))

    def stop(self, deadline: float) -> None:
        for source in self.sources:
            source.request_stop()
        for source in self.sources:
            source.join(deadline)
        for ingest in self.ingests.values():
            ingest.flush()

    def became_leader(self, now: float) -> None:
        self.refresh(now)

    def refresh(self, now: float) -> None:
        """Reload every target's counters, windows and sets from shared state."""
        for ingest in self.ingests.values():
            ingest.refresh(now)

    def prune(self, now: float) -> None:
        """Drop expired dedup keys and compact old buckets."""
        removed = self.store.ingest_prune_dedup(now, young=self.config.state.dedup_ttl)
        for ingest in self.ingests.values():
            ingest.prune(now)
        if removed:
            log_event(log, logging.DEBUG, "dedup_pruned", keys=removed)

    def readouts(self) -> list[TargetReadout]:
        """Per-target state for the metrics collector."""
        now = self.clock()
        return [ingest.readout(now) for ingest in self.ingests.values()]

    # -- SignalProvider --------------------------------------------------------------------------

    def provided_signals(self) -> frozenset[str]:
        return frozenset((*WINDOWED_SIGNALS, NO_EVENTS)) if self.ingests else frozenset()

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        if signal == NO_EVENTS:
            return self._no_events(window, now)
        if signal not in WINDOWED_SIGNALS or window is None:
            return []
        out: list[Observation] = []
        for name, ingest in self.ingests.items():
            for cs, per_window in sorted(ingest.totals(now).items()):
                totals = per_window.get(window)
                if totals is None:
                    continue
                ratio, num, den = totals.rate(signal)
                if ratio is None:
                    continue  # no denominator: no rate, which is not a rate of 0
                out.append(
                    Observation(
                        signal,
                        Observation.make_labels(target=name, configuration_set=cs),
                        ratio,
                        recipients=den,
                        events=num,
                        detail=f"window={window} denominator={totals.denominator}",
                    )
                )
        return out

    def _no_events(self, window: str | None, now: float) -> list[Observation]:
        lengths = self.config.window_seconds
        # No window or "volume": the shortest sliding window.
        length = lengths[window] if window in lengths else min(lengths.values(), default=float(HOUR))
        out: list[Observation] = []
        for name, ingest in self.ingests.items():
            for cs, last in sorted(ingest.last_events().items()):
                silent = last <= now - length
                out.append(
                    Observation(
                        NO_EVENTS,
                        Observation.make_labels(target=name, configuration_set=cs),
                        1.0 if silent else 0.0,
                        detail=f"last_event_age={int(max(0.0, now - last))}s",
                    )
                )
        return out

    # -- status page -----------------------------------------------------------------------------

    def status(self) -> RatesStatus | None:
        """Sent recipients and rates per target, configuration set and window (incl. ``volume``)."""
        if not self.ingests:
            return None
        now = self.clock()
        windows = (*self.config.windows, VOLUME)
        rows: list[RateRow] = []
        for name, ingest in self.ingests.items():
            for cs, per_window in sorted(ingest.totals(now).items()):
                rows.extend(_rate_row(name, cs, w, per_window.get(w)) for w in windows)
        return RatesStatus(windows=windows, rows=tuple(rows))


def _rate_row(target: str, configuration_set: str, window: str, totals: Totals | None) -> RateRow:
    if totals is None or not totals[EVENTS]:
        return RateRow(
            target, configuration_set, window, sent=0, events=0, bounce_ratio=None, complaint_ratio=None
        )
    return RateRow(
        target,
        configuration_set,
        window,
        sent=totals[SENT],
        events=totals[EVENTS],
        bounce_ratio=totals.rate("bounce_rate")[0],
        complaint_ratio=totals.rate("complaint_rate")[0],
        denominator=totals.denominator,
    )


def build_ingest(
    config: Config,
    store: IngestPort,
    *,
    health: SourceHealth,
    targets: TargetDirectory,
    clock: Clock,
    aws: Mapping[str, AwsClients],
    sends: SendBoard | None = None,
) -> IngestComponent | None:
    """The ingestion component when any target has an ``sqs`` section (``aws``: target → its clients)."""
    names: Iterable[str] = [t.name for t in config.targets if t.sqs is not None]
    clients = {name: aws[name].lazy("sqs") for name in names}
    if not clients:
        return None
    return IngestComponent(
        config, store, health=health, targets=targets, clock=clock, sqs_clients=clients, sends=sends
    )
