"""Collector for alerting: firing alerts, notification deliveries and failures, outbox backlog."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon import globs
from sesmon.alerts.dispatcher import DeliveryStats
from sesmon.config import AlertsConfig
from sesmon.rules import FiringAlert
from sesmon.signals import RATE_SIGNALS
from sesmon.targets import TargetDirectory

# (rule, severity, target, configuration_set); account_id and region are looked up at collect time,
# because STS confirms a target's account only after start.
_Key = tuple[str, str, str, str]


class AlertsCollector(Collector):
    """Emits, e.g.::

    sesmon_alerts_firing{rule="BounceRateHigh",severity="warning",target="prod",
                         account_id="123456789012",region="us-east-1",configuration_set="marketing"} 1
    sesmon_notifications_total{sink="ops-webhook"} 3
    sesmon_notification_failures_total{sink="ops-webhook"} 1
    sesmon_notifications_given_up_total{sink="ops-webhook"} 0
    sesmon_outbox_pending{sink="ops-webhook"} 0

    The target labels tell two accounts with the same set name apart. Every configured (rule,
    severity) of every target the rule watches (configuration_set="") and every sink is
    pre-initialised at 0; a series seen firing once keeps reporting 0 after it resolves.
    """

    def __init__(
        self,
        config: AlertsConfig,
        firing: Callable[[], Sequence[FiringAlert]],
        stats: DeliveryStats,
        outbox_counts: Callable[[], dict[tuple[str, str], int]],
        targets: TargetDirectory,
    ) -> None:
        self._firing = firing
        self._stats = stats
        self._outbox_counts = outbox_counts
        self._targets = targets
        self._sinks = [s.name for s in config.sinks]
        self._known: set[_Key] = set()
        names = [t.name for t in targets.all()]
        for rule in config.rules:
            if rule.signal in RATE_SIGNALS:
                severities = [
                    s for s, t in (("warning", rule.warning), ("critical", rule.critical)) if t is not None
                ]
            else:
                severities = [rule.severity]
            watched = [n for n in names if globs.matches_any(n, rule.targets)]
            self._known.update((rule.name, sev, target, "") for sev in severities for target in watched)

    def collect(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "sesmon_alerts_firing",
            "Alerts currently firing, by rule, severity, target and configuration set.",
            labels=["rule", "severity", "target", "account_id", "region", "configuration_set"],
        )
        counts: dict[_Key, int] = dict.fromkeys(self._known, 0)
        for alert in self._firing():
            labels = dict(alert.labels)
            key = (alert.rule, alert.severity, labels.get("target", ""), labels.get("configuration_set", ""))
            counts[key] = counts.get(key, 0) + 1
        self._known.update(counts)
        for (rule, severity, target, cs), value in sorted(counts.items()):
            ident = self._targets.get(target) if target else None
            account_id, region = (ident.account_id, ident.region) if ident else ("", "")
            firing.add_metric([rule, severity, target, account_id, region, cs], value)
        yield firing

        delivered, failures, given_up = self._stats.snapshot()
        sinks = sorted(set(self._sinks) | set(delivered) | set(failures) | set(given_up))
        for name, help_text, values in (
            ("sesmon_notifications", "Notifications acknowledged by a sink.", delivered),
            ("sesmon_notification_failures", "Failed notification attempts (each retry counts).", failures),
            (
                "sesmon_notifications_given_up",
                "Notifications abandoned (permanent failure or too old).",
                given_up,
            ),
        ):
            family = CounterMetricFamily(name, help_text, labels=["sink"])
            for sink in sinks:
                family.add_metric([sink], values.get(sink, 0))
            yield family

        pending = GaugeMetricFamily(
            "sesmon_outbox_pending", "Notifications waiting to be sent.", labels=["sink"]
        )
        stored = self._outbox_counts()
        for sink in sorted(set(self._sinks) | {s for s, _ in stored}):
            pending.add_metric([sink], stored.get((sink, "pending"), 0))
        yield pending
