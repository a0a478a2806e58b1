"""A real ``sesmon run`` process against moto's SQS, for the state-file fault tests: start, scrape, stop."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import httpx
import orjson
from prometheus_client.parser import text_string_to_metric_families

from sesmon.state.sqlite import SqliteState
from tests.conftest import MotoServer, environment_without_aws
from tests.queue_config import queue_only_config

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SESMON = [sys.executable, "-m", "sesmon.cli"]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def stored_counters(state: Path | str) -> dict[tuple[str, ...], int]:
    """What the state file holds for target ``prod`` (read once sesmon has stopped)."""
    store = SqliteState(state)
    try:
        return store.ingest_load("prod").counters
    finally:
        store.close()


def event_counters(counters: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """The event counters, without the SQS message accounting."""
    return {k: v for k, v in counters.items() if k[0] != "sqs"}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Wait until ``condition()`` holds; the timeout only turns a hang into a failure."""
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        pause.wait(0.05)


class SesmonProcess:
    """``sesmon run`` on one queue and one state file; its log goes to ``directory/sesmon-N.log``."""

    def __init__(
        self, moto: MotoServer, directory: Path, state: Path, state_extra: str = "", extra: str = ""
    ) -> None:
        self.directory = directory
        self.state = state
        self.sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto.endpoint_url)
        self.queue_url = self.sqs.create_queue(QueueName="ses-events")["QueueUrl"]
        self.config = directory / "sesmon.yaml"
        self.config.write_text(
            queue_only_config(
                moto.endpoint_url,
                self.queue_url,
                state,
                state_extra=state_extra,
                extra=f"{extra}\nlogging:\n  level: info",
            ),
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.log: Path = directory / "sesmon-0.log"
        self.port = 0

    # -- the process ------------------------------------------------------------------------------

    def start(self, *, wait_started: bool = True) -> subprocess.Popen[bytes]:
        """Start ``sesmon run`` (its stdout is the JSON log, its stderr kept apart)."""
        self.runs += 1
        self.log = self.directory / f"sesmon-{self.runs}.log"
        self.err = self.directory / f"sesmon-{self.runs}.err"
        with self.log.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [*SESMON, "run", "--config", str(self.config)],
                stdout=out,
                stderr=err,
                env=environment_without_aws(),
            )
        if wait_started:
            wait_for(lambda: self._started() or self.proc is None or self.proc.poll() is not None, "start-up")
            assert self.proc.poll() is None, self.stderr()
        return self.proc

    def _started(self) -> bool:
        for event in self.events("started"):
            self.port = int(str(event["listen"]).rpartition(":")[2])
            return True
        return False

    def wait_exit(self, timeout: float = 60.0) -> int:
        """The exit code, once the process ended by itself."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL if it does not stop); the exit code, or None when not running."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                return proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait(10)
        return proc.returncode

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8") if self.err.exists() else ""

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines of the current run with ``"event": name``."""
        out = []
        if self.log.exists():
            for line in self.log.read_text(encoding="utf-8").splitlines():
                if f'"event":"{name}"' in line:
                    out.append(orjson.loads(line))
        return out

    # -- what it shows ---------------------------------------------------------------------------

    def metrics(self) -> Samples:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10).text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """Sum of ``name``'s samples whose labels include ``labels``."""
        return sum(
            v for (n, sample), v in self.metrics().items() if n == name and set(labels.items()) <= set(sample)
        )

    # -- the queue -------------------------------------------------------------------------------

    def send(self, bodies: list[str]) -> None:
        for i in range(0, len(bodies), 10):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])
            ]
            assert not self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed")

    def depth(self) -> int:
        """Messages in the queue, visible or in flight (not yet deleted)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
