"""Collector for alerting: firing alerts, notification deliveries and failures, outbox backlog."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon.alerts.dispatcher import DeliveryStats
from sesmon.config import AlertsConfig
from sesmon.rules import FiringAlert
from sesmon.signals import RATE_SIGNALS


class AlertsCollector(Collector):
    """Emits, e.g.::

    sesmon_alerts_firing{rule="BounceRateHigh",severity="warning",configuration_set="marketing"} 1
    sesmon_notifications_total{sink="ops-webhook"} 3
    sesmon_notification_failures_total{sink="ops-webhook"} 1
    sesmon_notifications_given_up_total{sink="ops-webhook"} 0
    sesmon_outbox_pending{sink="ops-webhook"} 0

    Every configured (rule, severity) (configuration_set="") and every sink is pre-initialised at 0;
    a (rule, severity, configuration_set) seen firing once keeps reporting 0 after it resolves.
    """

    def __init__(
        self,
        config: AlertsConfig,
        firing: Callable[[], Sequence[FiringAlert]],
        stats: DeliveryStats,
        outbox_counts: Callable[[], dict[tuple[str, str], int]],
    ) -> None:
        self._firing = firing
        self._stats = stats
        self._outbox_counts = outbox_counts
        self._sinks = [s.name for s in config.sinks]
        self._known: set[tuple[str, str, str]] = set()
        for rule in config.rules:
            if rule.signal in RATE_SIGNALS:
                severities = [
                    s for s, t in (("warning", rule.warning), ("critical", rule.critical)) if t is not None
                ]
            else:
                severities = [rule.severity]
            self._known.update((rule.name, severity, "") for severity in severities)

    def collect(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "sesmon_alerts_firing",
            "Alerts currently firing, by rule, severity and configuration set.",
            labels=["rule", "severity", "configuration_set"],
        )
        counts: dict[tuple[str, str, str], int] = dict.fromkeys(self._known, 0)
        for alert in self._firing():
            key = (alert.rule, alert.severity, dict(alert.labels).get("configuration_set", ""))
            counts[key] = counts.get(key, 0) + 1
        self._known.update(counts)
        for key, value in sorted(counts.items()):
            firing.add_metric(list(key), value)
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
