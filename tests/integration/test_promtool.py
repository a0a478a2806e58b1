"""promtool (Debian's prometheus package) accepts the generated rules and passes the checked-in unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sesmon.config_loader import load_config
from sesmon.promrules import render

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
