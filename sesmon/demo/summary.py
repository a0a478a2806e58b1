"""The demo's one-line live summary, read from the daemon's own metrics registry (not from the simulator)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector


@dataclass
class SetSummary:
    """What sesmon currently reports for one configuration set."""

    sent: float = 0.0
    bounce: float = 0.0
    complaint: float = 0.0
    alerts: list[str] = field(default_factory=list)


@dataclass
class Summary:
    """Per configuration set figures plus account health."""

    sets: dict[str, SetSummary]
    enforcement: str = "?"
    sources_down: list[str] = field(default_factory=list)


def summarise(metrics: Iterable[Metric], sets: Sequence[str], window: str = "1h") -> Summary:
    """Fold exposition samples into a :class:`Summary` of ``sets`` over ``window``."""
    summary = Summary({name: SetSummary() for name in sets})
    for metric in metrics:
        for sample in metric.samples:
            labels = sample.labels
            name = labels.get("configuration_set", "")
            entry = summary.sets.get(name)
            if sample.name == "sesmon_account_enforcement_status" and sample.value == 1:
                summary.enforcement = labels.get("status", "?")
            elif sample.name == "sesmon_source_up" and sample.value == 0:
                summary.sources_down.append(labels.get("source", "?"))
            elif entry is None:
                continue
            elif sample.name == "sesmon_alerts_firing" and sample.value > 0:
                entry.alerts.append(f"{labels.get('rule', '?')}:{labels.get('severity', '?')}")
            elif labels.get("window") != window:
                continue
            elif sample.name == "sesmon_window_sent_recipients":
                entry.sent += sample.value
            elif sample.name == "sesmon_window_bounce_ratio":
                entry.bounce = sample.value
            elif sample.name == "sesmon_window_complaint_ratio":
                entry.complaint = sample.value
    return summary


def format_summary(summary: Summary, elapsed: float) -> str:
    """``t+ 25s | marketing: 312 sent, bounce 2.24%, complaint 0.00%, alerts: BounceRateHigh:warning | …``."""
    parts = [f"t+{elapsed:4.0f}s"]
    for name, entry in summary.sets.items():
        alerts = ", ".join(entry.alerts) if entry.alerts else "none"
        parts.append(
            f"{name}: {entry.sent:.0f} sent, bounce {entry.bounce * 100:.2f}%, "
            f"complaint {entry.complaint * 100:.3f}%, alerts: {alerts}"
        )
    account = f"account {summary.enforcement}"
    if summary.sources_down:
        account += f", down: {', '.join(sorted(set(summary.sources_down)))}"
    parts.append(account)
    return " | ".join(parts)


def collect(collector: Collector) -> list[Metric]:
    """Every metric family ``collector`` (e.g. the daemon's registry) currently exposes."""
    return list(collector.collect())
