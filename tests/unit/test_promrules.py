"""The Prometheus rule file generator: names, guards, hysteresis, globs, templates, the checked-in file."""

from __future__ import annotations

from pathlib import Path

import yaml

from sesmon import cli
from sesmon.config_loader import load_config, parse_config
from sesmon.promrules import glob_regex, render, rule_file

ROOT = Path(__file__).resolve().parents[2]


def config(rules: str, windows: str = "[1h, 24h]") -> object:
    return parse_config(
        f"targets:\n  - {{name: prod, region: us-east-1}}\nwindows: {windows}\nalerts:\n  rules:\n{rules}",
        {},
    )


def rules_of(text: str) -> list[dict[str, object]]:
    return list(yaml.safe_load(text)["groups"][0]["rules"])


def test_rate_rule_has_one_alert_per_severity_with_guards_and_hysteresis() -> None:
    cfg = config(
        "    - {name: BounceRateHigh, signal: bounce_rate, window: 1h, warning: 0.05, critical: 0.1,\n"
        "       min_recipients: 500, min_events: 7, for: 10m, configuration_sets: ['mark*', 'a.b']}\n"
    )
    warning, critical = rules_of(render(cfg))  # type: ignore[arg-type]
    assert warning["alert"] == critical["alert"] == "BounceRateHigh"
    assert warning["labels"] == {"severity": "warning", "signal": "bounce_rate"}
    assert critical["labels"] == {"severity": "critical", "signal": "bounce_rate"}
    assert warning["for"] == "10m"
    expr = str(warning["expr"])
    selected = 'sesmon_window_bounce_ratio{window="1h",configuration_set=~"mark.*|a\\\\.b"}'
    ratio = f"max without (denominator) ({selected})"
    assert f"({ratio}) >= 0.05" in expr
    assert ">= 0.045 and on(target, account_id, region, configuration_set) ALERTS{" in expr
    assert 'alertname="BounceRateHigh", severity="warning", alertstate="firing"' in expr
    assert "sesmon_window_sent_recipients{" in expr
    assert ">= 500" in expr
    assert ">= 6.5" in expr  # whole events, with half a unit of slack for ratio x volume
    assert "unless on(target, account_id, region, configuration_set)" in expr  # held below guards
    assert ">= 0.1)" in str(critical["expr"])


def test_condition_rules_and_templates() -> None:
    cfg = config(
        "    - {name: AccountUnderReview, signal: enforcement_status, severity: critical,\n"
        "       summary: 'Account {target} is {detail} at {value_pct}', runbook_url: 'https://rb/{rule}'}\n"
        "    - {name: FeedStopped, signal: no_events, window: 24h, targets: [prod]}\n"
    )
    review, stopped = rules_of(render(cfg))  # type: ignore[arg-type]
    assert review["expr"] == 'sesmon_account_enforcement_status{status!="HEALTHY"} == 1\n'
    assert "for" not in review
    annotations = review["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["summary"] == "Account {{ $labels.target }} is  at {{ $value | humanizePercentage }}"
    assert annotations["runbook_url"] == "https://rb/AccountUnderReview"
    assert stopped["expr"] == (
        'time() - sesmon_configuration_set_last_event_timestamp_seconds{target=~"prod"} >= 86400\n'
    )


def test_counter_rates_fall_back_from_volume_to_the_longest_window() -> None:
    cfg = config("    - {name: RejectsHigh, signal: reject_rate, window: volume, warning: 0.01}\n")
    text = render(cfg)  # type: ignore[arg-type]
    (rule,) = rules_of(text)
    assert 'increase(sesmon_recipients_total{event_type="reject"}[24h])' in str(rule["expr"])
    assert "volume window approximated by 24h" in text


def test_glob_regex() -> None:
    assert glob_regex(["*"]) is None
    assert glob_regex(["mk-?", "(none)"]) == "mk-.|\\\\(none\\\\)"


def test_checked_in_rules_match_the_example_config(capsys: object) -> None:
    example = load_config(ROOT / "config.example.yaml", {})
    generated = render(example)
    assert (ROOT / "deploy/prometheus/sesmon-rules.yml").read_text() == generated, (
        "regenerate: sesmon rules --config config.example.yaml > deploy/prometheus/sesmon-rules.yml"
    )
    assert len(rule_file(example)["groups"][0]["rules"]) >= len(example.alerts.rules)
    assert cli.main(["rules", "--config", str(ROOT / "config.example.yaml")]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert out == generated


def test_cli_rules_rejects_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: []\n")
    assert cli.main(["rules", "--config", str(bad)]) == 2
