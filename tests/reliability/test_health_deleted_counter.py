"""sesmon_sqs_messages_deleted_total is exact across SIGKILL: kill the daemon at random moments while
it drains moto's SQS; on the same state, the counter ends equal to the messages sent, each deleted once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from tests.conftest import MotoServer, environment_without_aws
from tests.queues import depth, feed
from tests.sesgen import SesEventGenerator

SESMON = [sys.executable, "-m", "sesmon.cli"]
MESSAGES = 1_500
KILLS = 8


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_deleted_counter_is_exact_across_sigkill(moto_server: MotoServer, tmp_path: Path) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server.endpoint_url)
    queue_url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
    gen = SesEventGenerator(seed=12, start=time.time() - 1800, spread=1700)
    bodies = [gen.event().body for _ in range(MESSAGES)]
    config = tmp_path / "sesmon.yaml"
    # One receiver: SQS never hands a message to two receivers at once then, so every message is
    # received-and-deleted exactly once and the counter must equal the messages sent.
    config.write_text(
        f"""
targets:
  - name: prod
    region: us-east-1
    endpoint_url: {moto_server.endpoint_url}
    sqs: {{queue_url: {queue_url}, receivers: 1, wait_time_seconds: 1, visibility_timeout_seconds: 10}}
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
state: {{path: {tmp_path / "state.db"}}}
server: {{listen: "127.0.0.1:0"}}
""",
        encoding="utf-8",
    )
    rng = random.Random(99)
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(sqs, queue_url, bodies, stop), daemon=True)
    feeder.start()
    proc: subprocess.Popen[bytes] | None = None
    env = environment_without_aws()
    with (tmp_path / "daemon.log").open("ab") as log:
        try:
            for _ in range(KILLS):
                proc = subprocess.Popen(
                    [*SESMON, "run", "--config", str(config)], stdout=log, stderr=log, env=env
                )
                time.sleep(rng.uniform(1.5, 4.0))  # a random moment to kill at: the point of the test
                assert proc.poll() is None, "the daemon exited on its own"
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            daemon_log = tmp_path / "daemon.log"
            log.flush()
            starts_before = daemon_log.read_text(encoding="utf-8").count('"event":"started"')
            proc = subprocess.Popen(
                [*SESMON, "run", "--config", str(config)], stdout=log, stderr=log, env=env
            )
            deadline = time.monotonic() + 600
            while (feeder.is_alive() or depth(sqs, queue_url) > 0) and time.monotonic() < deadline:
                assert proc.poll() is None, "the daemon exited on its own"
                stop.wait(0.5)
            assert depth(sqs, queue_url) == 0, "queue not drained"
            # The queue may have drained before this daemon even started: a SIGTERM before it has
            # installed its handlers would kill it, not stop it. Await its "started" line first.
            while daemon_log.read_text(encoding="utf-8").count('"event":"started"') <= starts_before:
                assert proc.poll() is None, "the daemon exited on its own"
                assert time.monotonic() < deadline, "the last daemon never started"
                stop.wait(0.2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            stop.set()
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
            feeder.join(10)

    from sesmon.state.sqlite import SqliteState  # noqa: PLC0415

    store = SqliteState(tmp_path / "state.db")
    try:
        counters = store.ingest_load("prod").counters
    finally:
        store.close()
    assert counters[("sqs", "counted")] == MESSAGES
    assert counters[("sqs", "deleted")] == MESSAGES
    # Kills landed between commits and deletes: some batches came back and were duplicates.
    assert counters[("sqs", "received")] == MESSAGES + counters.get(("sqs", "duplicate"), 0)
