"""`sesmon demo --scenario pause` as a user runs it: the spiking set is paused in SES, `sesmon resume` works.

moto lacks the SES v2 sending switches; the demo's middleware answers them (sesmon/demo/middleware.py),
and the demo's simulated sender stops sending through a paused set, as SES would.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import environment_without_aws
from tests.integration.test_demo import _command, _free_port, _samples, _value

pytestmark = pytest.mark.slow

DURATION = 90


class Lines:
    """The demo's console, read on a thread; waits for a line without sleeping blind."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        assert proc.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in iter(proc.stdout.readline, ""):
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, found: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if found(line):
                        return line
                left = deadline - time.monotonic()
                assert left > 0, "".join(self.lines)
                self._changed.wait(left)

    def text(self) -> str:
        with self._changed:
            return "".join(self.lines)


def test_pause_scenario_pauses_the_set_and_resume_reenables_it(tmp_path: Path) -> None:
    port = _free_port()
    directory = tmp_path / "demo"
    args = ["demo", "--scenario", "pause", "--duration", str(DURATION), "--listen", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*_command(), *args, "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment_without_aws(),
        cwd=tmp_path,
        text=True,
    )
    try:
        console = Lines(proc)
        canary = console.wait_for(lambda line: "canary: a message to the mailbox simulator" in line, 60)
        assert "SES → SNS → SQS → sesmon works" in canary
        paused = console.wait_for(lambda line: "is PAUSED" in line, 80)
        assert "configuration set 'marketing' is PAUSED" in paused
        samples = _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text)
        done = _value(samples, "sesmon_actions_total", action="pause_configuration_set", result="done")
        assert done == 1
        assert "Actions (mode enforce)" in httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text
        # The printed command, run as printed by a shell with no AWS credentials and no sesmon on PATH.
        hint = console.wait_for(lambda line: "resume --config" in line, 10).strip()
        assert "while this demo runs" in console.text()
        assert f"--config {directory / 'sesmon.yaml'} --configuration-set marketing" in hint
        shell_env = {k: v for k, v in environment_without_aws().items() if not k.startswith("AWS_")}
        shell_env["AWS_EC2_METADATA_DISABLED"] = "true"  # never ask the instance metadata service
        shell_env["PATH"] = "/usr/bin:/bin"
        resume = subprocess.run(
            ["/bin/sh", "-c", hint],
            capture_output=True,
            text=True,
            env=shell_env,
            cwd=tmp_path.parent,  # another shell, elsewhere
            timeout=60,
            check=False,
        )
        assert resume.returncode == 0, resume.stderr
        assert "resumed sending of configuration set marketing on target demo" in resume.stdout
        console.wait_for(lambda line: "'marketing' resumed" in line, 30)
        proc.wait(timeout=DURATION + 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, console.text()
    assert "would pause" not in console.text()  # enforce mode: it acted
