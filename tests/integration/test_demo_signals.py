"""`sesmon demo` without --duration ends cleanly, exit 0, on Ctrl-C (SIGINT) and on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import environment_without_aws
from tests.integration.test_demo import _command

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_demo_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*_command(), "demo", "--scenario", "steady", "--listen", "127.0.0.1:0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=environment_without_aws(),
        cwd=tmp_path,
        text=True,
    )
    lines: list[str] = []
    first_summary = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("t+"):
                first_summary.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Wait until traffic flows and the daemon reports (bounded), then interrupt.
        assert first_summary.wait(timeout=60), "".join(lines)
        proc.send_signal(signum)
        code = proc.wait(timeout=45)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    output = "".join(lines)
    assert code == 0, output
    assert "(signal)" in output
    assert "config kept at" in output
    assert "Traceback" not in output
    assert (tmp_path / "sesmon.yaml").exists()
