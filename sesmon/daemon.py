"""Composition root: builds every component from the Config, schedules jobs, serves HTTP, shuts down."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client.registry import Collector

from sesmon import __version__, redact
from sesmon.actions.runner import ActionRunner
from sesmon.actions.ses import SesActuator
from sesmon.alerts.component import AlertsComponent, build_alerts_component
from sesmon.aws_health import build_aws_component
from sesmon.canary import build_canary
from sesmon.canary_probes import CanaryProbes
from sesmon.component import ChangeNotifier, Component, Job
from sesmon.config import Config
from sesmon.denominators import SendBoard
from sesmon.fleet import LeaderCollector, LeaderOnly, Leadership, ReplicaLabelled, replica_name
from sesmon.health import Heartbeats, SourceHealth
from sesmon.identity_health import build_identity_component
from sesmon.ingest import build_ingest
from sesmon.logs import get_logger, log_event
from sesmon.metrics import build_registry
from sesmon.metrics.exposition import Exposition, ExpositionCollector
from sesmon.metrics.self_metrics import BuildInfoCollector, SourceHealthCollector
from sesmon.metrics.state import StateCollector
from sesmon.servers import ServerHandle
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.state.factory import open_state
from sesmon.state.monitor import StateSource
from sesmon.state.ports import StateBackend
from sesmon.status import SourceRow, StatusReport
from sesmon.targets import TargetDirectory
from sesmon.web import Probes, make_app, start_server

log = get_logger("sesmon.daemon")
# How often the main thread looks for a signal another thread received (see run_until_signal).
SIGNAL_POLL_SECONDS = 0.2
# The scheduler's heartbeat: a job on an executor of its own, so that slow AWS polls filling the
# job pool never delay it; it stops beating only when the scheduler itself stopped dispatching.
SCHEDULER_BEAT_SECONDS = 5.0
SCHEDULER_STALL_SECONDS = 60.0
SCHEDULER = "scheduler"

Clock = Callable[[], float]


@dataclass
class Context:
    """What components are built from: config, clock, state and the shared health records."""

    config: Config
    clock: Clock
    store: StateBackend
    health: SourceHealth
    targets: TargetDirectory
    # Target name → that target's boto3 clients; one counter of AWS requests shared by every target.
    aws: dict[str, AwsClients] = field(default_factory=dict)
    api_calls: ApiCallCounter = field(default_factory=ApiCallCounter)
    # Where the CloudWatch poller hands ingestion the Send denominators of sets without Send events.
    sends: SendBoard = field(default_factory=SendBoard)
    # Who leads the fleet; None outside the daemon (tests building components alone).
    leadership: Leadership | None = None
    heartbeats: Heartbeats = field(default_factory=Heartbeats)


def build_components(ctx: Context) -> list[Component]:
    """Every capability the config enables, in start order."""
    components: list[Component] = []
    components.append(
        build_aws_component(ctx.config, ctx.aws, ctx.targets, ctx.api_calls, ctx.clock, sends=ctx.sends)
    )
    ingest = build_ingest(
        ctx.config,
        ctx.store,
        health=ctx.health,
        targets=ctx.targets,
        clock=ctx.clock,
        aws=ctx.aws,
        sends=ctx.sends,
        heartbeats=ctx.heartbeats,
    )
    if ingest is not None:
        components.append(ingest)
    probes = CanaryProbes()
    sesv2 = {name: clients.lazy("sesv2") for name, clients in ctx.aws.items()}
    canary = build_canary(ctx.config, sesv2, ctx.targets, probes)
    if canary is not None and ingest is not None:
        for name in canary.canaries:
            ingest.ingests[name].canary = probes  # ingestion reports the probes' events
        components.append(canary)
    identity = build_identity_component(ctx.config, ctx.aws, ctx.targets)
    if identity is not None:
        components.append(identity)
    actuator = SesActuator(sesv2)
    actions = ActionRunner(ctx.config.alerts, ctx.store, actuator)
    # Alerts stay last: they read every component that is a SignalProvider.
    fence = ctx.leadership.fence if ctx.leadership is not None else (lambda: None)
    alerts = build_alerts_component(
        ctx.config.alerts,
        ctx.store,
        ctx.health,
        ctx.clock,
        components,
        targets=ctx.targets,
        fence=fence,
        actions=actions,
    )
    components.append(alerts)
    return components


class Daemon:
    """The running sesmon process: components, scheduler and HTTP server."""

    def __init__(
        self,
        config: Config,
        clock: Clock = time.time,
        components: Sequence[Component] | None = None,
        drain_seconds: float = 20.0,
        heartbeats: Heartbeats | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.drain_seconds = drain_seconds
        self.health = SourceHealth()
        self.heartbeats = heartbeats or Heartbeats()
        self.targets = TargetDirectory(config.targets)
        self._exit_code = 0
        self._stopping = threading.Event()
        self.state_source = StateSource(self.health, clock, on_lost=self._state_lost)
        self.store = open_state(config.state, self.state_source, clock)
        self.replica = replica_name(config.state.replica)
        self.leadership = Leadership(
            self.store, self.replica, config.state.lease_ttl, clock, shared=self.store.shared
        )
        self.api_calls = ApiCallCounter()
        self.context = Context(
            config,
            clock,
            self.store,
            self.health,
            self.targets,
            aws={t.name: AwsClients(t, self.api_calls) for t in config.targets},
            api_calls=self.api_calls,
            leadership=self.leadership,
            heartbeats=self.heartbeats,
        )
        self.components = list(components) if components is not None else build_components(self.context)
        own: list[Collector] = [
            BuildInfoCollector(),
            SourceHealthCollector(self.health, self.targets),
            StateCollector(self.state_source),
        ]
        derived = [c for comp in self.components for c in comp.collectors()]
        if self.store.shared:
            # A fleet: sesmon's own series per replica; the SES-derived ones (shared totals) from the
            # leader alone, so sum() over replicas counts them once (docs/ARCHITECTURE.md#fleet).
            own = [*(ReplicaLabelled(c, self.replica) for c in own), LeaderCollector(self.leadership)]
            derived = [LeaderOnly(c, self.leadership) for c in derived]
        self.registry = build_registry([*own, *derived], runtime=True)
        # /metrics is rendered in the background when data changed, never per scrape.
        self.exposition = Exposition(self.registry)
        self.registry.register(ExpositionCollector(lambda: self.exposition))
        # What a committed batch changes is seen at once: the renderer and the rules that read it.
        alerts = [c for c in self.components if isinstance(c, AlertsComponent)]
        for comp in self.components:
            if isinstance(comp, ChangeNotifier):
                comp.on_change(self.exposition.changed)
                for alert in alerts:
                    comp.on_change(alert.poke)
        for alert in alerts:
            alert.is_leader = self.leadership.is_leader
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=8), SCHEDULER: ThreadPoolExecutor(1)},
            job_defaults={"max_instances": 1, "coalesce": True},
            timezone="UTC",
        )
        self._shut_down = False
        self._state_loaded = False
        self._server: ServerHandle | None = None
        self._signals = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the HTTP port, then start components, the scheduler and the jobs.

        The port comes first: a busy port fails the start before any source has made an AWS call.
        """
        probes = Probes(alive=self.alive, pending=self.pending, status=self.status, wedged=self.wedged)
        server = self.config.server
        try:
            self._server = start_server(server.host, server.port, make_app(self.exposition, probes), server)
        except OSError:
            self.store.close()
            raise
        self.exposition.start()
        shared = self.store.shared
        for comp in self.components:
            for job in comp.jobs():
                # In a fleet a follower never runs the leader's polls: readiness must not wait on them.
                if job.source and job.target and (job.every_replica or not shared):
                    self.health.expect(job.source, job.target)
        for comp in self.components:
            comp.start()
        if shared:
            for comp in self.components:
                self.leadership.on_gain(comp.became_leader)
            self.leadership.on_gain(self._expect_leader_sources)
        try:
            self.leadership.renew(self.clock())
        except Exception as exc:  # noqa: BLE001 - the lease job retries; ingestion goes on meanwhile
            error = redact.redact(f"{type(exc).__name__}: {exc}")[:500]
            log_event(log, logging.WARNING, "lease_failed", error=error)
        self._state_loaded = True
        self.heartbeats.register(SCHEDULER, SCHEDULER_STALL_SECONDS)
        self.scheduler.start()
        self.scheduler.add_job(
            self.heartbeats.beat,
            "interval",
            args=(SCHEDULER,),
            seconds=SCHEDULER_BEAT_SECONDS,
            id=SCHEDULER,
            name=SCHEDULER,
            executor=SCHEDULER,
            misfire_grace_time=int(SCHEDULER_STALL_SECONDS),
        )
        now = time.time()
        jobs = [job for comp in self.components for job in comp.jobs()]
        if shared:
            renew = self.leadership.renew
            jobs.append(Job("fleet-lease", self.leadership.renew_interval, renew, every_replica=True))
        for job in jobs:
            self.scheduler.add_job(
                self._runner(job),
                "interval",
                seconds=job.interval,
                id=job.name,
                name=job.name,
                # Not None for a job that waits its first interval: APScheduler adds such a job
                # paused, and it would never run.
                next_run_time=_utc(now if job.run_at_start else now + job.interval),
                misfire_grace_time=max(1, int(job.interval)),
            )
        log_event(
            log,
            logging.INFO,
            "started",
            listen=f"{server.host}:{self.port}",
            targets=[t.name for t in self.config.targets],
            components=[c.name for c in self.components],
        )

    @property
    def port(self) -> int:
        """The HTTP port actually bound."""
        return self._server.port if self._server else 0

    def alive(self) -> bool:
        """Liveness: the scheduler runs and no loop of sesmon's own is stalled; never depends on AWS."""
        return bool(self.scheduler.running) and not self._stopping.is_set() and not self.wedged()

    def wedged(self) -> list[str]:
        """sesmon's own loops (receivers, the scheduler) that made no progress for too long."""
        return self.heartbeats.stalled()

    def pending(self) -> list[str]:
        """What readiness still waits for: state, and each source that has not succeeded once."""
        waiting = [] if self._state_loaded else ["state (not loaded yet)"]
        return waiting + self.health.pending()

    def status(self) -> StatusReport:
        """The status page as data: readiness, every source, then each component's section."""
        sources = tuple(
            SourceRow(
                source=s.source,
                target=s.target,
                up=s.up,
                last_error=s.last_error,
                last_success=s.last_success,
                consecutive_failures=s.consecutive_failures,
            )
            for s in self.health.all()
        )
        sections = [
            (comp.name, section) for comp in self.components if (section := comp.status()) is not None
        ]
        return StatusReport(
            __version__, tuple(self.pending()), sources, tuple(sections), taken_at=self.clock()
        )

    def _expect_leader_sources(self, now: float) -> None:  # noqa: ARG002 - an on_gain callback
        for comp in self.components:
            for job in comp.jobs():
                if job.source and job.target and not job.every_replica:
                    self.health.expect(job.source, job.target)

    def _runner(self, job: Job) -> Callable[[], None]:
        def run() -> None:
            if self._stopping.is_set():
                return
            if not job.every_replica and not self.leadership.is_leader():
                return  # the leader's work; this replica follows
            started = time.monotonic()
            try:
                job.func(self.clock())
            except Exception as exc:  # noqa: BLE001 - a failing job must never kill the scheduler
                error = redact.redact(f"{type(exc).__name__}: {exc}")[:500]
                log_event(log, logging.WARNING, "job_failed", job=job.name, error=error)
                if job.source and job.target:
                    self.health.failure(
                        job.source, job.target, self.clock(), time.monotonic() - started, error
                    )
            else:
                if job.source and job.target:
                    self.health.success(job.source, job.target, self.clock(), time.monotonic() - started)

        return run

    def install_signal_handlers(self) -> None:
        """Route SIGTERM/SIGINT to a graceful stop; call before :meth:`start` so none is missed."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def run_until_signal(self) -> int:
        """Block until SIGTERM/SIGINT, then shut down gracefully; a second signal forces exit."""
        # Wait in short slices. The kernel may hand a signal to any thread; Python then only flags
        # it, and the main thread runs the handler when it next runs Python code, which a wait
        # without a timeout would put off for good (seen: a SIGINT that never stopped the daemon).
        while not self._stopping.wait(SIGNAL_POLL_SECONDS):
            pass
        return self.shutdown()

    def request_stop(self) -> None:
        """Ask the daemon to stop (same as a first signal)."""
        self._stopping.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            log_event(log, logging.WARNING, "forced_exit", signal=signal.Signals(signum).name)
            os._exit(1)
        log_event(log, logging.INFO, "stopping", signal=signal.Signals(signum).name)
        self._stopping.set()

    def shutdown(self) -> int:
        """Stop new work, drain in-flight jobs before the deadline, flush state; return the exit code.

        Idempotent: a second call returns at once.
        """
        if self._shut_down:
            return self._exit_code
        self._shut_down = True
        self._stopping.set()
        deadline = time.monotonic() + self.drain_seconds
        if self.scheduler.running:
            self.scheduler.pause()
            drained = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
            drained.start()
            drained.join(timeout=max(0.0, deadline - time.monotonic()))
        for comp in reversed(self.components):
            try:
                comp.stop(deadline)
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                log_event(log, logging.ERROR, "stop_failed", component=comp.name, error=str(exc))
        if self._server is not None:
            self._server.close()
        self.exposition.close()
        try:
            self.leadership.release()
        except Exception as exc:  # noqa: BLE001 - the lease then simply expires
            log_event(log, logging.WARNING, "lease_release_failed", error=redact.redact(str(exc)))
        self.store.close()
        log_event(log, logging.INFO, "stopped", exit_code=self._exit_code)
        return self._exit_code

    def _state_lost(self, _problem: str) -> None:
        # Called from the writing thread: counting already stopped (every write raises); stop the rest
        # and exit 1, so the supervisor restarts sesmon on a fresh file.
        self._exit_code = 1
        self._stopping.set()


def _utc(timestamp: float) -> object:
    from datetime import UTC, datetime  # noqa: PLC0415 - APScheduler wants an aware datetime here

    return datetime.fromtimestamp(timestamp, tz=UTC)
