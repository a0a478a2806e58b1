"""A real Alertmanager (Debian's prometheus-alertmanager) fed by the alertmanager sink: firing, then
resolved, both reach its webhook receiver."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from sesmon.alerts.component import AlertsComponent
from sesmon.config import AlertsConfig
from sesmon.signals import Observation
from sesmon.state.sqlite import SqliteState
from tests.integration.alert_receivers import Receiver, receiver

LABELS = Observation.make_labels(target="prod", configuration_set="marketing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture
def alertmanager(tmp_path: Path, hook: Receiver, alertmanager_binary: str) -> Iterator[str]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        f"""
route:
  receiver: hook
  group_by: [alertname, configuration_set]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook.url}/am
        send_resolved: true
"""
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            alertmanager_binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # bounded wait for another process to become ready
            try:
                if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"alertmanager did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Provider:
    def __init__(self) -> None:
        self.value = 0.0

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"bounce_rate"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        return [Observation(signal, LABELS, self.value, recipients=2000, events=int(self.value * 2000))]


def test_firing_then_resolved_reach_the_receiver(alertmanager: str, hook: Receiver, tmp_path: Path) -> None:
    config = AlertsConfig.model_validate(
        {
            "rules": [
                {
                    "name": "BounceRateHigh",
                    "signal": "bounce_rate",
                    "window": "1h",
                    "warning": 0.05,
                    "for": "0s",
                }
            ],
            "sinks": [{"name": "am", "type": "alertmanager", "url": alertmanager}],
        }
    )
    provider = Provider()
    store = SqliteState(tmp_path / "state.db")
    # Alertmanager judges startsAt/endsAt against its own clock, so this test runs on real time.
    comp = AlertsComponent(config, store, [provider], clock=time.time)
    provider.value = 0.08
    assert [n.reason for n in comp.evaluate(time.time())] == ["fired"]
    firing = hook.wait_for(1)[0].json()
    assert firing["status"] == "firing"
    alert = firing["alerts"][0]
    assert alert["labels"]["alertname"] == "BounceRateHigh"
    assert alert["labels"]["severity"] == "warning"
    assert alert["labels"]["configuration_set"] == "marketing"
    assert alert["labels"]["target"] == "prod"
    assert "8%" in alert["annotations"]["summary"]

    listed = httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()
    assert len(listed) == 1
    ends_in = _parse(listed[0]["endsAt"]) - time.time()
    assert 60 < ends_in <= 300  # endsAt in the future, refreshed well within resolve_timeout

    comp.refresh_alertmanager(time.time())  # a refresh keeps the same alert (no duplicate)
    assert len(httpx.get(f"{alertmanager}/api/v2/alerts", timeout=5).json()) == 1

    provider.value = 0.0
    assert [n.status for n in comp.evaluate(time.time())] == ["resolved"]
    got = hook.wait_for(2)
    resolved = got[-1].json()
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["labels"]["alertname"] == "BounceRateHigh"
    assert store.outbox_counts() == {("am", "delivered"): 2}
    store.close()


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
