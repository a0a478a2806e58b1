"""`sesmon setup` / `sesmon doctor` without AWS: usage errors, and the plan's wording."""

from __future__ import annotations

import json
import socket
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


def _example_with_endpoint(tmp_path: Path, endpoint_url: str) -> Path:
    # The unedited example's target, pointed at loopback so that nothing can reach a real AWS.
    text = (Path(__file__).parents[2] / "config.example.yaml").read_text()
    line = "  - name: prod-us-east-1          # unique; appears as the `target` label\n"
    assert line in text
    path = tmp_path / "sesmon.yaml"
    path.write_text(text.replace(line, f"{line}    endpoint_url: {endpoint_url}\n"))
    return path


def test_setup_without_credentials_says_how_to_give_them_and_plans_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "absent-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "absent-credentials"))
    path = _example_with_endpoint(tmp_path, "http://127.0.0.1:9")
    assert cli.main(["setup", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing was planned, so no "steps above"
    assert captured.err == (
        "sesmon setup: target prod-us-east-1: no AWS credentials found in the default chain; "
        "give sesmon credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, "
        "a profile (AWS_PROFILE, or `aws configure`), or a role (IRSA, ECS task role, instance role); "
        "`sesmon doctor` shows which source it finds\n"
    )


def test_setup_with_aws_unreachable_names_the_endpoint_and_what_to_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A port nothing listens on: bound, then closed, so the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = _example_with_endpoint(tmp_path, f"http://127.0.0.1:{port}")
    assert cli.main(["setup", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"sesmon setup: target prod-us-east-1: cannot reach AWS: Could not connect to the endpoint URL: "
        f'"http://127.0.0.1:{port}/"; check the network or proxy (HTTPS_PROXY) and the target\'s region '
        "and endpoint_url\n"
    )
