"""Sink secrets (webhook URL token, HMAC secret, Slack URL, PagerDuty key, Alertmanager password) never
show in logs, metrics, the status page, error output or the state file — with every sink failing."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sesmon import cli, logs
from sesmon.alerts.component import build_alerts_component
from sesmon.config_loader import parse_config
from sesmon.daemon import Daemon
from sesmon.health import SourceHealth
from sesmon.signals import Observation
from sesmon.state.sqlite import SqliteState
from tests.integration.alert_receivers import Receiver, receiver

WEBHOOK_TOKEN = "whk-token-7f3a9c1e"
HMAC_SECRET = "hmac-secret-52b1d0"
SLACK_TOKEN = "slack-token-88ac3e"
PD_KEY = "pd-routing-key-4c1d9e77"
AM_PASSWORD = "am-pass-0f9e1b"
SECRETS = (WEBHOOK_TOKEN, HMAC_SECRET, SLACK_TOKEN, PD_KEY, AM_PASSWORD)
T0 = 1_767_225_600.0


class RawRecords(logging.Handler):
    """Every sesmon log record as passed to the logger, before any formatter masks anything."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {getattr(record, 'fields', {})!r}")


class Provider:
    def __init__(self) -> None:
        self.value = 0.2

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"bounce_rate"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        labels = Observation.make_labels(target="prod", configuration_set="marketing")
        return [Observation(signal, labels, self.value, recipients=5000, events=int(self.value * 5000))]


@pytest.fixture
def failing() -> Iterator[Receiver]:
    with receiver() as r:
        r.mode, r.status = "fail", 500
        yield r


@pytest.fixture
def hanging() -> Iterator[Receiver]:
    with receiver() as r:
        r.mode = "hang"
        yield r


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_secrets_never_leak(failing: Receiver, hanging: Receiver, tmp_path: Path) -> None:
    env = {
        "HOOK_URL": f"{failing.url}/hooks/{WEBHOOK_TOKEN}",
        "HOOK_SECRET": HMAC_SECRET,
        "SLACK_URL": f"{hanging.url}/services/T0/B0/{SLACK_TOKEN}",
        "PD_KEY": PD_KEY,
        "AM_URL": f"http://sesmon:{AM_PASSWORD}@127.0.0.1:{closed_port()}",
    }
    text = f"""
targets:
  - {{name: prod, region: us-east-1}}
state: {{path: '{tmp_path / "state.db"}'}}
server: {{listen: '127.0.0.1:0'}}
alerts:
  rules:
    - {{name: BounceRateHigh, signal: bounce_rate, window: 1h, warning: 0.05, critical: 0.1}}
  sinks:
    - {{name: hook, type: webhook, url: '${{HOOK_URL}}', secret: '${{HOOK_SECRET}}'}}
    - {{name: slack, type: slack, url: '${{SLACK_URL}}', timeout: 200ms}}
    - {{name: pager, type: pagerduty, url: '{failing.url}/pd', routing_key: '${{PD_KEY}}'}}
    - {{name: am, type: alertmanager, url: '${{AM_URL}}'}}
"""
    config = parse_config(text, env)
    stream = io.StringIO()
    logs.configure("debug", "json", stream=stream)
    raw = RawRecords()
    logging.getLogger("sesmon").addHandler(raw)
    now = [T0]
    provider = Provider()
    try:
        store = SqliteState(tmp_path / "alerts.db")
        comp = build_alerts_component(config.alerts, store, SourceHealth(), lambda: now[0], [provider])
        daemon = Daemon(config, clock=lambda: now[0], components=[comp])
        daemon.start()
        try:
            for step in range(0, 1800, 30):
                now[0] = T0 + step
                comp.evaluate(now[0])
                if step % 60 == 0:
                    comp.refresh_alertmanager(now[0])
            base = f"http://127.0.0.1:{daemon.port}"
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
            status = httpx.get(f"{base}/", timeout=10).text
        finally:
            daemon.shutdown()
            store.close()
    finally:
        logging.getLogger("sesmon").removeHandler(raw)
        logs.configure("info", "json", stream=io.StringIO())

    # The failures really happened (so their errors were logged) …
    assert failing.attempts
    assert hanging.attempts
    assert 'sesmon_notification_failures_total{sink="hook"}' in metrics
    assert "sesmon_alerts_firing" in metrics
    assert "BounceRateHigh" in status
    assert "notification_failed" in stream.getvalue()
    assert "HTTP 500" in stream.getvalue()
    assert "timeout" in stream.getvalue()
    assert "connection failed" in stream.getvalue()
    # … and no secret is anywhere: formatted logs, raw log records, metrics, status page, state file.
    state = (tmp_path / "alerts.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("alerts.db*") if p.is_file()
    )
    for secret in SECRETS:
        assert secret not in stream.getvalue()
        assert all(secret not in line for line in raw.lines)
        assert secret not in metrics
        assert secret not in status
        assert secret.encode() not in state


def test_config_errors_do_not_echo_sink_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "targets:\n  - {name: prod, region: us-east-1}\n"
        "alerts:\n  sinks:\n"
        f"    - {{name: hook, type: webhook, url: 'ftp://user:{WEBHOOK_TOKEN}@example.com/x'}}\n"
        f"    - {{name: slack, type: slack, url: 'https://hooks.slack.com/{SLACK_TOKEN}',\n"
        f"       secret: '{HMAC_SECRET}'}}\n"
    )
    assert cli.main(["check-config", str(bad)]) == 2
    assert cli.main(["rules", "--config", str(bad)]) == 2
    err = capsys.readouterr()
    assert "url" in err.err
    for secret in (WEBHOOK_TOKEN, SLACK_TOKEN, HMAC_SECRET):
        assert secret not in err.err + err.out
