"""The demo's generated config: valid for sesmon, tuned for a one-minute demo, secret kept in a file."""

from __future__ import annotations

import stat
from pathlib import Path

from sesmon.config_loader import load_config
from sesmon.demo.democonfig import (
    BOUNCE_RULE,
    COMPLAINT_RULE,
    SECRET_NAME,
    DemoSettings,
    build_config,
    clear_state,
    write_config,
)
from sesmon.demo.provision import CONFIGURATION_SETS, Provisioned
from sesmon.demo.scenarios import SPIKE_AT
from sesmon.durations import parse_duration
from sesmon.promrules import render, rule_file

ROOT = Path(__file__).resolve().parents[2]

PROVISIONED = Provisioned(
    domain="mail.example.com",
    configuration_sets=("transactional", "marketing"),
    topic_arn="arn:aws:sns:us-east-1:123456789012:ses-event-publishing",
    queue_url="http://127.0.0.1:5999/123456789012/sesmon-ses-events",
    queue_arn="arn:aws:sqs:us-east-1:123456789012:sesmon-ses-events",
    dlq_url="http://127.0.0.1:5999/123456789012/sesmon-ses-events-dlq",
    dlq_arn="arn:aws:sqs:us-east-1:123456789012:sesmon-ses-events-dlq",
    subscription_arn="arn:aws:sns:us-east-1:123456789012:ses-event-publishing:1",
)


def _write(tmp_path: Path, listen: str = "127.0.0.1:0") -> tuple[Path, str]:
    data = build_config(
        endpoint_url="http://127.0.0.1:5999",
        provisioned=PROVISIONED,
        receiver_url="http://127.0.0.1:6001/sesmon",
        directory=tmp_path,
        settings=DemoSettings(listen=listen),
    )
    return write_config(tmp_path, data)


def test_generated_config_loads_and_is_tuned_for_the_demo(tmp_path: Path) -> None:
    path, secret = _write(tmp_path)
    config = load_config(path)
    [target] = config.targets
    assert target.endpoint_url == "http://127.0.0.1:5999"
    assert target.sqs is not None
    assert target.sqs.queue_url == PROVISIONED.queue_url
    assert target.cloudwatch.interval == 60.0
    assert target.account.interval <= 15.0
    assert target.configuration_sets == ("transactional", "marketing")
    assert config.server.listen == "127.0.0.1:0"
    assert Path(config.state.path).parent == tmp_path
    rules = {r.name: r for r in config.alerts.rules}
    bounce = rules[BOUNCE_RULE]
    assert (bounce.signal, bounce.window, bounce.warning, bounce.critical) == (
        "bounce_rate",
        "1h",
        0.02,
        0.05,
    )
    assert bounce.min_recipients >= 100
    assert 0 < bounce.for_ <= 15
    complaint = rules[COMPLAINT_RULE]
    assert complaint.signal == "complaint_rate"
    assert complaint.min_recipients >= bounce.min_recipients
    [sink] = config.alerts.sinks
    assert sink.url is not None
    assert sink.url.get_secret_value() == "http://127.0.0.1:6001/sesmon"
    assert sink.secret is not None
    assert sink.secret.get_secret_value() == secret


def test_secret_lives_in_its_own_private_file(tmp_path: Path) -> None:
    path, secret = _write(tmp_path)
    assert secret not in path.read_text()
    secret_file = tmp_path / SECRET_NAME
    assert secret_file.read_text().strip() == secret
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert "sesmon run --config" in path.read_text().splitlines()[1]
    assert _write(tmp_path)[1] != secret  # a fresh secret per run


def test_clear_state_removes_only_the_state_files(tmp_path: Path) -> None:
    for name in ("state.db", "state.db-wal", "state.db-shm", "sesmon.yaml"):
        (tmp_path / name).write_text("x")
    clear_state(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sesmon.yaml"]


def test_dns_checks_use_the_demo_nameserver_when_given(tmp_path: Path) -> None:
    data = build_config(
        endpoint_url="http://127.0.0.1:5999",
        provisioned=PROVISIONED,
        receiver_url="http://127.0.0.1:6001/sesmon",
        directory=tmp_path,
        settings=DemoSettings(),
        dns_nameserver="127.0.0.1:5353",
    )
    path, _ = write_config(tmp_path, data)
    config = load_config(path)
    assert config.dns.enabled
    assert config.dns.nameservers == ("127.0.0.1:5353",)
    assert {r.signal for r in config.alerts.rules} >= {
        "dns_check_failed",
        "identity_unverified",
        "source_down",
    }
    without = build_config(
        endpoint_url="http://127.0.0.1:5999",
        provisioned=PROVISIONED,
        receiver_url="http://127.0.0.1:6001/sesmon",
        directory=tmp_path,
        settings=DemoSettings(),
    )
    assert without["dns"] == {"enabled": False}


def test_compose_demo_rules_are_the_demo_configs_and_alert_within_two_minutes(tmp_path: Path) -> None:
    assert PROVISIONED.configuration_sets == CONFIGURATION_SETS
    path, _ = _write(tmp_path)
    config = load_config(path)
    committed = (ROOT / "deploy/prometheus/sesmon-demo-rules.yml").read_text()
    assert committed == render(config), (
        "regenerate: sesmon demo --duration 5 && "
        "sesmon rules --config sesmon-demo/sesmon.yaml > deploy/prometheus/sesmon-demo-rules.yml"
    )
    rules = rule_file(config)["groups"][0]["rules"]
    fors = {rule["alert"]: parse_duration(rule["for"]) if "for" in rule else 0.0 for rule in rules}
    assert max(fors.values()) <= 120
    # The scenario's spike alert: spike, then `for`, then one 15 s scrape and one evaluation.
    assert SPIKE_AT + fors[BOUNCE_RULE] + 15 + 15 <= 120
