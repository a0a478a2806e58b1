"""Identity health per target: identities, event routing and DNS authentication jobs, metrics, signals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.registry import Collector

from sesmon.component import BaseComponent, Job, target_job
from sesmon.config import Config, TargetConfig
from sesmon.dnsauth import DomainPlan, Status, plan_checks
from sesmon.metrics.identity import DnsCheckCollector, IdentityCollector, IdentityTargetView, RoutingCollector
from sesmon.model import EventType
from sesmon.signals import Observation
from sesmon.sources.aws import AwsClients
from sesmon.sources.dns import DnsSource, DomainResult
from sesmon.sources.identities import IdentitiesSource, IdentityInfo, OperationPacer
from sesmon.sources.routing import CHECKED_EVENT_TYPES, RoutingInfo, RoutingSnapshot, RoutingSource
from sesmon.status import (
    DnsRow,
    IdentitiesStatus,
    IdentityRow,
    IdentityTargetStatus,
    RoutingGapRow,
    RoutingStatus,
)
from sesmon.targets import TargetDirectory

SIGNALS = frozenset(
    {"identity_unverified", "dkim_not_successful", "dns_check_failed", "event_type_not_routed"}
)
# The DNS job wakes this often and checks only what is due (new or changed domains, results older than
# dns.interval, inconclusive checks), so new identities are checked soon after the identity poll.
DNS_TICK_SECONDS = 60.0


class Stopped(Exception):  # noqa: N818 - a signal, not an error
    """The daemon is stopping: the refresh is abandoned."""


class ChecksIncompleteError(Exception):
    """Some work of a poll did not complete; what did complete is kept."""


@dataclass
class _TargetState:
    """Sources and newest results of one target."""

    config: TargetConfig
    identities_source: IdentitiesSource
    routing_source: RoutingSource
    dns_source: DnsSource
    identities: tuple[IdentityInfo, ...] | None = None
    routing: RoutingSnapshot | None = None
    dns: dict[str, DomainResult] = field(default_factory=dict)


class IdentityHealthComponent(BaseComponent):
    """Per target with ``identities.enabled``: an ``identities`` job (identities and event routing) and,
    with ``dns.enabled``, a ``dns`` job checking the verified domain identities.

    The DNS job only reads the identities the other job stored, so a resolver that hangs holds up
    nothing but its own job (the daemon runs jobs on a thread pool), and each domain's lookups are
    bounded by ``dns.timeout``.
    """

    name = "identities"

    def __init__(
        self,
        config: Config,
        aws: Mapping[str, AwsClients],
        targets: TargetDirectory,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._config = config
        self._targets = targets
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._state: dict[str, _TargetState] = {}
        for target in config.targets:
            if not target.identities.enabled or target.name not in aws:
                continue
            sesv2 = aws[target.name].lazy("sesv2")
            pacer = OperationPacer(monotonic=monotonic, sleep=sleep or self._sleep)
            self._state[target.name] = _TargetState(
                config=target,
                identities_source=IdentitiesSource(sesv2, pacer),
                routing_source=RoutingSource(target, sesv2, pacer),
                dns_source=DnsSource(config.dns, target.region, monotonic=monotonic),
            )

    def _sleep(self, seconds: float) -> None:
        # Pacing waits end early when the daemon stops, so a long refresh never delays shutdown.
        if self._stop.wait(seconds):
            raise Stopped

    # -- jobs -----------------------------------------------------------------------------------

    def jobs(self) -> Sequence[Job]:
        jobs: list[Job] = []
        dns_every = min(self._config.dns.interval, DNS_TICK_SECONDS)
        for name, state in self._state.items():
            jobs.append(
                target_job("identities", name, state.config.identities.interval, self._identities_job)
            )
            if self._config.dns.enabled:
                jobs.append(target_job("dns", name, dns_every, self.poll_dns))
        return jobs

    def _identities_job(self, name: str, _now: float) -> None:
        self.poll_identities(name)

    def poll_identities(self, name: str) -> None:
        """Refresh event routing, then identities; each result is kept even if the other fails."""
        state = self._state[name]
        errors: list[str] = []
        # Routing first: it is a handful of calls, while identities take one paced call each.
        try:
            routing = state.routing_source.poll()
        except Stopped:
            raise
        except Exception as exc:  # noqa: BLE001 - reported below, after the identities are tried
            errors.append(f"event routing: {type(exc).__name__}: {exc}")
        else:
            with self._lock:
                state.routing = routing
        identities = state.identities_source.poll()
        with self._lock:
            state.identities = identities
        if errors:
            raise ChecksIncompleteError("; ".join(errors))

    def dns_plans(self, name: str) -> list[DomainPlan] | None:
        """What the DNS job checks for ``name``: its verified domain identities (None before the
        first identity poll)."""
        with self._lock:
            identities = self._state[name].identities
        if identities is None:
            return None
        return plan_checks(i.domain_identity() for i in identities if i.is_domain and i.verified)

    def poll_dns(self, name: str, now: float) -> None:
        """Check the due domains of ``name``; raises when some lookups gave no answer."""
        plans = self.dns_plans(name)
        if plans is None:
            return  # nothing known to check until the identities job has run once
        state = self._state[name]
        results = state.dns_source.poll(plans, now)
        with self._lock:
            state.dns = results
        inconclusive = [r for domain in results.values() for r in domain.inconclusive]
        if inconclusive:
            first = inconclusive[0]
            raise ChecksIncompleteError(
                f"{len(inconclusive)} DNS checks inconclusive; {first.domain} {first.check}: {first.reason}"
            )

    def stop(self, deadline: float) -> None:  # noqa: ARG002 - part of the interface
        self._stop.set()

    # -- exposition -----------------------------------------------------------------------------

    def views(self) -> list[IdentityTargetView]:
        """What the collectors export, one view per target."""
        with self._lock:
            return [
                IdentityTargetView(
                    identity=self._targets.get(name),
                    identities=state.identities,
                    routing=state.routing,
                    dns=tuple(state.dns[d] for d in sorted(state.dns)),
                )
                for name, state in self._state.items()
            ]

    def collectors(self) -> Sequence[Collector]:
        return (IdentityCollector(self.views), RoutingCollector(self.views), DnsCheckCollector(self.views))

    def status(self) -> IdentitiesStatus | None:
        """Identities, DNS checks and event-routing gaps per target."""
        targets = tuple(
            IdentityTargetStatus(
                target=view.identity.name,
                identities=None
                if view.identities is None
                else tuple(_identity_row(i) for i in view.identities),
                dns=tuple(row for domain in view.dns for row in _dns_rows(domain)),
                routing=_routing_status(view.routing),
            )
            for view in self.views()
        )
        return IdentitiesStatus(targets) if targets else None

    # -- signals --------------------------------------------------------------------------------

    def provided_signals(self) -> frozenset[str]:
        return SIGNALS

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:  # noqa: ARG002
        out: list[Observation] = []
        for view in self.views():
            target = view.identity.name
            if signal in ("identity_unverified", "dkim_not_successful"):
                for ident in view.identities or ():
                    labels = Observation.make_labels(target=target, identity=ident.name)
                    if signal == "identity_unverified":
                        status = ident.verification_status or "unknown"
                        out.append(
                            Observation(signal, labels, _one(not ident.verified), detail=f"status={status}")
                        )
                    else:
                        failing = ident.dkim_status != "SUCCESS"
                        out.append(
                            Observation(signal, labels, _one(failing), detail=f"status={ident.dkim_status}")
                        )
            elif signal == "dns_check_failed":
                for domain in view.dns:
                    for result in domain.settled:
                        labels = Observation.make_labels(
                            target=target, domain=result.domain, check=result.check.value
                        )
                        failed = result.status is Status.FAIL
                        out.append(
                            Observation(signal, labels, _one(failed), detail=result.reason if failed else "")
                        )
            elif signal == "event_type_not_routed":
                for info in view.routing.sets if view.routing else ():
                    for event_type in CHECKED_EVENT_TYPES.values():
                        labels = Observation.make_labels(
                            target=target,
                            configuration_set=info.configuration_set,
                            event_type=event_type.value,
                        )
                        missing = event_type not in info.routed
                        detail = _routing_detail(info, event_type) if missing else ""
                        out.append(Observation(signal, labels, _one(missing), detail=detail))
        return out


def _one(condition: bool) -> float:
    return 1.0 if condition else 0.0


def _routing_detail(info: RoutingInfo, event_type: EventType) -> str:
    if event_type in info.elsewhere:
        return "published only to destinations that cannot reach the queue (not SNS or EventBridge)"
    return "no enabled destination publishes it" if info.destinations else "no event destinations"


def _identity_row(i: IdentityInfo) -> IdentityRow:
    return IdentityRow(
        name=i.name,
        identity_type=i.identity_type,
        verified=i.verified,
        verification_status=i.verification_status,
        dkim_status=i.dkim_status,
        dkim_signing_enabled=i.dkim_signing_enabled,
        mail_from_domain=i.mail_from_domain,
        mail_from_status=i.mail_from_status,
        sending_enabled=i.sending_enabled,
    )


def _dns_rows(domain: DomainResult) -> list[DnsRow]:
    # An inconclusive check (DNS did not answer) keeps showing the last conclusive answer next to it.
    settled = {r.check: r for r in domain.settled}
    rows = []
    for result in domain.results:
        if result.conclusive:
            rows.append(DnsRow(result.domain, result.check.value, result.status.value, result.reason))
            continue
        last = settled.get(result.check)
        rows.append(
            DnsRow(
                result.domain,
                result.check.value,
                "unknown",
                result.reason,
                last_result=last.status.value if last else None,
                last_reason=last.reason if last else None,
            )
        )
    return rows


def _routing_status(routing: RoutingSnapshot | None) -> RoutingStatus | None:
    if routing is None:
        return None
    gaps = tuple(
        RoutingGapRow(info.configuration_set, event_type.value, _routing_detail(info, event_type))
        for info in routing.sets
        for event_type in info.missing
    )
    return RoutingStatus(sets_checked=len(routing.sets), dropped=routing.dropped, gaps=gaps)


def build_identity_component(
    config: Config, aws: Mapping[str, AwsClients], targets: TargetDirectory
) -> IdentityHealthComponent | None:
    """The component for the daemon, when some target has ``identities.enabled``."""
    if not any(t.identities.enabled for t in config.targets):
        return None
    return IdentityHealthComponent(config, aws, targets)
