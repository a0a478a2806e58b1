"""`sesmon setup` / `sesmon doctor` without AWS: usage errors, and the plan's wording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sesmon import cli
from sesmon.provisioning import CREATE, UNCHANGED, UPDATE, Outcome, Step, render


@pytest.mark.parametrize("command", ["setup", "doctor"])
def test_a_config_without_a_queue_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    path = tmp_path / "sesmon.yaml"
    path.write_text(json.dumps({"targets": [{"name": "prod", "region": "us-east-1"}]}))
    assert cli.main([command, "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        "targets[*].sqs.queue_url: no target names a queue to connect SES events to\n"
    )


def test_the_plan_says_what_it_would_do_and_the_verdict() -> None:
    outcome = Outcome("prod")
    outcome.steps += [
        Step(CREATE, "sqs DLQ q-dlq", "retention 336h"),
        Step(UPDATE, "sqs queue q", "set Policy"),
        Step(UNCHANGED, "sns topic t"),
    ]
    text = render([outcome], applied=False)
    assert text.splitlines() == [
        "target prod:",
        "  create    sqs DLQ q-dlq: retention 336h",
        "  update    sqs queue q: set Policy",
        "  unchanged sns topic t",
        "2 changes to make; run again with --apply.",
    ]
    assert render([outcome], applied=True).endswith("Applied 2 changes.\n")
    nothing = Outcome("prod", [Step(UNCHANGED, "sns topic t")])
    assert render([nothing], applied=True).endswith(
        "Nothing to change: the event path is already in place.\n"
    )
