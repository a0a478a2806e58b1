"""Sink payload renderers: Alertmanager webhook v4, Slack blocks, PagerDuty Events v2, Alertmanager API."""

from __future__ import annotations

from typing import Any

from sesmon.alerts.render import (
    ALERTMANAGER_TTL,
    alertmanager_payload,
    pagerduty_payload,
    rfc3339,
    slack_payload,
    webhook_payload,
)
from sesmon.alerts.routing import routes
from sesmon.alerts.sinks import parse_retry_after, sign
from sesmon.config import RuleConfig, SinkConfig
from sesmon.rules import Evaluator, Notification
from sesmon.signals import Observation

LABELS = Observation.make_labels(target="prod", configuration_set="marketing")
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def notifications() -> tuple[Notification, Notification, Notification]:
    rule = RuleConfig.model_validate(
        {
            "name": "BounceRateHigh",
            "signal": "bounce_rate",
            "window": "24h",
            "warning": 0.04,
            "critical": 0.08,
            "runbook_url": "https://runbooks.example/{rule}",
        }
    )
    ev = Evaluator([rule])
    fired = ev.evaluate({rule.name: [Observation("bounce_rate", LABELS, 0.05, 2000, 100)]}, T0)[0]
    up = ev.evaluate({rule.name: [Observation("bounce_rate", LABELS, 0.09, 2000, 180)]}, T0 + 60)[0]
    resolved = ev.evaluate({rule.name: [Observation("bounce_rate", LABELS, 0.01, 3000, 30)]}, T0 + 120)[0]
    return fired, up, resolved


def test_webhook_payload_has_alertmanager_v4_shape() -> None:
    fired, _, resolved = notifications()
    body = webhook_payload(fired, receiver="ops")
    assert {
        "version",
        "groupKey",
        "status",
        "receiver",
        "groupLabels",
        "commonLabels",
        "commonAnnotations",
        "externalURL",
        "alerts",
    } <= body.keys()
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "ops"
    alert: dict[str, Any] = body["alerts"][0]
    assert alert["labels"]["alertname"] == "BounceRateHigh"
    assert alert["labels"]["severity"] == "warning"
    assert alert["labels"]["configuration_set"] == "marketing"
    assert alert["startsAt"] == "2026-01-01T00:00:00.000Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert alert["fingerprint"] == fired.fingerprint
    assert alert["annotations"]["runbook_url"] == "https://runbooks.example/BounceRateHigh"
    done = webhook_payload(resolved, receiver="ops")
    assert done["status"] == "resolved"
    assert done["alerts"][0]["endsAt"] == rfc3339(T0 + 120)
    assert done["alerts"][0]["fingerprint"] == fired.fingerprint


def test_slack_blocks_show_rule_set_rate_window_volume() -> None:
    fired, up, _ = notifications()
    body = slack_payload(up)
    text = str(body["blocks"])
    assert "[CRITICAL] BounceRateHigh (escalated)" in body["blocks"][0]["text"]["text"]
    for expected in ("marketing", "9% vs 8% threshold", "24h", "2000 recipients, 180 events"):
        assert expected in text
    assert "5% vs 4% threshold" in str(slack_payload(fired)["blocks"])


def test_pagerduty_trigger_and_resolve_share_dedup_key() -> None:
    fired, up, resolved = notifications()
    trigger = pagerduty_payload(fired, "KEY")
    assert trigger["routing_key"] == "KEY"
    assert trigger["event_action"] == "trigger"
    assert trigger["payload"]["severity"] == "warning"
    assert trigger["payload"]["source"] == "prod"
    assert trigger["payload"]["custom_details"]["labels"]["configuration_set"] == "marketing"
    assert pagerduty_payload(up, "KEY")["payload"]["severity"] == "critical"
    resolve = pagerduty_payload(resolved, "KEY")
    assert resolve["event_action"] == "resolve"
    assert "payload" not in resolve
    assert trigger["dedup_key"] == pagerduty_payload(up, "KEY")["dedup_key"] == resolve["dedup_key"]


def test_alertmanager_endsat_future_while_firing_and_now_when_resolved() -> None:
    fired, _, resolved = notifications()
    now = T0 + 30
    firing = alertmanager_payload([fired], now)[0]
    assert firing["endsAt"] == rfc3339(now + ALERTMANAGER_TTL)
    assert firing["startsAt"] == rfc3339(T0)
    assert {"alertname", "severity", "configuration_set", "target"} <= firing["labels"].keys()
    done = alertmanager_payload([resolved], T0 + 120)[0]
    assert done["endsAt"] == rfc3339(T0 + 120)
    assert done["labels"]["severity"] == "critical"  # resolved from where it last stood


def test_alertmanager_escalation_resolves_the_severity_left_behind() -> None:
    _, up, _ = notifications()
    body = alertmanager_payload([up], T0 + 60)
    assert [(a["labels"]["severity"], a["endsAt"]) for a in body] == [
        ("critical", rfc3339(T0 + 60 + ALERTMANAGER_TTL)),
        ("warning", rfc3339(T0 + 60)),
    ]


def test_routing_by_min_severity_and_match_and_resolution_follows_peak() -> None:
    fired, up, resolved = notifications()
    pager = SinkConfig(name="pager", type="pagerduty", routing_key="k" * 20, min_severity="critical")
    assert not routes(pager, fired)
    assert routes(pager, up)
    assert routes(pager, resolved)
    marketing = SinkConfig.model_validate(
        {"name": "m", "type": "webhook", "url": "http://127.0.0.1/x", "match": {"configuration_set": "mark*"}}
    )
    other = SinkConfig.model_validate(
        {"name": "o", "type": "webhook", "url": "http://127.0.0.1/x", "match": {"alertname": "Other"}}
    )
    assert routes(marketing, fired)
    assert not routes(other, fired)


def test_signature_and_retry_after() -> None:
    assert sign("s3cret", "100", b"{}") == sign("s3cret", "100", b"{}")
    assert sign("s3cret", "100", b"{}") != sign("s3cret", "101", b"{}")
    assert sign("s3cret", "100", b"{}").startswith("sha256=")
    assert parse_retry_after("120", 0) == 120
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", T0) == 60
    assert parse_retry_after("garbage", T0) is None
    assert parse_retry_after(None, T0) is None
