"""SIGKILL the daemon at random moments while it drains SQS; restarted on the same state, it ends exact."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sesmon.state.sqlite import SqliteState
from tests.conftest import MotoServer, environment_without_aws
from tests.queue_config import queue_only_config
from tests.queues import depth, feed
from tests.sesgen import SesEventGenerator, expected_counters

# The daemon exactly as users start it, from the interpreter running the tests (any venv or clone).
SESMON = [sys.executable, "-m", "sesmon.cli"]
EVENTS = 3_000
DUPLICATES = 900
MALFORMED = 30
KILLS = 6


def _write_config(path: Path, moto: MotoServer, queue_url: str, state: Path) -> None:
    path.write_text(
        queue_only_config(moto.endpoint_url, queue_url, state, extra="logging:\n  level: info"),
        encoding="utf-8",
    )


def _spawn(config: Path, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*SESMON, "run", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment_without_aws(),
    )


@pytest.mark.slow
def test_sigkill_while_draining_loses_and_doubles_nothing(moto_server: MotoServer, tmp_path: Path) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server.endpoint_url)
    queue_url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
    now = time.time()
    gen = SesEventGenerator(seed=5, start=now - 1800, spread=1700)
    events = [gen.event() for _ in range(EVENTS)]
    malformed = [gen.malformed() for _ in range(MALFORMED)]
    rng = random.Random(1234)
    bodies = [e.body for e in events] + [e.body for e in rng.sample(events, DUPLICATES)]
    bodies += [b for b, _ in malformed]
    rng.shuffle(bodies)

    state = tmp_path / "state.db"
    config = tmp_path / "sesmon.yaml"
    _write_config(config, moto_server, queue_url, state)
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(sqs, queue_url, bodies, stop), daemon=True)
    feeder.start()
    kills = 0
    proc: subprocess.Popen[bytes] | None = None
    with (tmp_path / "daemon.log").open("ab") as log:
        try:
            for _ in range(KILLS):
                proc = _spawn(config, log)
                # A random moment, after start-up has had a chance to begin receiving.
                time.sleep(rng.uniform(1.5, 4.0))
                assert proc.poll() is None, "the daemon exited on its own"
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
                kills += 1
            # The kills landed while the daemon was draining: some batches were already committed.
            store = SqliteState(state)
            assert store.ingest_load("prod").counters.get(("sqs", "received"), 0) > 0
            store.close()
            proc = _spawn(config, log)
            deadline = time.monotonic() + 240
            # Bounded poll until everything is sent and drained (killed batches reappear after the
            # 10 s visibility timeout).
            while (feeder.is_alive() or depth(sqs, queue_url) > 0) and time.monotonic() < deadline:
                assert proc.poll() is None, "the daemon exited on its own"
                time.sleep(0.5)
            assert depth(sqs, queue_url) == 0, "queue not drained"
            exposed = _scrape(tmp_path / "daemon.log")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            stop.set()
            if proc is not None and proc.poll() is None:
                proc.kill()
            feeder.join(10)
    assert kills == KILLS

    store = SqliteState(state)
    counters = store.ingest_load("prod").counters
    store.close()
    got = {k: v for k, v in counters.items() if k[0] != "sqs"}
    assert got == expected_counters(events)
    assert counters[("sqs", "counted")] == EVENTS
    invalid = {k[2]: v for k, v in counters.items() if k[:2] == ("sqs", "invalid")}
    assert invalid == dict(Counter(reason for _, reason in malformed))
    # Every receipt is accounted for: counted once, or a duplicate, or invalid.
    assert counters[("sqs", "received")] == EVENTS + counters[("sqs", "duplicate")] + MALFORMED
    assert counters[("sqs", "duplicate")] >= DUPLICATES
    # /metrics of the last daemon agreed with the store.
    assert exposed["sesmon_events_total"] == EVENTS
    assert exposed["sesmon_sqs_messages_received_total"] == counters[("sqs", "received")]


def _scrape(log: Path) -> dict[str, float]:
    """Sum each sample name on the newest daemon's /metrics (its port is in its "started" log line)."""
    started = [line for line in log.read_text(encoding="utf-8").splitlines() if '"event":"started"' in line]
    port = orjson.loads(started[-1])["listen"].rpartition(":")[2]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    return sums
