"""The Prometheus rule file generator: names, guards, hysteresis, globs, templates, the checked-in file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sesmon import cli
from sesmon.config_loader import load_config, parse_config
from sesmon.promrules import glob_regex, problems, render, rule_file

ROOT = Path(__file__).resolve().parents[2]
JOIN = " * on(job, instance, target) group_left(account_id, region) sesmon_target_info"


def config(rules: str, windows: str = "[1h, 24h]", metrics: str = "") -> object:
    return parse_config(
        f"targets:\n  - {{name: prod, region: us-east-1}}\nwindows: {windows}\n{metrics}"
        f"alerts:\n  rules:\n{rules}",
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
    sets = 'window="1h",configuration_set=~"mark.*|a\\\\.b"'
    selected = f"sesmon_window_bounce_ratio{{{sets}}}"
    # account_id and region come from sesmon_target_info, joined before the max drops anything.
    ratio = f"max without (denominator) ({selected}{JOIN})"
    assert f"({ratio}) >= 0.05" in expr
    sent = f"max without (denominator) (sesmon_window_sent_recipients{{{sets}}}"
    assert f"{sent}{JOIN})) >= 500" in expr
    assert f"({ratio} * {sent}{JOIN})) >= 6.5" in expr
    assert ">= 0.045 and on(target, account_id, region, configuration_set) ALERTS{" in expr
    assert 'alertname="BounceRateHigh", severity="warning", alertstate="firing"' in expr
    assert expr.count("sesmon_window_") == expr.count(JOIN)  # every read of a window family joined
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
        f'time() - (sesmon_configuration_set_last_event_timestamp_seconds{{target=~"prod"}}{JOIN}) >= 86400\n'
    )


def test_counter_rates_fall_back_from_volume_to_the_longest_window() -> None:
    cfg = config("    - {name: RejectsHigh, signal: reject_rate, window: volume, warning: 0.01}\n")
    text = render(cfg)  # type: ignore[arg-type]
    (rule,) = rules_of(text)
    assert 'increase(sesmon_recipients_total{event_type="reject"}[24h])' in str(rule["expr"])
    assert "volume window approximated by 24h" in text


def test_counter_rates_join_the_target_info_before_summing() -> None:
    cfg = config(
        "    - {name: DelaysHigh, signal: delivery_delay_rate, window: 1h, warning: 0.1, min_events: 3}\n"
        "    - {name: SoftBounces, signal: transient_bounce_rate, window: 24h, warning: 0.1}\n",
        metrics="metrics: {bounce_types: true}\n",
    )
    delays, soft = rules_of(render(cfg))  # type: ignore[arg-type]
    by = "sum by (target, account_id, region, configuration_set)"
    delayed = f'{by} (increase(sesmon_recipients_total{{event_type="delivery_delay"}}[1h]){JOIN})'
    sent = f'{by} (increase(sesmon_recipients_total{{event_type="send"}}[1h]){JOIN})'
    expr = str(delays["expr"])
    assert f"(({delayed} / ({sent} > 0)) >= 0.1)" in expr
    assert f"({delayed}) >= 2.5" in expr  # the min_events guard reads the same joined counter
    assert "sesmon_delivery_delays_total" not in expr  # left out of /metrics unless delay_types
    assert f'increase(sesmon_bounces_total{{bounce_type="Transient"}}[24h]){JOIN})' in str(soft["expr"])


def test_aws_polled_conditions_are_read_as_exported() -> None:
    cfg = config(
        "    - {name: SetPaused, signal: configuration_set_sending_disabled}\n"
        "    - {name: CwBounce, signal: cloudwatch_bounce_rate, warning: 0.05}\n"
    )
    paused, cloudwatch = rules_of(render(cfg))  # type: ignore[arg-type]
    assert paused["expr"] == "sesmon_configuration_set_sending_enabled == 0\n"
    assert "sesmon_target_info" not in str(cloudwatch["expr"])  # these families keep account and region


def test_a_rule_over_a_family_left_out_is_refused(tmp_path: Path, capsys: object) -> None:
    rules = (
        "    - {name: BounceRateHigh, signal: bounce_rate, window: 1h, warning: 0.05}\n"
        "    - {name: SoftBounces, signal: transient_bounce_rate, window: 1h, warning: 0.1}\n"
        "    - {name: SoftBouncesDaily, signal: transient_bounce_rate, window: 24h, warning: 0.1}\n"
    )
    needs = (
        "(transient_bounce_rate) reads sesmon_bounces_total, which only metrics.bounce_types: true "
        "(or bounce_subtypes) exports; set it for the generated Prometheus rules"
    )
    expected = [
        f"alerts.rules[1].signal: SoftBounces {needs}",
        f"alerts.rules[2].signal: SoftBouncesDaily {needs}",
    ]
    assert problems(config(rules)) == expected  # type: ignore[arg-type]
    with pytest.raises(
        ValueError, match=r"^alerts\.rules\[1\]\.signal: SoftBounces \(transient_bounce_rate\)"
    ):
        render(config(rules))  # type: ignore[arg-type]
    # Either detail exports sesmon_bounces_total with its bounce_type label.
    for detail in ("bounce_types", "bounce_subtypes"):
        assert problems(config(rules, metrics=f"metrics: {{{detail}: true}}\n")) == []  # type: ignore[arg-type]
    path = tmp_path / "sesmon.yaml"
    path.write_text(
        f"targets:\n  - {{name: prod, region: us-east-1}}\nwindows: [1h, 24h]\nalerts:\n  rules:\n{rules}"
    )
    assert cli.main(["rules", "--config", str(path)]) == 2
    out = capsys.readouterr()  # type: ignore[attr-defined]
    assert out.out == ""
    assert out.err.splitlines() == [f"{path}: {line}" for line in expected]


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
