"""`sesmon demo` end to end, as a user runs it: metrics, the marketing bounce alert at the webhook, exit 0."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import environment_without_aws

pytestmark = pytest.mark.slow

DURATION = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).parent / "sesmon"
    if script.exists():
        return [str(script)]
    found = shutil.which("sesmon")
    return [found] if found else [sys.executable, "-m", "sesmon.cli"]


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples
    ]


def _value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float | None:
    for sample_name, sample_labels, value in samples:
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


def test_bounce_spike_demo(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            *_command(),
            "demo",
            "--scenario",
            "bounce-spike",
            "--duration",
            str(DURATION),
            "--listen",
            f"127.0.0.1:{port}",
            "--dir",
            str(tmp_path / "demo"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment_without_aws(),
        cwd=tmp_path,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    scrapes: list[list[tuple[str, dict[str, str], float]]] = []
    healthy = None
    try:
        # Scrape every couple of seconds while the demo runs; keep the first scrape that shows both
        # configuration sets with traffic and the account polled, and watch `transactional` throughout.
        while proc.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            except httpx.TransportError:
                time.sleep(1)
                continue
            samples = _samples(response.text)
            scrapes.append(samples)
            sent = {
                name: _value(samples, "sesmon_window_sent_recipients", configuration_set=name, window="1h")
                for name in ("marketing", "transactional")
            }
            account_ok = _value(samples, "sesmon_account_enforcement_status", status="HEALTHY") == 1
            if healthy is None and account_ok and all((v or 0) >= 100 for v in sent.values()):
                healthy = samples
            time.sleep(2)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    output = "".join(lines)

    assert proc.returncode == 0, output
    assert healthy is not None, f"never saw both sets with traffic and a HEALTHY account:\n{output}"
    marketing = _value(healthy, "sesmon_window_sent_recipients", configuration_set="marketing", window="1h")
    transactional = _value(
        healthy, "sesmon_window_sent_recipients", configuration_set="transactional", window="1h"
    )
    assert marketing is not None
    assert transactional is not None
    # The demo sends about twice as much marketing mail as transactional, a few dozen per second.
    assert 1.3 < marketing / transactional < 3.0
    assert marketing < 60 * DURATION
    assert _value(healthy, "sesmon_account_sending_enabled") == 1
    assert _value(healthy, "sesmon_account_production_access_enabled") == 1
    assert _value(healthy, "sesmon_events_total", configuration_set="marketing", event_type="delivery")
    assert _value(healthy, "sesmon_source_up", source="sqs") == 1

    # `transactional` never alerts, in any scrape or at the webhook.
    for samples in scrapes:
        for name, labels, value in samples:
            if name == "sesmon_alerts_firing" and labels.get("configuration_set") == "transactional":
                assert value == 0, labels
    webhook = [line for line in lines if line.startswith("[webhook")]
    assert not [line for line in webhook if "configuration_set=transactional" in line], output

    # The bounce alert for `marketing` fired and reached the demo's webhook, signed.
    fired = [
        line
        for line in webhook
        if "FIRING" in line and "BounceRateHigh" in line and "configuration_set=marketing" in line
    ]
    assert fired, output
    assert "signature ok" in fired[0]
    assert any(
        name == "sesmon_alerts_firing" and labels.get("configuration_set") == "marketing" and value == 1
        for samples in scrapes
        for name, labels, value in samples
    )

    # The console told the user where to look, and how fast this was against CloudWatch.
    assert f"http://127.0.0.1:{port}/metrics" in output
    assert str(tmp_path / "demo" / "sesmon.yaml") in output
    assert "detection latency" in output
    assert "CloudWatch alarm  >= " in output
    assert "t+" in output
    assert "marketing:" in output
    assert "Traceback" not in output
