"""Collectors for CloudWatch reputation, SES account state and AWS API usage; they read snapshots only."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon.model import TargetIdentity
from sesmon.sources.account import AccountSnapshot, enforcement_states
from sesmon.sources.aws import ApiCallCounter
from sesmon.sources.cloudwatch import BOUNCE, COMPLAINT, METRICS, CloudWatchSnapshot
from sesmon.sources.discovery import Catalog

_BASE = ["target", "account_id", "region"]


@dataclass(frozen=True, slots=True)
class AwsTargetView:
    """Everything the collectors export for one target, as of the last polls."""

    identity: TargetIdentity
    cloudwatch_enabled: bool
    account_enabled: bool
    cloudwatch: CloudWatchSnapshot | None
    account: AccountSnapshot | None
    catalog: Catalog
    seen_statuses: frozenset[str]
    metrics_requested: int
    expected_operations: frozenset[tuple[str, str]]

    @property
    def labels(self) -> list[str]:
        """Values of the target, account_id and region labels."""
        return [self.identity.name, self.identity.account_id, self.identity.region]


def _gauge(name: str, doc: str, extra: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=[*_BASE, *extra])


class CloudWatchCollector(Collector):
    """CloudWatch ``AWS/SES`` reputation, e.g.::

    sesmon_account_reputation_bounce_ratio{target="prod",account_id="123456789012",region="eu-west-1"} 0.012
    sesmon_account_reputation_complaint_ratio{...} 0.0004
    sesmon_configuration_set_reputation_bounce_ratio{...,configuration_set="marketing"} 0.02
    sesmon_configuration_set_reputation_complaint_ratio{...,configuration_set="marketing"} 0.001
    sesmon_cloudwatch_data_age_seconds{...,metric="Reputation.BounceRate"} 912
    sesmon_cloudwatch_metrics_requested_total{target="prod",account_id="…",region="eu-west-1"} 24
    """

    def __init__(self, views: Callable[[], Sequence[AwsTargetView]], clock: Callable[[], float]) -> None:
        self._views = views
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        account = {
            BOUNCE: _gauge(
                "sesmon_account_reputation_bounce_ratio",
                "CloudWatch AWS/SES Reputation.BounceRate for the account (fraction 0-1, newest point).",
            ),
            COMPLAINT: _gauge(
                "sesmon_account_reputation_complaint_ratio",
                "CloudWatch AWS/SES Reputation.ComplaintRate for the account (fraction 0-1, newest point).",
            ),
        }
        per_set = {
            BOUNCE: _gauge(
                "sesmon_configuration_set_reputation_bounce_ratio",
                "CloudWatch Reputation.BounceRate per configuration set (fraction 0-1, newest datapoint).",
                ["configuration_set"],
            ),
            COMPLAINT: _gauge(
                "sesmon_configuration_set_reputation_complaint_ratio",
                "CloudWatch Reputation.ComplaintRate per configuration set (fraction 0-1, newest datapoint).",
                ["configuration_set"],
            ),
        }
        age = _gauge(
            "sesmon_cloudwatch_data_age_seconds",
            "Seconds since the newest CloudWatch datapoint of the metric (any series of the target).",
            ["metric"],
        )
        requested = CounterMetricFamily(
            "sesmon_cloudwatch_metrics_requested",
            "Metrics requested from GetMetricData, the unit AWS bills it by.",
            labels=_BASE,
        )
        for view in self._views():
            if not view.cloudwatch_enabled:
                continue
            labels = view.labels
            requested.add_metric(labels, float(view.metrics_requested))
            snapshot = view.cloudwatch
            if snapshot is None:
                continue
            for reading in snapshot.readings:
                if reading.value is None:
                    continue
                if reading.configuration_set is None:
                    account[reading.metric].add_metric(labels, reading.value)
                else:
                    per_set[reading.metric].add_metric([*labels, reading.configuration_set], reading.value)
            for metric in METRICS:
                newest = snapshot.newest_timestamp(metric)
                if newest is not None:
                    age.add_metric([*labels, metric], max(0.0, now - newest))
        yield from account.values()
        yield from per_set.values()
        yield age
        yield requested


class AccountCollector(Collector):
    """SES account state from GetAccount and configuration-set options, e.g.::

    sesmon_account_sending_enabled{target="prod",account_id="123456789012",region="eu-west-1"} 1
    sesmon_account_production_access_enabled{...} 1
    sesmon_account_enforcement_status{...,status="HEALTHY"} 1
    sesmon_account_enforcement_status{...,status="PROBATION"} 0
    sesmon_account_enforcement_status{...,status="SHUTDOWN"} 0
    sesmon_send_quota_max_24h{...} 50000
    sesmon_send_quota_sent_last_24h{...} 1234
    sesmon_send_quota_max_rate{...} 14
    sesmon_send_quota_usage_ratio{...} 0.02468
    sesmon_configuration_set_sending_enabled{...,configuration_set="marketing"} 1
    sesmon_configuration_set_reputation_metrics_enabled{...,configuration_set="marketing"} 1
    """

    def __init__(self, views: Callable[[], Sequence[AwsTargetView]]) -> None:
        self._views = views

    def collect(self) -> Iterator[Metric]:
        sending = _gauge("sesmon_account_sending_enabled", "1 if SES sending is enabled for the account.")
        production = _gauge(
            "sesmon_account_production_access_enabled",
            "1 if the account has production access, 0 in the sandbox.",
        )
        status = _gauge(
            "sesmon_account_enforcement_status",
            "SES enforcement status of the account (state set: 1 for the current status).",
            ["status"],
        )
        max_24h = _gauge("sesmon_send_quota_max_24h", "Messages the account may send in 24 hours.")
        sent = _gauge("sesmon_send_quota_sent_last_24h", "Messages sent in the last 24 hours.")
        rate = _gauge("sesmon_send_quota_max_rate", "Messages per second the account may send.")
        usage = _gauge(
            "sesmon_send_quota_usage_ratio", "Sent in the last 24 hours as a fraction of the 24-hour quota."
        )
        set_sending = _gauge(
            "sesmon_configuration_set_sending_enabled",
            "1 if sending is enabled for the configuration set.",
            ["configuration_set"],
        )
        set_reputation = _gauge(
            "sesmon_configuration_set_reputation_metrics_enabled",
            "1 if the configuration set publishes reputation metrics to CloudWatch.",
            ["configuration_set"],
        )
        for view in self._views():
            labels = view.labels
            for info in view.catalog.sets:
                set_sending.add_metric([*labels, info.name], float(info.sending_enabled))
                set_reputation.add_metric([*labels, info.name], float(info.reputation_metrics_enabled))
            snapshot = view.account
            if not view.account_enabled or snapshot is None:
                continue
            sending.add_metric(labels, float(snapshot.sending_enabled))
            production.add_metric(labels, float(snapshot.production_access))
            for name, value in enforcement_states(view.seen_statuses, snapshot.enforcement_status).items():
                status.add_metric([*labels, name], value)
            max_24h.add_metric(labels, snapshot.max_24h)
            sent.add_metric(labels, snapshot.sent_last_24h)
            rate.add_metric(labels, snapshot.max_rate)
            if snapshot.quota_usage is not None:
                usage.add_metric(labels, snapshot.quota_usage)
        yield from (sending, production, status, max_24h, sent, rate, usage, set_sending, set_reputation)


class ApiRequestsCollector(Collector):
    """AWS API requests actually sent (retries included), e.g.::

    sesmon_aws_api_requests_total{target="prod",account_id="…",region="eu-west-1",service="cloudwatch",operation="GetMetricData"} 12
    """  # noqa: E501 - the exposition line is quoted whole

    def __init__(
        self,
        views: Callable[[], Sequence[AwsTargetView]],
        counter: ApiCallCounter,
        identity: Callable[[str], TargetIdentity],
    ) -> None:
        self._views = views
        self._counter = counter
        self._identity = identity

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "sesmon_aws_api_requests",
            "AWS API requests sent, retries included (what AWS bills and throttles).",
            labels=[*_BASE, "service", "operation"],
        )
        counts: dict[tuple[str, str, str], int] = {}
        # Operations the enabled features will call start at zero, so rate() works from the first call.
        for view in self._views():
            for service, operation in view.expected_operations:
                counts[(view.identity.name, service, operation)] = 0
        counts.update(self._counter.by_target())
        for (target, service, operation), value in sorted(counts.items()):
            ident = self._identity(target)
            family.add_metric([target, ident.account_id, ident.region, service, operation], float(value))
        yield family
