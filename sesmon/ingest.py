"""SES event ingestion: parse, dedup, count and store each SQS batch; windows, signals, metrics, status."""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client.registry import Collector

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
from sesmon.config import WINDOWED_SIGNALS, Config, TargetConfig
from sesmon.counting import (
    SQS_DELETED,
    ConfigurationSets,
    CounterKey,
    CountLayout,
    literal_names,
    providers_with_other,
)
from sesmon.events import INVALID_REASONS, invert_providers
from sesmon.health import SourceHealth
from sesmon.logs import get_logger, log_event
from sesmon.metrics.events import EventsCollector, TargetReadout
from sesmon.signals import Observation
from sesmon.store import Store
from sesmon.targets import TargetDirectory
from sesmon.windows import EVENTS, HOUR, MINUTE, SENT, VOLUME, Totals, WindowSet

log = get_logger("sesmon.ingest")

Clock = Callable[[], float]
NO_EVENTS = "no_events"
PRUNE_INTERVAL = 300.0


class TargetIngest:
    """Ingestion state of one target; every method is thread-safe (one lock per target)."""

    def __init__(self, target: TargetConfig, config: Config, store: Store) -> None:
        self.target = target
        self.name = target.name
        self.store = store
        self.window_lengths = config.window_seconds
        self.dedup_ttl = config.state.dedup_ttl
        self.providers = invert_providers(config.providers)
        self._layout = CountLayout(self.providers)
        self.provider_labels = providers_with_other(config.providers)
        self.literals = literal_names(target.configuration_sets)
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
            self._counters = dict(state.counters)
            self._sets = ConfigurationSets(self.target, state.sets)
            self._last_events = {k: v for k, v in state.sets.items() if v is not None}
            self._windows = WindowSet(self.window_lengths, *self._volume, now=now)
            for cs, width, start, counts in state.buckets:
                self._windows.add(cs, width, start, counts)
            self._windows.prune(now)

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
        parsed, rows = parse_batch(messages, self.name)
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
            built = holder[0]
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
            self._windows.advance(now)
            windows = {cs: self._window_totals(cs, now) for cs in self._windows.configuration_sets()}
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

    def _window_totals(self, cs: str, now: float) -> dict[str, Totals]:
        out = {w: self._windows.totals(cs, w) for w in self.window_lengths}
        out[VOLUME] = self._windows.volume(cs, now)
        return out

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
            self._windows.advance(now)
            return {cs: self._window_totals(cs, now) for cs in self._windows.configuration_sets()}

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
        store: Store,
        *,
        health: SourceHealth,
        targets: TargetDirectory,
        clock: Clock,
        sqs_clients: Mapping[str, Callable[[], Any]],
        backoff: Callable[[int], float] | None = None,
    ) -> None:
        from sesmon.sources.sqs import SqsSource  # noqa: PLC0415 - keeps the pure parts importable alone

        self.config = config
        self.store = store
        self.clock = clock
        self._targets = targets
        self.ingests = {t.name: TargetIngest(t, config, store) for t in config.targets if t.sqs is not None}
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
        return (Job("ingest-prune", PRUNE_INTERVAL, self.prune, run_at_start=False),)

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
                out.append(
                    Observation(
                        signal,
                        Observation.make_labels(target=name, configuration_set=cs),
                        ratio,
                        recipients=den,
                        events=num,
                        detail=f"window={window}",
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

    def status_html(self) -> str:
        if not self.ingests:
            return ""
        now = self.clock()
        labels = (*self.config.windows, VOLUME)
        head = "".join(
            f"<th>sent {html.escape(w)}</th><th>bounce % {html.escape(w)}</th>"
            f"<th>complaint % {html.escape(w)}</th>"
            for w in labels
        )
        rows: list[str] = []
        for name, ingest in self.ingests.items():
            for cs, per_window in sorted(ingest.totals(now).items()):
                cells = "".join(_status_cells(per_window.get(w)) for w in labels)
                rows.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(cs)}</td>{cells}</tr>")
        if not rows:
            return "<p>No SES events counted yet.</p>"
        return f"<table><tr><th>target</th><th>configuration set</th>{head}</tr>{''.join(rows)}</table>"


def _status_cells(totals: Totals | None) -> str:
    if totals is None or not totals[EVENTS]:
        return "<td>0</td><td>-</td><td>-</td>"
    bounce = totals.rate("bounce_rate")[0] * 100
    complaint = totals.rate("complaint_rate")[0] * 100
    return f"<td>{totals[SENT]}</td><td>{bounce:.2f}</td><td>{complaint:.3f}</td>"


def build_ingest(
    config: Config,
    store: Store,
    *,
    health: SourceHealth,
    targets: TargetDirectory,
    clock: Clock,
    aws: Mapping[str, Any],
) -> IngestComponent | None:
    """The ingestion component when any target has an ``sqs`` section (``aws``: target → AwsClients)."""
    names: Iterable[str] = [t.name for t in config.targets if t.sqs is not None]
    clients = {name: _client_factory(aws[name]) for name in names}
    if not clients:
        return None
    return IngestComponent(config, store, health=health, targets=targets, clock=clock, sqs_clients=clients)


def _client_factory(clients: Any) -> Callable[[], Any]:
    # The receivers' own lean client (sesmon.sources.sqs_client), built on first use.
    return clients.sqs_receiver  # type: ignore[no-any-return]
