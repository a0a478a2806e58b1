"""SES event ingestion: parse, dedup, count and store each SQS batch; windows, signals, metrics, status.

Past 400 lines: ``TargetIngest`` (one target's pipeline state) and ``IngestComponent`` (what the
daemon schedules, exports and asks for signals) share the lock discipline and the window reads; the
per-event work itself lives in the pure ``batch``, ``counting`` and ``windows`` modules.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from prometheus_client.registry import Collector

from sesmon import globs
from sesmon.batch import (
    BATCH_BUCKETS,
    LAG_BUCKETS,
    Built,
    IngestDelta,
    Message,
    Processed,
    build_delta,
    outcomes,
    parse_batch,
    should_delete,
)
from sesmon.canary_probes import CanaryProbes
from sesmon.component import BaseComponent, Job
from sesmon.config import Config, RuleConfig, TargetConfig
from sesmon.counting import (
    SQS_DELETED,
    ConfigurationSets,
    CounterKey,
    CountLayout,
    providers_with_other,
)
from sesmon.denominators import CLOUDWATCH, SendBoard, needs_cloudwatch, with_cloudwatch
from sesmon.events import INVALID_REASONS, invert_providers
from sesmon.fleet import replica_name
from sesmon.health import Heartbeats, SourceHealth
from sesmon.logs import get_logger, log_event
from sesmon.metrics.events import EventsCollector, TargetReadout
from sesmon.model import SesEvent
from sesmon.signals import WINDOWED_SIGNALS, Observation
from sesmon.sources.sqs import SqsSource
from sesmon.state.ports import IngestPort, IngestState
from sesmon.status import RateHistory, RateRow, RatesStatus
from sesmon.targets import TargetDirectory
from sesmon.thresholds import levels_for
from sesmon.windows import EVENTS, HOUR, MINUTE, SENT, VOLUME, Totals, WindowSet

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from sesmon.sources.aws import AwsClients
    from sesmon.sources.sqs_client import SqsJsonClient

log = get_logger("sesmon.ingest")

Clock = Callable[[], float]
NO_EVENTS = "no_events"
PRUNE_INTERVAL = 300.0
# Keys of the documents ingestion stores with its batches (see TargetIngest.process), under the
# replica's name: each replica of a fleet restores only its own after a restart.
_DELETING = "deleting/"
_CARRIED = "carried"


def _carried_document(carried: Mapping[str, float]) -> object:
    return [[message_id, at] for message_id, at in sorted(carried.items())] or None


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
        # This process's stored batches by size (how well a backlog is gathered); not persisted.
        self._batch_counts = [0] * (len(BATCH_BUCKETS) + 1)
        self._batch_sum = 0
        self.changed: Callable[[], None] = _nothing  # called after each committed batch
        # The deleted-messages counter is written with each batch, before its delete (so a crash
        # cannot lose it). Per receiver slot: deletes that then failed, taken back with that slot's
        # next batch, which also replaces the slot's record of the message ids it counted.
        self._corrections: dict[int, int] = {}
        self._slots: set[int] = set()
        # Message id → when counted: counted as deleted by a batch whose delete a crash may have cut
        # short. When one comes back it is deleted without being counted again.
        self._carried: dict[str, float] = {}
        self._documents = replica_name(config.state.replica)
        self._carried_key = f"{self._documents}/{_CARRIED}"
        self.canary: CanaryProbes | None = None  # set when the target runs a pipeline canary

    # -- lifecycle -------------------------------------------------------------------------------

    def restore(self, now: float) -> None:
        """Load counters, buckets and admitted sets from the store (at start)."""
        state = self.store.ingest_load(self.name)
        with self._lock:
            self._load(state, dict(state.counters), now)
        self._restore_carried(now)

    def _load(self, state: IngestState, counters: dict[CounterKey, int], now: float) -> None:
        self._counters = counters
        self._sets = ConfigurationSets(self.target, state.sets)
        self._last_events = {k: v for k, v in state.sets.items() if v is not None}
        self._windows = WindowSet(self.window_lengths, *self._volume, now=now)
        for cs, width, start, counts in state.buckets:
            self._windows.add(cs, width, start, counts)
        self._windows.prune(now)

    def _restore_carried(self, now: float) -> None:
        # This replica's slot records from before the restart: their messages may or may not have
        # been deleted. Fold them into one record of carried ids, kept as long as dedup keys are.
        own = f"{self._documents}/"
        documents = {k: v for k, v in self.store.ingest_documents(self.name).items() if k.startswith(own)}
        if not documents:
            return
        carried: dict[str, float] = {}
        for key, value in documents.items():
            if key == self._carried_key and isinstance(value, list):
                carried.update((str(i), float(at)) for i, at in value)
            elif isinstance(value, dict):
                at = float(value.get("at", now))
                carried.update((str(i), at) for i in value.get("ids", ()))
        carried = {i: at for i, at in carried.items() if at + self.dedup_ttl > now}
        changes: dict[str, object] = dict.fromkeys(documents)
        changes[self._carried_key] = _carried_document(carried)
        self.store.ingest_add(self.name, IngestDelta(documents=changes))
        with self._lock:
            self._carried = carried

    def _slot_key(self, slot: int) -> str:
        return f"{self._documents}/{_DELETING}{slot}"

    def refresh(self, now: float) -> None:
        """Replace the in-memory mirror with what shared state holds now (other replicas' commits
        included), keeping what this process has not persisted yet (taken-back deletes) and its
        own lag histogram."""
        with self._lock:
            # Under the lock: no local commit lands between the snapshot and the swap.
            state = self.store.ingest_load(self.name)
            counters = dict(state.counters)
            correction = sum(self._corrections.values())
            if correction:
                counters[SQS_DELETED] = counters.get(SQS_DELETED, 0) + correction
            self._load(state, counters, now)

    def prune(self, now: float) -> None:
        """Compact old buckets in memory and in the store (dedup keys are pruned store-wide)."""
        with self._lock:
            self._windows.prune(now)
            minute_limit = int(now // MINUTE) * MINUTE - self._windows.horizon + MINUTE
            drop = int(now - self._volume[1]) - HOUR + 1
        self.store.ingest_compact(self.name, minute_limit, drop)

    # -- the pipeline ----------------------------------------------------------------------------

    def process(
        self, messages: Sequence[Message], now: float, *, keep_invalid: bool | None = None, slot: int = 0
    ) -> list[Processed]:
        """Parse, dedup, count and durably store one batch; return each message's outcome.

        The whole batch commits in one transaction; memory (windows, counters) changes only after it
        committed, so a failed commit leaves no trace and the batch is simply received again.

        With ``keep_invalid`` (the ``on_invalid`` policy), the caller deletes the messages
        :func:`should_delete` lets go right after: the transaction counts them as deleted and
        records their ids for receiver ``slot``, so the count is exact across a crash. A delete
        that fails is taken back with :meth:`record_undeleted`.
        """
        parsed, rows = parse_batch(messages, self.name, now)
        with self._lock:
            deleted = 0
            documents: dict[str, object] = {}
            repeats: list[str] = []
            if keep_invalid is not None:
                ids = [
                    m.message_id
                    for m, item in zip(messages, parsed, strict=True)
                    if should_delete(item, keep_invalid)
                ]
                carried = self._carried
                repeats = [i for i in ids if i in carried] if carried else []
                deleted = len(ids) - len(repeats) + self._corrections.get(slot, 0)
                documents[self._slot_key(slot)] = {"at": now, "ids": ids}
                if repeats:
                    gone = set(repeats)
                    documents[self._carried_key] = _carried_document(
                        {i: at for i, at in carried.items() if i not in gone}
                    )
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
                built.delta.documents = documents
                holder.append(built)
                return built.delta

            fresh = self.store.ingest_apply_batch(self.name, rows, build, now + self.dedup_ttl)
            # Committed: mirror the effect in memory.
            built = holder[-1]  # the last build is the one that committed (a backend may retry)
            delta = built.delta
            if keep_invalid is not None:
                self._slots.add(slot)
                # The taken-back deletes are already out of the in-memory counter.
                correction = self._corrections.pop(slot, 0)
                delta.counters[SQS_DELETED] = delta.counters.get(SQS_DELETED, 0) - correction
                for message_id in repeats:
                    self._carried.pop(message_id, None)
            self._sets.commit(delta.admitted)
            counters = self._counters
            for key, value in delta.counters.items():
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
            self._batch_counts[bisect.bisect_left(BATCH_BUCKETS, len(messages))] += 1
            self._batch_sum += len(messages)
        self.changed()
        canary = self.canary
        if canary is not None and canary.outstanding:
            # Only while a probe is out: one emptiness test per batch otherwise.
            canary.seen(((e.message_id, e.event_type) for e in parsed if isinstance(e, SesEvent)), now)
        return outcomes(parsed, fresh)

    def record_undeleted(self, count: int, slot: int = 0) -> None:
        """Take back ``count`` messages that slot's last batch counted as deleted but whose delete
        failed; stored with the slot's next batch (or :meth:`flush`), in memory at once."""
        if count:
            with self._lock:
                self._corrections[slot] = self._corrections.get(slot, 0) - count
                self._counters[SQS_DELETED] = self._counters.get(SQS_DELETED, 0) - count

    def flush(self) -> None:
        """At a clean stop (every receiver has finished its deletes): store the taken-back deletes
        and drop the slots' records, whose messages are all either deleted or taken back."""
        with self._lock:
            correction = sum(self._corrections.values())
            documents: dict[str, object] = {self._slot_key(slot): None for slot in self._slots}
            if not (correction or documents):
                return
            counters: dict[tuple[str, ...], int] = {SQS_DELETED: correction} if correction else {}
            self.store.ingest_add(self.name, IngestDelta(counters=counters, documents=documents))
            self._corrections.clear()
            self._slots.clear()

    # -- reads -----------------------------------------------------------------------------------

    def readout(self, now: float) -> TargetReadout:
        """A consistent copy for the metrics collector."""
        with self._lock:
            windows = self._all_totals(now)
            counters = dict(self._counters)
            return TargetReadout(
                target=self.name,
                counters=counters,
                windows=windows,
                last_events=dict(self._last_events),
                lag_counts=list(self._lag_counts),
                lag_sum=self._lag_sum,
                batch_counts=list(self._batch_counts),
                batch_sum=self._batch_sum,
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

    def history(self, now: float, span: int, step: int) -> dict[str, list[tuple[int, int, int, int]]]:
        """Configuration set → (start, sent, bounced, complained) per step (``WindowSet.history``)."""
        with self._lock:
            windows = self._windows
            return {cs: windows.history(cs, now, span, step) for cs in windows.configuration_sets()}

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
        sqs_clients: Mapping[str, Callable[[], SQSClient | SqsJsonClient]],
        backoff: Callable[[int], float] | None = None,
        sends: SendBoard | None = None,
        heartbeats: Heartbeats | None = None,
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
                heartbeats=heartbeats,
            )
            for t in config.targets
            if t.sqs is not None
        ]
        self._collector = EventsCollector(self.readouts, targets, config.metrics)
        self._listeners: list[Callable[[], None]] = []
        for ingest in self.ingests.values():
            ingest.changed = self._changed

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every committed batch (ChangeNotifier)."""
        self._listeners.append(callback)

    def _changed(self) -> None:
        for callback in self._listeners:
            callback()

    # -- Component -------------------------------------------------------------------------------

    def jobs(self) -> Sequence[Job]:
        if not self.ingests:
            return ()
        jobs = [Job("ingest-prune", PRUNE_INTERVAL, self.prune, run_at_start=False, every_replica=True)]
        if self.store.shared:
            # Every replica's windows and counters include what the others committed: the leader's
            # for its metrics and rules, a follower's for its status page and for when it takes over.
            refresh = self.config.state.refresh_interval
            jobs.append(Job("ingest-refresh", refresh, self.refresh, run_at_start=False, every_replica=True))
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
        rules = self.config.alerts.rules
        rows: list[RateRow] = []
        history: list[RateHistory] = []
        for name, ingest in self.ingests.items():
            for cs, per_window in sorted(ingest.totals(now).items()):
                rows.extend(_rate_row(name, cs, w, per_window.get(w), rules) for w in windows)
            for cs, steps in sorted(ingest.history(now, HISTORY_SPAN, HISTORY_STEP).items()):
                history.append(_history(name, cs, steps, rules))
        return RatesStatus(windows=windows, rows=tuple(rows), history=tuple(history))


# The status page's sparklines: the last day in quarter hours, read from the minute buckets.
HISTORY_SPAN = 24 * 3600
HISTORY_STEP = 15 * 60


def _rate_row(
    target: str, configuration_set: str, window: str, totals: Totals | None, rules: Sequence[RuleConfig]
) -> RateRow:
    bounce = levels_for(rules, "bounce_rate", window, target, configuration_set)
    complaint = levels_for(rules, "complaint_rate", window, target, configuration_set)
    if totals is None or not totals[EVENTS]:
        return RateRow(
            target,
            configuration_set,
            window,
            sent=0,
            events=0,
            bounce_ratio=None,
            complaint_ratio=None,
            bounce_levels=bounce,
            complaint_levels=complaint,
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
        bounce_levels=bounce,
        complaint_levels=complaint,
    )


def _history(
    target: str, configuration_set: str, steps: list[tuple[int, int, int, int]], rules: Sequence[RuleConfig]
) -> RateHistory:
    return RateHistory(
        target,
        configuration_set,
        HISTORY_STEP,
        sent=tuple(sent for _, sent, _, _ in steps),
        bounce=tuple(bounced / sent if sent else None for _, sent, bounced, _ in steps),
        complaint=tuple(complained / sent if sent else None for _, sent, _, complained in steps),
        bounce_levels=levels_for(rules, "bounce_rate", None, target, configuration_set),
        complaint_levels=levels_for(rules, "complaint_rate", None, target, configuration_set),
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
    heartbeats: Heartbeats | None = None,
) -> IngestComponent | None:
    """The ingestion component when any target has an ``sqs`` section (``aws``: target → its clients)."""
    names: Iterable[str] = [t.name for t in config.targets if t.sqs is not None]
    # The receivers' own lean client (sesmon.sources.sqs_client), built on first use.
    clients = {name: aws[name].sqs_receiver for name in names}
    if not clients:
        return None
    return IngestComponent(
        config,
        store,
        health=health,
        targets=targets,
        clock=clock,
        sqs_clients=clients,
        sends=sends,
        heartbeats=heartbeats,
    )


def _nothing() -> None:
    return None
