"""`sesmon check-config` warnings: valid configs a new user surely did not mean, one line per key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sesmon import cli
from sesmon.config import Config
from sesmon.config_warnings import config_warnings

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
PLACEHOLDER_QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"
EXAMPLE_WARNINGS = [
    "warning: targets[0].sqs.queue_url: account 123456789012 is the example's placeholder; "
    "set SESMON_QUEUE_URL or write your queue's URL",
    "warning: targets[0].events.configuration_sets: no set named (targets[0].configuration_sets "
    "holds only globs), so `sesmon setup` adds its event destination to no configuration set; "
    "list the sets to wire",
    "warning: alerts.sinks: none configured: alerts only show on /metrics and the status page; "
    "add a webhook, slack, pagerduty or alertmanager sink to be notified",
]


def _config(target: dict[str, Any], **alerts: Any) -> Config:
    return Config.model_validate(
        {"targets": [{"name": "prod", "region": "us-east-1", **target}], "alerts": alerts}
    )


def _meant() -> dict[str, Any]:
    return {
        "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/210987654321/ses-events"},
        "configuration_sets": ["transactional", "promo-*"],
    }


SINKS = [{"name": "ops", "type": "webhook", "url": "https://hooks.internal/sesmon"}]


def test_the_unedited_example_is_valid_and_warns_of_each_leftover(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SESMON_QUEUE_URL", raising=False)
    assert cli.main(["check-config", str(EXAMPLE)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{EXAMPLE}: ok: 1 target(s)")
    assert captured.err.splitlines() == EXAMPLE_WARNINGS
    assert cli.main(["check-config", "--strict", str(EXAMPLE)]) == 2
    assert capsys.readouterr().err.splitlines() == EXAMPLE_WARNINGS


def test_setting_the_queue_variable_clears_the_placeholder_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SESMON_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/210987654321/ses-events")
    assert cli.main(["check-config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().err.splitlines() == EXAMPLE_WARNINGS[1:]


def test_a_config_as_meant_has_no_warning_and_passes_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert config_warnings(_config(_meant(), sinks=SINKS)) == []
    path = tmp_path / "sesmon.yaml"
    document = {"targets": [{"name": "prod", "region": "us-east-1", **_meant()}], "alerts": {"sinks": SINKS}}
    path.write_text(json.dumps(document))  # JSON is YAML
    assert cli.main(["check-config", "--strict", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_placeholders_against_a_local_endpoint_are_the_mocks_real_account() -> None:
    target = {**_meant(), "sqs": {"queue_url": PLACEHOLDER_QUEUE}, "endpoint_url": "http://127.0.0.1:5000"}
    assert config_warnings(_config(target, sinks=SINKS)) == []


def test_a_placeholder_role_and_an_example_canary_sender_are_named() -> None:
    target = {
        **_meant(),
        "role_arn": "arn:aws:iam::123456789012:role/sesmon",
        "canary": {"configuration_sets": ["transactional"], "from_address": "canary@example.com"},
    }
    assert config_warnings(_config(target, sinks=SINKS)) == [
        "targets[0].role_arn: account 123456789012 is the example's placeholder; write your role's ARN",
        "targets[0].canary.from_address: canary@example.com is an example address; "
        "use a verified identity of the account",
    ]


def test_a_pause_action_with_no_set_allowed_to_pause_is_named() -> None:
    rule = {"name": "BounceRateSpike", "signal": "bounce_rate", "window": "1h", "critical": 0.1}
    pausing = {**rule, "name": "BounceRateSpikePause", "actions": ["pause_configuration_set"]}
    assert config_warnings(_config(_meant(), sinks=SINKS, rules=[rule, pausing])) == [
        "alerts.rules[1].actions: BounceRateSpikePause has pause_configuration_set but "
        "alerts.actions.configuration_sets is empty, so it may pause no set; list the sets",
    ]
    allowed = {"configuration_sets": ["promo-*"]}
    assert config_warnings(_config(_meant(), sinks=SINKS, rules=[pausing], actions=allowed)) == []


def test_explicit_sets_to_wire_clear_the_glob_only_warning() -> None:
    target = {**_meant(), "configuration_sets": ["*"], "events": {"configuration_sets": ["transactional"]}}
    assert config_warnings(_config(target, sinks=SINKS)) == []
    target = {**_meant(), "configuration_sets": ["*"]}
    assert [w.split(":")[0] for w in config_warnings(_config(target, sinks=SINKS))] == [
        "targets[0].events.configuration_sets"
    ]


def test_a_rule_the_exported_metrics_cannot_serve_to_prometheus_is_named() -> None:
    rule = {"name": "TransientBounces", "signal": "transient_bounce_rate", "window": "1h", "warning": 0.1}
    assert config_warnings(_config(_meant(), sinks=SINKS, rules=[rule])) == [
        "alerts.rules[0].signal: TransientBounces (transient_bounce_rate) reads sesmon_bounces_total, "
        "which only metrics.bounce_types: true (or bounce_subtypes) exports; set it for the generated "
        "Prometheus rules (`sesmon rules` refuses it until then; the built-in evaluator does not need it)",
    ]
    detailed = Config.model_validate(
        {
            "targets": [{"name": "prod", "region": "us-east-1", **_meant()}],
            "alerts": {"sinks": SINKS, "rules": [rule]},
            "metrics": {"bounce_types": True},
        }
    )
    assert config_warnings(detailed) == []
