"""Valid configs: the shipped example, defaults, interpolation, *_file secrets and durations."""

from __future__ import annotations

from pathlib import Path

import pytest

from sesmon import redact
from sesmon.cli import main
from sesmon.config_loader import ConfigError, load_config, parse_config
from sesmon.durations import DurationError, format_duration, parse_duration

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(ROOT / "config.example.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{ROOT / 'config.example.yaml'}: ok: 1 target(s) (prod-us-east-1@us-east-1)")


def test_example_config_documents_every_top_level_key() -> None:
    from sesmon.config import Config  # noqa: PLC0415

    text = (ROOT / "config.example.yaml").read_text()
    for key in Config.model_fields:
        assert f"\n{key}:" in text, f"config.example.yaml does not document {key}"


def test_defaults() -> None:
    config = parse_config("targets:\n  - {name: prod, region: eu-west-1}\n", {})
    target = config.targets[0]
    assert target.sqs is None
    assert target.cloudwatch.interval == 300
    assert target.cloudwatch.delay == 600
    assert config.windows == ("1h", "24h")
    assert config.window_seconds == {"1h": 3600.0, "24h": 86400.0}
    assert config.volume_window.recipients == 10_000
    assert config.volume_window.max_age == 14 * 86400
    assert config.state.dedup_ttl == 4 * 86400
    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9469
    assert config.alerts.repeat_interval == 4 * 3600
    assert target.allows_configuration_set("anything")


def test_interpolation_with_default_and_environment() -> None:
    text = (
        "targets:\n  - name: ${NAME}\n    region: ${REGION:-us-west-2}\n"
        "    sqs: {queue_url: 'https://sqs.us-west-2.amazonaws.com/${ACCOUNT}/q'}\n"
    )
    config = parse_config(text, {"NAME": "staging", "ACCOUNT": "210987654321"})
    assert config.targets[0].name == "staging"
    assert config.targets[0].region == "us-west-2"
    assert config.targets[0].sqs is not None
    assert config.targets[0].sqs.account_id == "210987654321"
    assert config.targets[0].sqs.queue_name == "q"


def test_secret_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "hook.url").write_text("https://hooks.example/T0KEN-abc\n")
    (tmp_path / "sesmon.yaml").write_text(
        "targets:\n  - {name: prod, region: us-east-1}\n"
        "alerts:\n  sinks:\n    - {name: hook, type: webhook, url_file: hook.url}\n"
    )
    config = load_config(tmp_path / "sesmon.yaml", {})
    sink = config.alerts.sinks[0]
    assert sink.url is not None
    assert sink.url.get_secret_value() == "https://hooks.example/T0KEN-abc"
    assert "T0KEN" not in repr(config)
    # Loaded secrets are masked in every later log line and message.
    assert redact.redact("posting to https://hooks.example/T0KEN-abc failed") == "posting to *** failed"


def test_port_zero_and_ipv6_listen() -> None:
    config = parse_config("targets:\n  - {name: p, region: us-east-1}\nserver: {listen: '[::1]:0'}\n", {})
    assert (config.server.host, config.server.port) == ("::1", 0)


def test_config_is_immutable() -> None:
    from pydantic import ValidationError  # noqa: PLC0415

    config = parse_config("targets:\n  - {name: p, region: us-east-1}\n", {})
    with pytest.raises(ValidationError):
        config.targets[0].name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("24h", 86400), ("14d", 14 * 86400), ("1h30m", 5400), ("250ms", 0.25)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5x", "m5", "-5m", "0s", 5, True, None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for text in ("30s", "5m", "2h", "3d", "2w"):
        assert format_duration(parse_duration(text)) == text


def test_error_lists_every_problem() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config("targets:\n  - {name: '!', region: x}\n", {})
    assert exc.value.problems == [
        "<config>: targets[0].name: must start with a letter or digit and use only letters, digits, "
        "'_', '.', '-'",
        "<config>: targets[0].region: 'x' is not an AWS region name such as us-east-1",
    ]


def test_closed_stdout_is_not_a_traceback() -> None:
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    # `sesmon iam-policy ... | head`: the reader is gone before the writer prints. Closing our end of
    # the pipe at once makes that certain: the child is still importing when it happens.
    proc = subprocess.Popen(
        [sys.executable, "-m", "sesmon.cli", "iam-policy", "--config", str(ROOT / "config.example.yaml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"Traceback" not in stderr
