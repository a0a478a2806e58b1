"""`sesmon demo --scenario outage`: SesSourceDown arrives while the endpoint is down, names target and source,
and the closing summary reports exactly what the webhook received."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sesmon.demo.scenarios import SCENARIOS
from tests.conftest import environment_without_aws
from tests.integration.test_demo import _command, _free_port

pytestmark = pytest.mark.slow

_OUTAGE = SCENARIOS["outage"].outage
assert _OUTAGE is not None
OUTAGE: tuple[float, float] = _OUTAGE
# Until the outage ends, then long enough for the SQS receivers' backoff (20 s at most), a cycle,
# the rule's evaluation and the resolved notification's dispatch, with room for a busy machine.
DURATION = OUTAGE[1] + 45
WEBHOOK = re.compile(
    r"^\[webhook t\+\s*(?P<at>[\d.]+)s\] (?P<status>FIRING|RESOLVED)\s+\w+\s+SesSourceDown"
    r"\s+target=(?P<target>\S+)\s+source=(?P<source>\S+)"
)
REPORT = re.compile(
    r"^  SesSourceDown for source (?P<source>\S+) on target (?P<target>\S+): fired at t\+(?P<fired>[\d.]+)s"
    r"(?:.*resolved at t\+(?P<resolved>[\d.]+)s)?"
)


@pytest.mark.timeout(DURATION + 120)
def test_outage_alert_arrives_during_the_outage_and_the_summary_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *_command(),
            "demo",
            "--scenario",
            "outage",
            "--duration",
            str(DURATION),
            "--listen",
            f"127.0.0.1:{_free_port()}",
            "--dir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        env=environment_without_aws(),
        cwd=tmp_path,
        timeout=DURATION + 100,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = output.splitlines()

    webhook: dict[tuple[str, str], dict[str, float]] = {}
    for line in lines:
        found = WEBHOOK.match(line)
        if found:
            seen = webhook.setdefault((found["target"], found["source"]), {})
            seen.setdefault(found["status"].lower(), float(found["at"]))
    # The SQS receivers fail first; their alert must reach the webhook before the endpoint recovers.
    sqs = webhook.get(("demo", "sqs"))
    assert sqs is not None, output
    assert OUTAGE[0] < sqs["firing"] < OUTAGE[1], output
    assert sqs["resolved"] > OUTAGE[1], output

    assert f"outage: the AWS endpoint failed from t+{OUTAGE[0]:.0f}s to t+{OUTAGE[1]:.0f}s" in lines, output
    reported = {}
    for line in lines:
        found = REPORT.match(line)
        if found:
            reported[(found["target"], found["source"])] = (line, found)
    # One summary line per (target, source) the webhook heard about, with the same times.
    assert set(reported) == {key for key, seen in webhook.items() if "firing" in seen}, output
    for key, (line, found) in reported.items():
        seen = webhook[key]
        assert float(found["fired"]) == pytest.approx(seen["firing"], abs=0.11), line
        if "resolved" in seen:
            assert float(found["resolved"]) == pytest.approx(seen["resolved"], abs=0.11), line
        during = OUTAGE[0] < seen["firing"] < OUTAGE[1]
        assert ("while it was still down" in line) == during, line
    assert "while it was still down" in reported[("demo", "sqs")][0]
