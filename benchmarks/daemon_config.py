"""The daemon as benchmarks run it: its config (one target on a local endpoint) and its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from benchmarks.sqs_server import LocalSqs


def write_daemon_config(
    path: Path,
    endpoint: str,
    queue_url: str,
    *,
    state: dict[str, Any],
    sqs: dict[str, Any] | None = None,
    target: dict[str, Any] | None = None,
    listen: str = "127.0.0.1:0",
    **sections: Any,
) -> Path:
    """Write the daemon's config to ``path`` and return it.

    AWS polling is off (the local endpoints speak SQS only); ``sqs`` adds to the target's queue
    settings, ``target`` to the target itself, ``sections`` are further top-level sections (alerts …).
    Everything else is the shipped default, so the daemon runs its real code paths.
    """
    doc: dict[str, Any] = {
        "targets": [
            {
                "name": "bench",
                "region": "us-east-1",
                "endpoint_url": endpoint,
                "sqs": {"queue_url": queue_url, "on_invalid": "delete", **(sqs or {})},
                "cloudwatch": {"enabled": False},
                "account": {"enabled": False},
                "identities": {"enabled": False},
                **(target or {}),
            }
        ],
        "dns": {"enabled": False},
        "state": state,
        "server": {"listen": listen},
        "logging": {"level": "warning"},
        **sections,
    }
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@contextmanager
def running_daemon(config: Path, sqs: LocalSqs) -> Iterator[subprocess.Popen[bytes]]:
    """``sesmon run --config config`` in its own process (log to a file beside the config: a pipe
    nobody reads could fill and stall it); stopped with SIGTERM, the local queue closed, on exit."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    with (config.parent / "daemon.log").open("w+b") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sesmon.cli", "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            yield proc
        finally:
            stop_process(proc, sqs)


def stop_process(proc: subprocess.Popen[bytes], sqs: LocalSqs, pid: int | None = None) -> None:
    """SIGTERM to ``pid`` (the measured process; ``proc`` itself by default, or the child a profiler
    started), close the local queue so no long poll holds it, then reap ``proc`` (killed after 60 s)."""
    os.kill(proc.pid if pid is None else pid, signal.SIGTERM)
    sqs.queue.close()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_until(condition: Callable[[], bool], what: str, timeout: float) -> None:
    """Sample ``condition`` until it holds (the daemon is another process); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        tick.wait(0.02)
