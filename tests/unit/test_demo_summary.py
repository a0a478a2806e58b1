"""The demo's live summary line, read from exposition samples as the daemon's registry yields them."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import CollectorRegistry

from sesmon.demo.summary import collect, format_summary, summarise

AWS = {"account_id": "123456789012", "region": "us-east-1"}


class FakeDaemonMetrics:
    """A collector emitting the sesmon series the summary reads."""

    def collect(self) -> Iterator[Metric]:
        window_labels = ["target", "configuration_set", "window"]
        sent = GaugeMetricFamily("sesmon_window_sent_recipients", "", labels=window_labels)
        bounce = GaugeMetricFamily("sesmon_window_bounce_ratio", "", labels=window_labels)
        complaint = GaugeMetricFamily("sesmon_window_complaint_ratio", "", labels=window_labels)
        for name, count, rate in (("marketing", 416, 0.0312), ("transactional", 235, 0.0085)):
            for window, scale in (("1h", 1), ("24h", 10)):
                values = ["demo", name, window]
                sent.add_metric(values, count * scale)
                bounce.add_metric(values, rate / scale)
                complaint.add_metric(values, 0.0)
        firing = GaugeMetricFamily(
            "sesmon_alerts_firing", "", labels=["rule", "severity", "configuration_set"]
        )
        firing.add_metric(["BounceRateHigh", "warning", "marketing"], 1)
        firing.add_metric(["BounceRateHigh", "critical", "transactional"], 0)
        enforcement = GaugeMetricFamily("sesmon_account_enforcement_status", "", labels=[*AWS, "status"])
        enforcement.add_metric([*AWS.values(), "HEALTHY"], 1)
        enforcement.add_metric([*AWS.values(), "PROBATION"], 0)
        up = GaugeMetricFamily("sesmon_source_up", "", labels=["source", "target", *AWS])
        up.add_metric(["sqs", "demo", *AWS.values()], 1)
        up.add_metric(["cloudwatch", "demo", *AWS.values()], 0)
        yield from (sent, bounce, complaint, firing, enforcement, up)


def test_summarise_reads_the_1h_window_alerts_and_account_health() -> None:
    registry = CollectorRegistry()
    registry.register(FakeDaemonMetrics())
    summary = summarise(collect(registry), ["transactional", "marketing"])
    assert list(summary.sets) == ["transactional", "marketing"]
    marketing = summary.sets["marketing"]
    assert (marketing.sent, marketing.bounce, marketing.alerts) == (416, 0.0312, ["BounceRateHigh:warning"])
    assert summary.sets["transactional"].alerts == []
    assert summary.enforcement == "HEALTHY"
    assert summary.sources_down == ["cloudwatch"]


def test_format_summary_is_one_line() -> None:
    registry = CollectorRegistry()
    registry.register(FakeDaemonMetrics())
    line = format_summary(summarise(collect(registry), ["transactional", "marketing"]), elapsed=35.2)
    assert "\n" not in line
    assert line.startswith("t+  35s | transactional: 235 sent, bounce 0.85%")
    assert "marketing: 416 sent, bounce 3.12%, complaint 0.000%, alerts: BounceRateHigh:warning" in line
    assert line.endswith("account HEALTHY, down: cloudwatch")


def test_empty_registry_gives_zeros() -> None:
    summary = summarise([], ["marketing"])
    assert summary.sets["marketing"].sent == 0
    assert summary.enforcement == "?"
