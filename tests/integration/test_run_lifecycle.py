"""`sesmon run` as a real process: endpoints answer, SIGTERM exits 0 quickly, secrets never leak."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import orjson

from tests.conftest import MotoServer, environment_without_aws

PROJECT_VERSION = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
    "version"
]

HOOK_TOKEN = "T0KEN-7f3a9c-hook-secret"
HMAC_SECRET = "hmac-9d2b41-very-secret"


def _config(tmp_path: Path, endpoint: str) -> Path:
    (tmp_path / "hmac.key").write_text(HMAC_SECRET + "\n")
    path = tmp_path / "sesmon.yaml"
    path.write_text(
        f"""
targets:
  - name: local
    region: us-east-1
    endpoint_url: {endpoint}
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
dns: {{enabled: false}}
state: {{path: {tmp_path / "state.db"}}}
server: {{listen: "127.0.0.1:0"}}
alerts:
  sinks:
    - name: hook
      type: webhook
      url: ${{SESMON_TEST_HOOK_URL}}
      secret_file: hmac.key
"""
    )
    return path


def _wait_for_port(proc: subprocess.Popen[bytes], lines: list[bytes]) -> int:
    assert proc.stdout is not None
    for _ in range(200):
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        record = orjson.loads(line)
        if record.get("event") == "started":
            return int(record["listen"].rpartition(":")[2])
    raise AssertionError(f"daemon never reported 'started': {b''.join(lines)!r}")


def test_run_serves_endpoints_and_stops_on_sigterm(tmp_path: Path, moto_server: MotoServer) -> None:
    config = _config(tmp_path, moto_server.endpoint_url)
    env = environment_without_aws() | {"SESMON_TEST_HOOK_URL": f"https://hooks.example/{HOOK_TOKEN}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sesmon.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    lines: list[bytes] = []
    try:
        port = _wait_for_port(proc, lines)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        deadline = time.monotonic() + 30
        ready = httpx.get(f"{base}/readyz", timeout=5)
        while ready.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)  # polling another process's readiness; nothing to await in-process
            ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        # pyproject.toml is the one place the version is written; the metric reads it from the metadata.
        assert f'sesmon_build_info{{version="{PROJECT_VERSION}"}} 1.0' in metrics
        page = httpx.get(f"{base}/", timeout=5).text
        assert "<h1>sesmon" in page
        assert httpx.get(f"{base}/nope", timeout=5).status_code == 404

        # How fast it stops is no test matter (a loaded machine makes it slow): that it stops, cleanly.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None
    assert proc.stderr is not None
    output = b"".join(lines) + proc.stdout.read() + proc.stderr.read()
    events = [orjson.loads(line)["event"] for line in output.splitlines() if line.startswith(b"{")]
    assert events[:2] == ["state_file_created", "started"]  # a fresh state file is announced first
    assert events[-1] == "stopped"
    for text in (output.decode(), metrics, page):
        assert HOOK_TOKEN not in text
        assert HMAC_SECRET not in text


def test_config_error_next_to_a_secret_does_not_print_it(tmp_path: Path) -> None:
    (tmp_path / "hmac.key").write_text(HMAC_SECRET)
    path = tmp_path / "sesmon.yaml"
    path.write_text(
        """
targets:
  - name: local
    region: ${SESMON_TEST_REGION}
alerts:
  sinks:
    - name: hook
      type: webhook
      url: ${SESMON_TEST_HOOK_URL}
      secret_file: hmac.key
      min_severity: loud
    - name: broken
      type: webhook
      url: ${SESMON_TEST_NOT_A_URL}
"""
    )
    env = environment_without_aws() | {
        "SESMON_TEST_HOOK_URL": f"https://hooks.example/{HOOK_TOKEN}",
        "SESMON_TEST_NOT_A_URL": f"hooks.example/{HOOK_TOKEN}",
        # A secret can land in a field whose error would echo the value: it must still be masked.
        "SESMON_TEST_REGION": HMAC_SECRET,
    }
    for command in (["check-config", str(path)], ["run", "--config", str(path)]):
        result = subprocess.run(
            [sys.executable, "-m", "sesmon.cli", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            f"{path}: targets[0].region: '***' is not an AWS region name such as us-east-1",
            f"{path}: alerts.sinks[0].min_severity: input should be 'info', 'warning' or 'critical'",
            f"{path}: alerts.sinks[1].url: must be an http:// or https:// URL",
        ]
        assert HOOK_TOKEN not in result.stdout + result.stderr
        assert HMAC_SECRET not in result.stdout + result.stderr


def test_repeated_sigint_still_exits_promptly(tmp_path: Path, moto_server: MotoServer) -> None:
    config = _config(tmp_path, moto_server.endpoint_url)
    env = environment_without_aws() | {"SESMON_TEST_HOOK_URL": "https://hooks.example/x"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sesmon.cli", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        _wait_for_port(proc, [])
        os.kill(proc.pid, signal.SIGINT)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) in (0, 1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
