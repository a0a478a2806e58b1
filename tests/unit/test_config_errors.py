"""Every invalid config gets exit code 2 and exactly one precise line per problem, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sesmon.cli import main

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"
TARGET = "targets:\n  - name: prod\n    region: us-east-1\n"

# (case id, config text, the one expected line after "<file>: ")
CASES: list[tuple[str, str, str]] = [
    ("empty-file", "", "file is empty; see config.example.yaml"),
    ("top-level-list", "- a\n- b\n", "top level must be a mapping of keys, not list"),
    (
        "invalid-yaml",
        "targets:\n  - name: prod\n    region: [us-east-1\n",
        "invalid YAML at line 4, column 1: expected ',' or ']', but got '<stream end>'",
    ),
    ("targets-missing", "server:\n  listen: 127.0.0.1:9469\n", "targets: field required"),
    ("targets-empty", "targets: []\n", "targets: at least one target is required"),
    (
        "queue-url-missing",
        TARGET + "    sqs: {}\n",
        "targets[0].sqs.queue_url: field required",
    ),
    (
        "server-threads-zero",
        TARGET + "server:\n  threads: 0\n",
        "server.threads: input should be greater than or equal to 1",
    ),
    (
        "server-header-timeout-unitless",
        TARGET + "server:\n  header_timeout: 10\n",
        "server.header_timeout: invalid duration: expected a string with a unit (s, m, h, d, w), "
        "e.g. 30s, 5m, 24h, 14d",
    ),
    (
        "unknown-top-level-key",
        TARGET + "window: [1h]\n",
        "window: unknown key; did you mean 'windows'?",
    ),
    (
        "unknown-nested-key",
        TARGET + f"    sqs:\n      queue_url: {QUEUE}\n      reciever: 2\n",
        "targets[0].sqs.reciever: unknown key; did you mean 'receivers'?",
    ),
    (
        "wrong-type",
        TARGET + f"    sqs:\n      queue_url: {QUEUE}\n      receivers: many\n",
        "targets[0].sqs.receivers: input should be a valid integer, unable to parse string as an integer",
    ),
    (
        "out-of-range",
        TARGET + f"    sqs:\n      queue_url: {QUEUE}\n      wait_time_seconds: 30\n",
        "targets[0].sqs.wait_time_seconds: input should be less than or equal to 20",
    ),
    (
        "bad-enum",
        TARGET + f"    sqs:\n      queue_url: {QUEUE}\n      on_invalid: drop\n",
        "targets[0].sqs.on_invalid: input should be 'keep' or 'delete'",
    ),
    (
        "bad-queue-url",
        TARGET + "    sqs:\n      queue_url: https://sqs.us-east-1.amazonaws.com/ses-events\n",
        "targets[0].sqs.queue_url: must look like "
        "https://sqs.<region>.amazonaws.com/<account-id>/<queue-name>",
    ),
    (
        "bad-duration",
        TARGET + "    cloudwatch:\n      interval: 5x\n",
        "targets[0].cloudwatch.interval: invalid duration '5x': use a number with a unit "
        "(ms, s, m, h, d, w), e.g. 30s, 5m, 24h, 14d",
    ),
    (
        "duration-without-unit",
        TARGET + "    account:\n      interval: 300\n",
        "targets[0].account.interval: invalid duration: expected a string with a unit "
        "(s, m, h, d, w), e.g. 30s, 5m, 24h, 14d",
    ),
    (
        "cloudwatch-interval-too-short",
        TARGET + "    cloudwatch:\n      interval: 30s\n",
        "targets[0].cloudwatch.interval: must be at least 1m (CloudWatch's finest period for these metrics)",
    ),
    (
        "listen-without-port",
        TARGET + "server:\n  listen: localhost\n",
        "server.listen: 'localhost' is not HOST:PORT with a port from 0 to 65535",
    ),
    (
        "listen-port-out-of-range",
        TARGET + "server:\n  listen: 0.0.0.0:70000\n",
        "server.listen: '0.0.0.0:70000' is not HOST:PORT with a port from 0 to 65535",
    ),
    (
        "bad-region",
        "targets:\n  - name: prod\n    region: useast\n",
        "targets[0].region: 'useast' is not an AWS region name such as us-east-1",
    ),
    (
        "bad-role-arn",
        TARGET + "    role_arn: arn:aws:iam::123:role/x\n",
        "targets[0].role_arn: must be an IAM role ARN such as arn:aws:iam::123456789012:role/sesmon",
    ),
    (
        "bad-endpoint-url",
        TARGET + "    endpoint_url: localhost:5000\n",
        "targets[0].endpoint_url: must be an http:// or https:// URL",
    ),
    (
        "duplicate-target",
        TARGET + "  - name: prod\n    region: eu-west-1\n",
        "targets: duplicate target name 'prod'",
    ),
    (
        "undefined-variable",
        TARGET + "    sqs:\n      queue_url: ${SESMON_TEST_UNDEFINED}\n",
        "targets[0].sqs.queue_url: environment variable SESMON_TEST_UNDEFINED is not set "
        "(use ${SESMON_TEST_UNDEFINED:-default} for a fallback)",
    ),
    (
        "missing-secret-file",
        TARGET + "alerts:\n  sinks:\n    - name: hook\n      type: webhook\n      url_file: /nonexistent/s\n",
        "alerts.sinks[0].url_file: secret file /nonexistent/s not found",
    ),
    (
        "secret-and-secret-file",
        TARGET
        + "alerts:\n  sinks:\n    - name: hook\n      type: webhook\n"
        + "      url: https://hooks.example\n      url_file: /tmp/x\n",
        "alerts.sinks[0].url_file: give either url or url_file, not both",
    ),
    (
        "bad-log-level",
        TARGET + "logging:\n  level: verbose\n",
        "logging.level: input should be 'debug', 'info', 'warning' or 'error'",
    ),
    ("duplicate-window", TARGET + "windows: [1h, 60m]\n", "windows: window lengths must be distinct"),
    (
        "rule-name-not-camel-case",
        TARGET + "alerts:\n  rules:\n    - {name: bounce_high, signal: bounce_rate, window: 1h, "
        "warning: 0.05}\n",
        "alerts.rules[0].name: 'bounce_high' must be CamelCase, e.g. MarketingBounceRateHigh",
    ),
    (
        "rule-window-not-configured",
        TARGET + "alerts:\n  rules:\n    - {name: BounceHigh, signal: bounce_rate, window: 6h, "
        "warning: 0.05}\n",
        "alerts.rules[0].window: '6h' is not one of windows (1h, 24h) or 'volume'",
    ),
    (
        "rule-thresholds-inverted",
        TARGET
        + "alerts:\n  rules:\n    - {name: BounceHigh, signal: bounce_rate, window: 1h, "
        + "warning: 0.1, critical: 0.05}\n",
        "alerts.rules[0]: warning threshold must not be above the critical threshold",
    ),
    (
        "rule-pause-account-not-allowed",
        TARGET
        + "alerts:\n  rules:\n    - {name: RepHigh, signal: bounce_rate, window: 1h, critical: 0.1, "
        + "actions: [pause_account]}\n",
        "alerts: rules[0].actions: pause_account needs alerts.actions.allow_account_pause: true",
    ),
    (
        "rule-guard-without-volume",
        TARGET
        + "alerts:\n  rules:\n    - {name: RepHigh, signal: quota_usage, warning: 0.05, "
        + "min_recipients: 500}\n",
        "alerts.rules[0]: signal quota_usage has no volume: min_recipients/min_events do not apply",
    ),
    (
        "sink-unknown-type",
        TARGET + "alerts:\n  sinks:\n    - {name: hook, type: email, url: 'https://x.example'}\n",
        "alerts.sinks[0].type: input should be 'webhook', 'slack', 'pagerduty' or 'alertmanager'",
    ),
    (
        "sink-without-url",
        TARGET + "alerts:\n  sinks:\n    - {name: chat, type: slack}\n",
        "alerts.sinks[0]: a slack sink needs url (or url_file)",
    ),
    (
        "events-unknown-route",
        TARGET + "    events: {via: kafka}\n",
        "targets[0].events.via: input should be 'sns' or 'eventbridge'",
    ),
    (
        "events-unknown-event-type",
        TARGET + "    events: {event_types: [SEND, BOUNCED]}\n",
        "targets[0].events.event_types: unknown event types ['BOUNCED']; known: SEND, REJECT, BOUNCE, "
        "COMPLAINT, DELIVERY, OPEN, CLICK, RENDERING_FAILURE, DELIVERY_DELAY, SUBSCRIPTION",
    ),
    (
        "events-bad-topic-name",
        TARGET + "    events: {topic_name: 'ses events'}\n",
        "targets[0].events.topic_name: 'ses events' must be 1-64 letters, digits, '_' or '-'",
    ),
    (
        "volume-too-small",
        TARGET + "volume_window:\n  recipients: 10\n",
        "volume_window.recipients: input should be greater than or equal to 100",
    ),
    (
        "duplicate-key",
        TARGET + "    region: eu-west-1\n",
        "invalid YAML at line 4: duplicate key 'region' (first given at line 3)",
    ),
    (
        "duplicate-top-level-key",
        TARGET + "windows: [1h]\nwindows: [24h]\n",
        "invalid YAML at line 5: duplicate key 'windows' (first given at line 4)",
    ),
    (
        "alias-bomb",
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "invalid YAML at line 6: aliases expand to more than 100,000 values (an alias bomb?)",
    ),
    (
        "recursive-alias",
        "targets: &t\n  - *t\n",
        "invalid YAML at line 1: recursive alias: an anchor's value contains an alias to itself",
    ),
    (
        "deep-nesting",
        "targets: " + "[" * 5000 + "]" * 5000 + "\n",
        "invalid YAML at line 1: nested deeper than 64 levels",
    ),
    (
        "rate-threshold-as-percent",
        TARGET + "alerts:\n  rules:\n    - {name: BounceHigh, signal: bounce_rate, window: 1h, warning: 5}\n",
        "alerts.rules[0].warning: 5 is outside [0, 1]: thresholds are fractions, 0.05 means 5%",
    ),
    (
        "rate-threshold-negative",
        TARGET
        + "alerts:\n  rules:\n    - {name: BounceHigh, signal: bounce_rate, window: 1h, critical: -0.1}\n",
        "alerts.rules[0].critical: -0.1 is outside [0, 1]: thresholds are fractions, 0.05 means 5%",
    ),
    (
        "empty-sqs",
        TARGET + "    sqs:\n",
        "targets[0].sqs: is empty: give queue_url, or remove the sqs key to not read events",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_prints_one_exact_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    path = tmp_path / "sesmon.yaml"
    path.write_text(text)
    assert main(["check-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"{path}: {expected}\n"


def test_there_are_at_least_twenty_distinct_cases() -> None:
    assert len({c[2] for c in CASES}) >= 20


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.yaml"
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: file not found\n"


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A directory stands in for an unreadable file: root (as CI runs) can read any mode bits.
    assert main(["check-config", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"{tmp_path}: is a directory, not a config file\n"


def test_several_problems_one_line_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sesmon.yaml"
    path.write_text(TARGET + "    sqs: {}\nserver:\n  listen: nope\nlogging:\n  format: xml\n")
    assert main(["check-config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: targets[0].sqs.queue_url: field required",
        f"{path}: server.listen: 'nope' is not HOST:PORT with a port from 0 to 65535",
        f"{path}: logging.format: input should be 'json' or 'text'",
    ]


@pytest.mark.parametrize("command", [["check-config"], ["run", "--config"]])
def test_subprocess_exit_code_and_no_traceback(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "sesmon.yaml"
    path.write_text(TARGET + "    sqs: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "sesmon.cli", *command, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == f"{path}: targets[0].sqs.queue_url: field required\n"
    assert "Traceback" not in result.stdout + result.stderr


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["frobnicate"])
    assert exc.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
