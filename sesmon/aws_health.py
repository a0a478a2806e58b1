"""AWS health: CloudWatch reputation and SES account jobs per target, with their metrics and signals."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from prometheus_client.registry import Collector

from sesmon.component import BaseComponent, Job, target_job
from sesmon.config import Config, TargetConfig
from sesmon.denominators import SendBoard
from sesmon.iam import operations_for
from sesmon.logs import get_logger, log_event
from sesmon.metrics.aws import AccountCollector, ApiRequestsCollector, AwsTargetView, CloudWatchCollector
from sesmon.signals import Observation
from sesmon.sources.account import HEALTHY, KNOWN_ENFORCEMENT_STATUSES, AccountPoller, AccountSnapshot
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.sources.cloudwatch import BOUNCE, COMPLAINT, CloudWatchPoller, CloudWatchSnapshot
from sesmon.sources.discovery import ConfigurationSetDiscovery, RateLimiter
from sesmon.status import AccountRow, AccountsStatus
from sesmon.targets import TargetDirectory
from sesmon.thresholds import levels_for

log = get_logger("sesmon.aws_health")

# Account-level CloudWatch observations carry this configuration_set label, so a rule can select the
# account (configuration_sets: ["(account)"]) apart from individual sets; "*" matches both.
ACCOUNT_LEVEL = "(account)"
# Retry cadence of the STS GetCallerIdentity lookup until it succeeds once.
IDENTITY_RETRY_SECONDS = 60.0

SIGNALS = frozenset(
    {
        "cloudwatch_bounce_rate",
        "cloudwatch_complaint_rate",
        "quota_usage",
        "enforcement_status",
        "account_sending_disabled",
        "configuration_set_sending_disabled",
        "sandbox",
    }
)


@dataclass
class _TargetState:
    """Pollers and newest results of one target."""

    config: TargetConfig
    clients: AwsClients
    discovery: ConfigurationSetDiscovery
    cloudwatch: CloudWatchPoller
    account: AccountPoller
    cw_snapshot: CloudWatchSnapshot | None = None
    account_snapshot: AccountSnapshot | None = None
    seen_statuses: set[str] = field(default_factory=set)
    metrics_requested: int = 0
    account_id_known: bool = False


class AwsHealthComponent(BaseComponent):
    """Per target: an STS identity job, a ``cloudwatch`` job and an ``account`` job (when enabled).

    Jobs of different targets are independent, so one unreachable account or region only marks its own
    sources down; AWS calls are bounded by the clients' timeouts and retry limits.
    """

    name = "aws"

    def __init__(
        self,
        config: Config,
        aws: Mapping[str, AwsClients],
        targets: TargetDirectory,
        api_calls: ApiCallCounter,
        *,
        clock: Callable[[], float] = time.time,
        limiter: Callable[[], RateLimiter] = RateLimiter,
        sends: SendBoard | None = None,
    ) -> None:
        self._config = config
        self._targets = targets
        self._api_calls = api_calls
        self._clock = clock
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._state: dict[str, _TargetState] = {}
        for target in config.targets:
            clients = aws[target.name]
            discovery = ConfigurationSetDiscovery(
                target, clients.lazy("sesv2"), limiter(), stopping=self._stopping
            )
            self._state[target.name] = _TargetState(
                config=target,
                clients=clients,
                discovery=discovery,
                cloudwatch=CloudWatchPoller(
                    target,
                    clients.lazy("cloudwatch"),
                    discovery,
                    on_metrics_requested=self._requested_counter(target.name),
                    sends=sends,
                    send_lookback=max(config.window_seconds.values(), default=0.0),
                ),
                account=AccountPoller(clients.lazy("sesv2")),
            )

    def _requested_counter(self, target: str) -> Callable[[int], None]:
        def add(count: int) -> None:
            with self._lock:
                self._state[target].metrics_requested += count

        return add

    # -- jobs -----------------------------------------------------------------------------------

    def jobs(self) -> Sequence[Job]:
        jobs: list[Job] = []
        for name, state in self._state.items():
            # Not a source of its own: until STS answers, the labels keep the configured guess.
            jobs.append(
                Job(f"aws-identity-{name}", IDENTITY_RETRY_SECONDS, partial(self._learn_account_id, name))
            )
            if state.config.cloudwatch.enabled:
                jobs.append(
                    target_job("cloudwatch", name, state.config.cloudwatch.interval, self._poll_cloudwatch)
                )
            if state.config.account.enabled:
                jobs.append(target_job("account", name, state.config.account.interval, self._poll_account))
        return jobs

    def _learn_account_id(self, name: str, _now: float) -> None:
        state = self._state[name]
        if state.account_id_known:
            return
        try:
            account_id = state.clients.account_id()
        except Exception as exc:  # noqa: BLE001 - retried at the next run; labels keep the guess
            error = type(exc).__name__
            log_event(log, logging.WARNING, "account_id_unavailable", target=name, error=error)
            return
        self._targets.set_account_id(name, account_id)
        state.account_id_known = True

    def _poll_cloudwatch(self, name: str, now: float) -> None:
        state = self._state[name]
        discovery_error = _refresh(state, now)
        snapshot = state.cloudwatch.poll(now)
        with self._lock:
            state.cw_snapshot = snapshot
        if discovery_error is not None:
            # The account-level data is fresh, but per-set coverage may be stale: report it.
            raise discovery_error

    def _poll_account(self, name: str, now: float) -> None:
        state = self._state[name]
        discovery_error = _refresh(state, now)
        snapshot = state.account.poll(now, state.discovery.catalog)
        with self._lock:
            state.account_snapshot = snapshot
            if snapshot.enforcement_status not in KNOWN_ENFORCEMENT_STATUSES:
                state.seen_statuses.add(snapshot.enforcement_status)
        if discovery_error is not None:
            raise discovery_error

    def stop(self, deadline: float) -> None:  # noqa: ARG002 - nothing to drain, only to interrupt
        self._stopping.set()

    def poll_all(self, now: float) -> None:
        """Run every job once, in order, raising the first failure after all ran (tests, benchmarks)."""
        errors: list[Exception] = []
        for job in self.jobs():
            try:
                job.func(now)
            except Exception as exc:  # noqa: BLE001 - collect, keep polling the other targets
                errors.append(exc)
        if errors:
            raise errors[0]

    # -- exposition -----------------------------------------------------------------------------

    def views(self) -> list[AwsTargetView]:
        """What the collectors export, one view per target."""
        with self._lock:
            return [
                AwsTargetView(
                    identity=self._targets.get(name),
                    cloudwatch_enabled=state.config.cloudwatch.enabled,
                    account_enabled=state.config.account.enabled,
                    cloudwatch=state.cw_snapshot,
                    account=state.account_snapshot,
                    catalog=state.discovery.catalog,
                    seen_statuses=frozenset(state.seen_statuses),
                    metrics_requested=state.metrics_requested,
                    expected_operations=frozenset(operations_for(state.config)),
                )
                for name, state in self._state.items()
            ]

    def collectors(self) -> Sequence[Collector]:
        return (
            CloudWatchCollector(self.views, self._clock),
            AccountCollector(self.views),
            ApiRequestsCollector(self.views, self._api_calls, self._targets.get),
        )

    def status(self) -> AccountsStatus:
        """Account state and CloudWatch account reputation per target."""
        rules = self._config.alerts.rules
        rows = []
        for view in self.views():
            account = view.account
            cw = view.cloudwatch
            bounce = cw.account(BOUNCE) if cw else None
            complaint = cw.account(COMPLAINT) if cw else None
            rows.append(
                AccountRow(
                    target=view.identity.name,
                    account_id=view.identity.account_id,
                    region=view.identity.region,
                    enforcement_status=account.enforcement_status if account else None,
                    sandbox=account.sandbox if account else None,
                    sending_enabled=account.sending_enabled if account else None,
                    quota_usage=account.quota_usage if account else None,
                    cloudwatch_bounce_ratio=bounce.value if bounce else None,
                    cloudwatch_complaint_ratio=complaint.value if complaint else None,
                    ok=account is None or (account.enforcement_status == HEALTHY and account.sending_enabled),
                    quota_levels=levels_for(rules, "quota_usage", None, view.identity.name, None),
                    cloudwatch_bounce_levels=levels_for(
                        rules, "cloudwatch_bounce_rate", None, view.identity.name, None
                    ),
                    cloudwatch_complaint_levels=levels_for(
                        rules, "cloudwatch_complaint_rate", None, view.identity.name, None
                    ),
                )
            )
        return AccountsStatus(tuple(rows))

    # -- signals --------------------------------------------------------------------------------

    def provided_signals(self) -> frozenset[str]:
        return SIGNALS

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:  # noqa: ARG002
        out: list[Observation] = []
        for view in self.views():
            target = view.identity.name
            if signal in ("cloudwatch_bounce_rate", "cloudwatch_complaint_rate") and view.cloudwatch:
                metric = BOUNCE if signal == "cloudwatch_bounce_rate" else COMPLAINT
                for reading in view.cloudwatch.readings:
                    if reading.metric != metric or reading.value is None:
                        continue
                    labels = Observation.make_labels(
                        target=target, configuration_set=reading.configuration_set or ACCOUNT_LEVEL
                    )
                    age = f"age={now - reading.timestamp:.0f}s" if reading.timestamp is not None else ""
                    out.append(Observation(signal, labels, reading.value, detail=age))
            elif signal == "configuration_set_sending_disabled":
                for info in view.catalog.sets:
                    labels = Observation.make_labels(target=target, configuration_set=info.name)
                    out.append(Observation(signal, labels, 0.0 if info.sending_enabled else 1.0))
            elif view.account is not None and view.account_enabled:
                observation = _account_observation(signal, target, view.account)
                if observation is not None:
                    out.append(observation)
        return out


def _account_observation(signal: str, target: str, account: AccountSnapshot) -> Observation | None:
    labels = Observation.make_labels(target=target)
    if signal == "quota_usage":
        if account.quota_usage is None:
            return None
        return Observation(
            signal,
            labels,
            account.quota_usage,
            detail=f"sent={account.sent_last_24h:.0f} max={account.max_24h:.0f}",
        )
    if signal == "enforcement_status":
        status = account.enforcement_status
        return Observation(signal, labels, 0.0 if status == HEALTHY else 1.0, detail=f"status={status}")
    if signal == "account_sending_disabled":
        return Observation(signal, labels, 0.0 if account.sending_enabled else 1.0)
    if signal == "sandbox":
        return Observation(signal, labels, 1.0 if account.sandbox else 0.0)
    return None


def _refresh(state: _TargetState, now: float) -> Exception | None:
    """Refresh the configuration-set catalog when stale; return (not raise) its failure."""
    try:
        state.discovery.current(now)
    except Exception as exc:  # noqa: BLE001 - the caller still polls with the cached catalog
        return exc
    return None


def build_aws_component(
    config: Config,
    aws: Mapping[str, AwsClients],
    targets: TargetDirectory,
    api_calls: ApiCallCounter,
    clock: Callable[[], float] = time.time,
    *,
    sends: SendBoard | None = None,
) -> AwsHealthComponent:
    """The component for the daemon (always built: every target needs its account id)."""
    return AwsHealthComponent(config, aws, targets, api_calls, clock=clock, sends=sends)
