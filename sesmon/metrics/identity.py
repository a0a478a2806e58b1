"""Collectors for SES identities, event routing and DNS authentication; they read snapshots only."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon.dnsauth import DMARC_POLICIES, Check, Status
from sesmon.model import TargetIdentity
from sesmon.sources.dns import DomainResult
from sesmon.sources.identities import DKIM_STATUSES, MAIL_FROM_STATUSES, UNKNOWN_STATUS, IdentityInfo
from sesmon.sources.routing import CHECKED_EVENT_TYPES, RoutingSnapshot

_BASE = ["target", "account_id", "region"]


@dataclass(frozen=True, slots=True)
class IdentityTargetView:
    """What the collectors export for one target, as of the last polls (None: not polled yet)."""

    identity: TargetIdentity
    identities: tuple[IdentityInfo, ...] | None
    routing: RoutingSnapshot | None
    dns: tuple[DomainResult, ...]

    @property
    def labels(self) -> list[str]:
        """Values of the target, account_id and region labels."""
        return [self.identity.name, self.identity.account_id, self.identity.region]


Views = Callable[[], Sequence[IdentityTargetView]]


def _gauge(name: str, doc: str, extra: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=[*_BASE, *extra])


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


class IdentityCollector(Collector):
    """SES identity state; the status gauges are state sets (one series per state, the current one 1).
    Every series carries ``target``, ``account_id`` and ``region`` (shown as …)::

    sesmon_identity_verified{…,identity="example.com",identity_type="domain"} 1
    sesmon_identity_sending_enabled{…,identity="example.com",identity_type="domain"} 1
    sesmon_identity_dkim_status{…,identity="example.com",status="SUCCESS"} 1
    sesmon_identity_dkim_status{…,identity="example.com",status="PENDING"} 0
    sesmon_identity_mail_from_status{…,identity="example.com",status="SUCCESS"} 1
    """

    def __init__(self, views: Views) -> None:
        self._views = views

    def collect(self) -> Iterator[Metric]:
        verified = _gauge(
            "sesmon_identity_verified",
            "1 if SES considers the identity verified for sending, else 0.",
            ["identity", "identity_type"],
        )
        sending = _gauge(
            "sesmon_identity_sending_enabled",
            "1 if sending from the identity is enabled, else 0.",
            ["identity", "identity_type"],
        )
        dkim = _gauge(
            "sesmon_identity_dkim_status",
            "DKIM status of the identity as a state set (1 for the current status).",
            ["identity", "status"],
        )
        mail_from = _gauge(
            "sesmon_identity_mail_from_status",
            "Custom MAIL FROM domain status as a state set; identities without one have no series.",
            ["identity", "status"],
        )
        for view in self._views():
            for ident in view.identities or ():
                kind = [*view.labels, ident.name, ident.identity_type]
                verified.add_metric(kind, _flag(ident.verified))
                sending.add_metric(kind, _flag(ident.sending_enabled))
                for status in (*DKIM_STATUSES, UNKNOWN_STATUS):
                    dkim.add_metric([*view.labels, ident.name, status], _flag(ident.dkim_status == status))
                if ident.mail_from_status is not None:
                    for status in (*MAIL_FROM_STATUSES, UNKNOWN_STATUS):
                        mail_from.add_metric(
                            [*view.labels, ident.name, status], _flag(ident.mail_from_status == status)
                        )
        yield verified
        yield sending
        yield dkim
        yield mail_from


class RoutingCollector(Collector):
    """Whether each checked event type of each configuration set reaches an SNS or EventBridge
    destination (the way to sesmon's queue)::

    sesmon_configuration_set_event_type_routed{…,configuration_set="marketing",event_type="bounce"} 1
    sesmon_configuration_set_event_type_routed{…,configuration_set="marketing",event_type="delivery_delay"} 0
    """

    def __init__(self, views: Views) -> None:
        self._views = views

    def collect(self) -> Iterator[Metric]:
        routed = _gauge(
            "sesmon_configuration_set_event_type_routed",
            "1 if the event type is published to an enabled SNS or EventBridge destination, else 0.",
            ["configuration_set", "event_type"],
        )
        for view in self._views():
            for info in view.routing.sets if view.routing else ():
                for event_type in CHECKED_EVENT_TYPES.values():
                    routed.add_metric(
                        [*view.labels, info.configuration_set, event_type.value],
                        _flag(event_type in info.routed),
                    )
        yield routed


class DnsCheckCollector(Collector):
    """The last conclusive DNS authentication result of each domain, and its DMARC policy as a state set::

    sesmon_dns_check_ok{…,domain="example.com",check="spf"} 1
    sesmon_dns_check_ok{…,domain="example.com",check="dkim"} 0
    sesmon_dns_check_ok{…,domain="bounce.example.com",check="mail_from_mx"} 1
    sesmon_dmarc_policy{…,domain="example.com",policy="reject"} 1
    sesmon_dmarc_policy{…,domain="example.com",policy="none"} 0
    """

    def __init__(self, views: Views) -> None:
        self._views = views

    def collect(self) -> Iterator[Metric]:
        ok = _gauge(
            "sesmon_dns_check_ok",
            "1 if the DNS authentication check passed, else 0 (last conclusive result).",
            ["domain", "check"],
        )
        policy = _gauge(
            "sesmon_dmarc_policy",
            "DMARC policy that applies to the domain as a state set; all 0 without a valid record.",
            ["domain", "policy"],
        )
        for view in self._views():
            for domain in view.dns:
                for result in domain.settled:
                    ok.add_metric(
                        [*view.labels, result.domain, result.check.value], _flag(result.status is Status.OK)
                    )
                    if result.check is Check.DMARC:
                        for name in DMARC_POLICIES:
                            policy.add_metric(
                                [*view.labels, result.domain, name], _flag(result.policy == name)
                            )
        yield ok
        yield policy
