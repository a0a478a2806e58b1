"""promtool (Debian's prometheus package) accepts the generated rules and passes the checked-in unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sesmon.config_loader import load_config, parse_config
from sesmon.promrules import render, rule_file

ROOT = Path(__file__).resolve().parents[2]


def run(promtool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "sesmon-rules.yml").write_text(render(load_config(ROOT / "config.example.yaml", {})))
    shutil.copy(ROOT / "deploy/prometheus/sesmon-rules.test.yml", tmp_path / "sesmon-rules.test.yml")
    return tmp_path


def test_generated_rules_pass_promtool_check(workdir: Path, promtool: str) -> None:
    result = run(promtool, "check", "rules", "sesmon-rules.yml", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_generated_rules_pass_promtool_unit_tests(workdir: Path, promtool: str) -> None:
    result = run(promtool, "test", "rules", "sesmon-rules.test.yml", cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_catch_a_broken_rule(workdir: Path, promtool: str) -> None:
    # The unit tests must be able to fail: drop hysteresis and they do.
    rules = workdir / "sesmon-rules.yml"
    text = rules.read_text()
    broken = text.replace(
        'alertname="BounceRateHigh", severity="warning", alertstate="firing"', 'alertname="Nope"'
    )
    assert broken != text
    rules.write_text(broken)
    result = run(promtool, "test", "rules", "sesmon-rules.test.yml", cwd=workdir)
    assert result.returncode != 0
    assert "BounceRateHigh" in result.stdout + result.stderr


COUNTER_RULES = """\
targets:
  - {name: prod, region: us-east-1}
windows: [1h, 24h]
metrics: {bounce_types: true}
alerts:
  rules:
    - {name: DelaysHigh, signal: delivery_delay_rate, window: 1h, warning: 0.1, min_events: 5}
    - {name: SoftBouncesHigh, signal: transient_bounce_rate, window: 1h, warning: 0.1}
    - {name: RejectsHigh, signal: reject_rate, window: 1h, warning: 0.01}
"""


def test_counter_rate_alerts_carry_the_account_and_region_of_the_target_info(
    tmp_path: Path, promtool: str
) -> None:
    # The counters as scraped with metrics.bounce_types on: only target (and their own labels).
    rules = rule_file(parse_config(COUNTER_RULES, {}))
    for item in rules["groups"][0]["rules"]:
        item.pop("annotations")  # about labels here; the checked-in unit tests cover the text
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False))
    scrape = 'job="sesmon",instance="127.0.0.1:9469",target="prod"'
    in_set = f'{scrape},configuration_set="marketing"'
    series = {
        f'sesmon_target_info{{{scrape},account_id="123456789012",region="us-east-1"}}': "1x30",
        f'sesmon_recipients_total{{{in_set},event_type="send"}}': "0+1000x30",
        f'sesmon_recipients_total{{{in_set},event_type="delivery_delay"}}': "0+200x30",
        f'sesmon_recipients_total{{{in_set},event_type="reject"}}': "0x30",
        f'sesmon_bounces_total{{{in_set},bounce_type="Transient"}}': "0+300x30",
        f'sesmon_bounces_total{{{in_set},bounce_type="Permanent"}}': "0+900x30",
    }
    labels = {
        "target": "prod",
        "account_id": "123456789012",
        "region": "us-east-1",
        "configuration_set": "marketing",
        "severity": "warning",
    }
    expected = {
        "DelaysHigh": [{**labels, "signal": "delivery_delay_rate"}],
        "SoftBouncesHigh": [{**labels, "signal": "transient_bounce_rate"}],
        "RejectsHigh": [],
    }
    test_file = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": name,
                        "exp_alerts": [{"exp_labels": alert} for alert in alerts],
                    }
                    for name, alerts in expected.items()
                ],
            }
        ],
    }
    (tmp_path / "counters.test.yml").write_text(yaml.safe_dump(test_file, sort_keys=False))
    result = run(promtool, "test", "rules", "counters.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
