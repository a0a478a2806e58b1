"""source_down over SourceHealth, provider discovery, and the alerting metrics."""

from __future__ import annotations

from pathlib import Path

from sesmon import statuspage
from sesmon.alerts.component import AlertsComponent, build_alerts_component, providers_of
from sesmon.alerts.sinks import SendResult
from sesmon.alerts.source_down import SourceDownProvider
from sesmon.component import BaseComponent
from sesmon.config import AlertsConfig, SinkConfig, TargetConfig
from sesmon.health import SourceHealth
from sesmon.metrics import build_registry
from sesmon.rules import Notification
from sesmon.signals import Observation
from sesmon.state.sqlite import SqliteState
from sesmon.targets import TargetDirectory

T0 = 1_767_225_600.0
ROLE = "arn:aws:iam::123456789012:role/sesmon"


class Provider(BaseComponent):
    name = "fake"

    def __init__(self) -> None:
        self.value = 0.0

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"bounce_rate"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        labels = Observation.make_labels(target="prod", configuration_set="marketing")
        return [Observation(signal, labels, self.value, recipients=1000, events=int(self.value * 1000))]


class DownSink:
    def __init__(self, config: SinkConfig) -> None:
        self.config = config
        self.sent: list[Notification] = []

    def send(self, notification: Notification, now: float) -> SendResult:
        self.sent.append(notification)
        return SendResult(ok=False, retryable=True, error="sink hook: HTTP 503")

    def close(self) -> None:
        return None


def test_source_down_fires_after_for_and_resolves_on_success() -> None:
    health = SourceHealth()
    health.expect("sqs", "prod")
    provider = SourceDownProvider(health)
    assert provider.observe("source_down", None, T0) == []  # never polled: neither up nor down
    health.success("sqs", "prod", T0, 0.1)
    assert [o.value for o in provider.observe("source_down", None, T0)] == [0.0]
    health.failure("sqs", "prod", T0 + 10, 0.1, "boom")
    (obs,) = provider.observe("source_down", None, T0 + 10)
    assert obs.value == 1.0
    assert obs.labels == (("source", "sqs"), ("target", "prod"))

    config = AlertsConfig.model_validate(
        {"rules": [{"name": "SourceDown", "signal": "source_down", "severity": "critical", "for": "5m"}]}
    )
    store = SqliteState(":memory:")
    comp = build_alerts_component(config, store, health, lambda: T0, [])
    assert comp.evaluate(T0 + 10) == []
    assert comp.evaluate(T0 + 200) == []
    fired = comp.evaluate(T0 + 310)
    assert [(n.severity, n.label("source")) for n in fired] == [("critical", "sqs")]
    health.success("sqs", "prod", T0 + 400, 0.1)
    assert [n.status for n in comp.evaluate(T0 + 400)] == ["resolved"]


def test_providers_are_found_among_components() -> None:
    fake, plain = Provider(), BaseComponent()
    assert providers_of([plain, fake]) == [fake]


def test_alert_metrics(tmp_path: Path) -> None:
    config = AlertsConfig.model_validate(
        {
            "rules": [{"name": "BounceRateHigh", "signal": "bounce_rate", "window": "1h", "warning": 0.05}],
            "sinks": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x"}],
        }
    )
    provider = Provider()
    store = SqliteState(tmp_path / "s.db")
    sink = DownSink(config.sinks[0])
    targets = TargetDirectory(
        [
            TargetConfig.model_validate({"name": "prod", "region": "eu-west-1", "role_arn": ROLE}),
            TargetConfig.model_validate({"name": "other", "region": "us-east-1"}),
        ]
    )
    comp = AlertsComponent(config, store, [provider], clock=lambda: T0, sinks={"hook": sink}, targets=targets)
    registry = build_registry(comp.collectors())
    prod = {"target": "prod", "account_id": "123456789012", "region": "eu-west-1"}
    firing = {"rule": "BounceRateHigh", "severity": "warning", **prod, "configuration_set": "marketing"}
    preinit = {"rule": "BounceRateHigh", "severity": "warning", **prod, "configuration_set": ""}
    other = {**preinit, "target": "other", "account_id": "unknown", "region": "us-east-1"}
    assert registry.get_sample_value("sesmon_alerts_firing", preinit) == 0
    assert registry.get_sample_value("sesmon_alerts_firing", other) == 0  # every watched target
    targets.set_account_id("prod", "210987654321")  # STS confirmed another account: labels follow
    prod["account_id"] = firing["account_id"] = preinit["account_id"] = "210987654321"
    assert registry.get_sample_value("sesmon_alerts_firing", preinit) == 0
    assert registry.get_sample_value("sesmon_notifications_total", {"sink": "hook"}) == 0
    assert registry.get_sample_value("sesmon_outbox_pending", {"sink": "hook"}) == 0
    provider.value = 0.1
    comp.evaluate(T0)  # the sink is down: the notification stays queued
    assert registry.get_sample_value("sesmon_alerts_firing", firing) == 1
    assert registry.get_sample_value("sesmon_outbox_pending", {"sink": "hook"}) == 1
    assert registry.get_sample_value("sesmon_notification_failures_total", {"sink": "hook"}) == 1
    assert [n.reason for n in sink.sent] == ["fired"]
    assert registry.get_sample_value("sesmon_notifications_given_up_total", {"sink": "hook"}) == 0
    provider.value = 0.0
    comp.evaluate(T0 + 15)
    assert registry.get_sample_value("sesmon_alerts_firing", firing) == 0  # kept at 0, not dropped
    assert comp.status().firing == ()
    assert "BounceRateHigh" not in statuspage.render_section(comp.status())
    store.close()
