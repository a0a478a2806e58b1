"""The alerting capability: evaluates rules over every SignalProvider, persists state + outbox, dispatches."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence

from prometheus_client.registry import Collector

from sesmon.actions.policy import ActionRecord
from sesmon.actions.runner import ActionRunner
from sesmon.alerts.dispatcher import Backoff, DeliveryStats, Dispatcher
from sesmon.alerts.routing import routes
from sesmon.alerts.sinks import AlertmanagerSink, Sink, build_sinks
from sesmon.alerts.source_down import SourceDownProvider
from sesmon.component import BaseComponent, Job
from sesmon.config import AlertsConfig
from sesmon.health import SourceHealth
from sesmon.logs import get_logger, log_event
from sesmon.metrics.actions import ActionsCollector
from sesmon.metrics.alerts import AlertsCollector
from sesmon.rules import Evaluator, FiringAlert, Notification
from sesmon.signals import Observation, SignalProvider
from sesmon.state.ports import AlertStore, Lease, OutboxEntry
from sesmon.status import AlertRow, AlertsStatus, SinkRow
from sesmon.targets import TargetDirectory

log = get_logger("sesmon.alerts")

NAMESPACE = "alerts"
STATE_KEY = "state"
# Alertmanager forgets an alert resolve_timeout (5m by default) after its last post: refresh well within.
ALERTMANAGER_REFRESH = 60.0
DISPATCH_INTERVAL = 5.0
# Evaluations on change are at most this often; the trigger looks again at least this often.
DEBOUNCE = 1.0
TRIGGER_RECHECK = 5.0
# Delivered and given-up outbox rows are kept this long for inspection, then pruned.
OUTBOX_RETENTION = 7 * 86400.0


class AlertsComponent(BaseComponent):
    """Rule evaluation, alert state, outbox and notification delivery."""

    name = "alerts"

    def __init__(
        self,
        config: AlertsConfig,
        store: AlertStore,
        providers: Sequence[SignalProvider],
        clock: Callable[[], float],
        *,
        sinks: Mapping[str, Sink] | None = None,
        rng: random.Random | None = None,
        targets: TargetDirectory | None = None,
        fence: Callable[[], Lease | None] = lambda: None,
        actions: ActionRunner | None = None,
    ) -> None:
        self.config = config
        # In a fleet, the leader's lease: a deposed leader's state write is refused, not applied.
        self._fence = fence
        # Resolves an alert's target to the account_id and region its series carry.
        self.targets = targets if targets is not None else TargetDirectory(())
        self.actions = actions if actions is not None and actions.enabled else None
        self.store = store
        self.providers = list(providers)
        self.clock = clock
        self.sinks = dict(sinks) if sinks is not None else build_sinks(config.sinks)
        self.evaluator = Evaluator(
            config.rules,
            resolve_ratio=config.resolve_ratio,
            repeat_interval=config.repeat_interval,
            resolve_missing_after=config.resolve_missing_after,
        )
        self.stats = DeliveryStats()
        self.dispatcher = Dispatcher(
            store, self.sinks, config.give_up_after, backoff=Backoff(rng=rng), stats=self.stats
        )
        self._lock = threading.RLock()
        self._trigger = threading.Condition()
        self._poked = False
        self._stopped = True
        self._thread: threading.Thread | None = None
        self._last_evaluation = float("-inf")
        # In a fleet the daemon points this at the lease: only the leader evaluates.
        self.is_leader: Callable[[], bool] = _always
        self._warned: set[str] = set()
        self._last_prune = 0.0
        self.load()

    # -- lifecycle -------------------------------------------------------------------------------

    def load(self) -> None:
        """Restore alert state from the store (a restart neither re-fires nor forgets)."""
        with self._lock:
            saved = self.store.kv_items(NAMESPACE).get(STATE_KEY)
            self.evaluator.load(saved if isinstance(saved, dict) else None)

    def became_leader(self, now: float) -> None:  # noqa: ARG002 - part of the interface
        # The previous leader may have moved alerts on since this replica last read them.
        self.load()

    def jobs(self) -> Sequence[Job]:
        jobs = [
            Job("alerts-evaluate", self.config.evaluation_interval, self._evaluate_job),
            Job("alerts-dispatch", DISPATCH_INTERVAL, self._dispatch_job),
        ]
        if any(isinstance(s, AlertmanagerSink) for s in self.sinks.values()):
            jobs.append(Job("alerts-alertmanager-refresh", ALERTMANAGER_REFRESH, self.refresh_alertmanager))
        return jobs

    def _evaluate_job(self, now: float) -> None:
        self.evaluate(now)

    # -- evaluation on change and on time (besides the interval job) -----------------------------

    def poke(self) -> None:
        """What rules read changed (a batch committed): evaluate soon, at most once per DEBOUNCE."""
        with self._trigger:
            self._poked = True
            self._trigger.notify()

    def start(self) -> None:
        self._stopped = False
        self._thread = threading.Thread(target=self._trigger_loop, name="sesmon-alerts-trigger", daemon=True)
        self._thread.start()

    def wake_in(self, now: float) -> float | None:
        """Seconds until the trigger should evaluate (0: now); None while nothing calls for it.

        Poked: DEBOUNCE after the last evaluation. A pending ``for``: when it runs out, so an
        alert fires ``for`` after its condition first held, not at the interval after that.
        """
        waits = []
        if self._poked:
            waits.append(max(0.0, self._last_evaluation + DEBOUNCE - now))
        with self._lock:
            due = self.evaluator.next_due()
        # A due time an evaluation has already passed had its chance (its signal may be missing):
        # the interval job takes it from there, so a stuck timer never spins the trigger.
        if due is not None and due > self._last_evaluation:
            waits.append(max(0.0, due - now))
        return min(waits, default=None)

    def _trigger_loop(self) -> None:
        while True:
            with self._trigger:
                while not self._stopped:
                    wait = self.wake_in(self.clock())
                    if wait == 0.0:
                        break
                    # Re-checked at least every TRIGGER_RECHECK: an evaluation by the interval job
                    # may have moved what is due.
                    self._trigger.wait(TRIGGER_RECHECK if wait is None else min(wait, TRIGGER_RECHECK))
                if self._stopped:
                    return
            if not self.is_leader():
                # The leader evaluates; this replica follows and looks again later.
                self._poked = False
                with self._trigger:
                    self._trigger.wait(TRIGGER_RECHECK)
                continue
            try:
                self.evaluate(self.clock())
            except Exception as exc:  # noqa: BLE001 - the interval job retries; the trigger must live on
                log_event(log, logging.WARNING, "alerts_trigger_failed", error=type(exc).__name__)
                with self._trigger:
                    self._trigger.wait(DEBOUNCE)

    def _dispatch_job(self, now: float) -> None:
        self.dispatch(now)

    def collectors(self) -> Sequence[Collector]:
        collectors: list[Collector] = [
            AlertsCollector(self.config, self.firing, self.stats, self.store.outbox_counts, self.targets)
        ]
        if self.actions is not None:
            collectors.append(ActionsCollector(self.actions.counts.snapshot))
        return collectors

    def firing(self) -> list[FiringAlert]:
        """Firing alerts, read under the lock evaluation holds (scrapes run on other threads)."""
        with self._lock:
            return self.evaluator.firing()

    def stop(self, deadline: float) -> None:  # noqa: ARG002 - sinks close at once; the outbox keeps the rest
        with self._trigger:
            self._stopped = True
            self._trigger.notify()
        if self._thread is not None:
            self._thread.join(5)
        for sink in self.sinks.values():
            sink.close()

    # -- work ------------------------------------------------------------------------------------

    def observe(self, now: float) -> dict[str, list[Observation]]:
        """Each rule's observations; rules whose signal no provider reports (or failed) are left out."""
        cache: dict[tuple[str, str | None], list[Observation] | None] = {}
        out: dict[str, list[Observation]] = {}
        for rule in self.config.rules:
            key = (rule.signal, rule.window)
            if key not in cache:
                cache[key] = self._fetch(rule.signal, rule.window, now)
            found = cache[key]
            if found is not None:
                out[rule.name] = found
        return out

    def _fetch(self, signal: str, window: str | None, now: float) -> list[Observation] | None:
        providers = [p for p in self.providers if signal in p.provided_signals()]
        if not providers:
            if signal not in self._warned:
                self._warned.add(signal)
                log_event(log, logging.WARNING, "signal_unavailable", signal=signal)
            return None
        found: list[Observation] = []
        for provider in providers:
            try:
                found.extend(provider.observe(signal, window, now))
            except Exception as exc:  # noqa: BLE001 - hold the rule rather than resolve on a provider bug
                log_event(log, logging.WARNING, "signal_failed", signal=signal, error=type(exc).__name__)
                return None
        return found

    def evaluate(self, now: float) -> list[Notification]:
        """One evaluation: observe, advance the state machine, persist state and outbox atomically, send."""
        with self._lock:
            # Whatever was poked before this point is read now; a later poke sets it again. (A plain
            # store: taking the trigger's lock here would order the two locks both ways.)
            self._poked = False
            self._last_evaluation = now
            observations = self.observe(now)
            before = self.evaluator.to_dict()
            notifications = self.evaluator.evaluate(observations, now)
            records: list[ActionRecord] = []
            try:
                if self.actions is not None:
                    # An action is decided and written with the transition causing it, atomically.
                    records, notifications = self.actions.plan(notifications, now)
                self.store.alert_commit(
                    NAMESPACE,
                    STATE_KEY,
                    self.evaluator.to_dict(),
                    self.entries(notifications),
                    now=now,
                    fence=self._fence(),
                    documents=self.actions.documents(records) if self.actions is not None else (),
                )
            except Exception:
                self.evaluator.load(before)  # nothing was persisted, so nothing happened
                raise
            if self.actions is not None:
                self.actions.committed(records)
        for n in notifications:
            log_event(
                log,
                logging.INFO,
                "alert_" + n.status,
                rule=n.rule,
                severity=n.severity,
                reason=n.reason,
                labels=dict(n.labels),
                value=n.value,
                notification=n.id,
            )
        if self.actions is not None:
            # Also picks up a record a crash left pending: the SES calls are idempotent.
            self.actions.run_pending(now, self.entries, fence=self._fence())
        self.dispatch(now)
        return notifications

    def entries(self, notifications: Sequence[Notification]) -> list[OutboxEntry]:
        """An outbox row for each notification and each sink it routes to."""
        return [
            OutboxEntry(sink.config.name, n.id, n.fingerprint, n.to_dict())
            for n in notifications
            for sink in self.sinks.values()
            if routes(sink.config, n)
        ]

    def dispatch(self, now: float) -> int:
        """Send due outbox rows; prune old finished rows hourly."""
        delivered = self.dispatcher.run_once(now)
        if now - self._last_prune >= 3600:
            self._last_prune = now
            self.store.outbox_prune(now - OUTBOX_RETENTION)
        return delivered

    def refresh_alertmanager(self, now: float) -> None:
        """Re-post every firing alert to Alertmanager sinks so it never times them out."""
        with self._lock:
            firing = self.evaluator.firing_notifications(now)
        for sink in self.sinks.values():
            if not isinstance(sink, AlertmanagerSink):
                continue
            batch = [n for n in firing if routes(sink.config, n)]
            if not batch:
                continue
            result = sink.send_batch(batch, now)
            if not result.ok:
                self.stats.add(self.stats.failures, sink.config.name)
                log_event(
                    log,
                    logging.WARNING,
                    "alertmanager_refresh_failed",
                    sink=sink.config.name,
                    error=result.error,
                )

    # -- status page -----------------------------------------------------------------------------

    def status(self) -> AlertsStatus:
        """Firing alerts and each sink's delivery counts."""
        counts = self.store.outbox_counts()
        delivered, failures, given_up = self.stats.snapshot()
        signals = {rule.name: rule.signal for rule in self.config.rules}
        return AlertsStatus(
            firing=tuple(
                AlertRow(a.rule, a.severity, a.labels, a.value, a.starts_at, signals.get(a.rule, ""))
                for a in self.firing()
            ),
            sinks=tuple(
                SinkRow(
                    name=s.name,
                    type=s.type,
                    pending=counts.get((s.name, "pending"), 0),
                    delivered=delivered.get(s.name, 0),
                    failed_attempts=failures.get(s.name, 0),
                    given_up=given_up.get(s.name, 0),
                )
                for s in self.config.sinks
            ),
            actions=self.actions.status() if self.actions is not None else None,
        )


def providers_of(components: Sequence[object]) -> list[SignalProvider]:
    """The components that report signals."""
    return [c for c in components if isinstance(c, SignalProvider)]


def build_alerts_component(
    config: AlertsConfig,
    store: AlertStore,
    health: SourceHealth,
    clock: Callable[[], float],
    components: Sequence[object],
    *,
    targets: TargetDirectory | None = None,
    fence: Callable[[], Lease | None] = lambda: None,
    actions: ActionRunner | None = None,
) -> AlertsComponent:
    """The alerts component over every signal-providing component plus ``source_down``."""
    providers = [*providers_of(components), SourceDownProvider(health)]
    return AlertsComponent(config, store, providers, clock, targets=targets, fence=fence, actions=actions)


def _always() -> bool:
    return True
