"""Three `sesmon run` replicas on one PostgreSQL drain one SQS queue: a follower and then the leader are
SIGKILLed mid-stream, and still every counter and window is exact and each alert transition is
delivered once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sesmon.state.postgres import PostgresState
from tests.conftest import MotoServer, environment_without_aws
from tests.integration.alert_receivers import receiver
from tests.sesgen import SesEventGenerator, expected_counters, expected_rates

SESMON = [sys.executable, "-m", "sesmon.cli"]
MESSAGES = 20_000
DUPLICATES = 6_000  # 30 % of the messages are copies of another one
MAX_DEPTH = 60  # moto's SQS scans the whole queue on every call: keep it shallow
LEASE_TTL = 3.0
# min_recipients of each rule: transitions happen early, mid-stream and late.
RULE_VOLUMES = {"BounceEarly": 200, "BounceMid": 2_500, "BounceLate": 4_500}
THRESHOLD = 0.0001


def _config(path: Path, *, replica: str, moto: MotoServer, queue_url: str, dsn: str, hook: str) -> None:
    rules = "".join(
        f"""
    - name: {name}
      signal: bounce_rate
      window: 1h
      warning: {THRESHOLD}
      min_recipients: {volume}"""
        for name, volume in RULE_VOLUMES.items()
    )
    path.write_text(
        f"""
targets:
  - name: prod
    region: us-east-1
    endpoint_url: {moto.endpoint_url}
    sqs:
      queue_url: {queue_url}
      receivers: 2
      wait_time_seconds: 1
      visibility_timeout_seconds: 10
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
state:
  backend: postgresql
  dsn: "{dsn}"
  replica: {replica}
  lease_ttl: {LEASE_TTL:g}s
  refresh_interval: 1s
alerts:
  evaluation_interval: 1s
  repeat_interval: 24h
  sinks:
    - name: hook
      type: webhook
      url: {hook}
  rules:{rules}
server:
  listen: 127.0.0.1:0
logging:
  level: info
""",
        encoding="utf-8",
    )


@dataclass
class Replica:
    name: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    _handle: Any = field(default=None, repr=False)
    _offset: int = 0

    def start(self) -> None:
        self._handle = self.log.open("ab")
        self._offset = self.log.stat().st_size  # this run's lines come after what earlier runs wrote
        self.port = 0
        self.proc = subprocess.Popen(
            [*SESMON, "run", "--config", str(self.config)],
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            env=environment_without_aws(),
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def http_port(self) -> int:
        """The port of this run (from its "started" log line), 0 until it has started."""
        if not self.port:
            with self.log.open("rb") as f:
                f.seek(self._offset)
                lines = f.read().decode("utf-8", "replace").splitlines()
            started = [orjson.loads(line) for line in lines if '"event":"started"' in line]
            if started:
                self.port = int(started[0]["listen"].rpartition(":")[2])
        return self.port

    def scrape(self) -> list[Any]:
        text = httpx.get(f"http://127.0.0.1:{self.http_port()}/metrics", timeout=10).text
        return list(text_string_to_metric_families(text))

    def leads(self) -> bool:
        if not self.running() or not self.http_port():
            return False
        try:
            families = self.scrape()
        except httpx.HTTPError:
            return False
        return any(s.name == "sesmon_leader" and s.value == 1 for f in families for s in f.samples)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self._handle is not None:
            self._handle.close()


def _depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def _feed(sqs: Any, queue_url: str, bodies: list[str], stop: threading.Event) -> None:
    for i in range(0, len(bodies), 10):
        while _depth(sqs, queue_url) > MAX_DEPTH:
            if stop.wait(0.05):
                return
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def _until(condition: Any, timeout: float, what: str, pause: float = 0.2) -> None:
    """Poll ``condition`` until it holds (bounded); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(pause)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    made = [Replica(f"r{i}", tmp_path / f"r{i}.yaml", tmp_path / f"r{i}.log") for i in range(1, 4)]
    try:
        yield made
    finally:
        for r in made:
            r.close()


@pytest.mark.slow
def test_three_replicas_count_exactly_and_alert_once_through_two_kills(
    moto_server: MotoServer, postgres_dsn: str, replicas: list[Replica]
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server.endpoint_url)
    queue_url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
    gen = SesEventGenerator(seed=16, start=time.time() - 1800, spread=1700)
    events = [gen.event() for _ in range(MESSAGES - DUPLICATES)]
    rng = random.Random(16)
    bodies = [e.body for e in events] + [e.body for e in rng.choices(events, k=DUPLICATES)]
    rng.shuffle(bodies)
    store = PostgresState(postgres_dsn, pool_size=2)  # the test's own view of the shared state

    def counted() -> int:
        return store.ingest_load("prod").counters.get(("sqs", "counted"), 0)

    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(sqs, queue_url, bodies, stop), daemon=True)
    with receiver() as hook:
        try:
            for r in replicas:
                _config(
                    r.config,
                    replica=r.name,
                    moto=moto_server,
                    queue_url=queue_url,
                    dsn=postgres_dsn,
                    hook=hook.url,
                )
                r.start()
            _until(lambda: all(r.http_port() for r in replicas), 60, "three replicas to start")
            _until(lambda: sum(r.leads() for r in replicas) == 1, 30, "one leader")
            feeder.start()

            # A follower dies mid-stream; a replacement starts (as a Deployment would).
            _until(lambda: counted() >= 3_000, 300, "a third of the stream")
            follower = next(r for r in replicas if not r.leads())
            follower.kill()
            follower.start()

            # Later, the leader dies: another replica leads within two lease periods.
            _until(lambda: counted() >= 7_000, 300, "half of the stream")
            leader = next(r for r in replicas if r.leads())
            leader.kill()
            killed = time.monotonic()
            survivors = [r for r in replicas if r is not leader]
            _until(lambda: any(r.leads() for r in survivors), 2 * LEASE_TTL + 5, "a new leader", pause=0.1)
            took = time.monotonic() - killed
            leader.start()

            feeder.join(600)
            assert not feeder.is_alive(), "the feeder did not finish"
            _until(
                lambda: _depth(sqs, queue_url) == 0 and counted() == len(events), 300, "the queue to drain"
            )

            expected = _expected_alerts(events)
            _until(lambda: len(hook.received) >= len(expected), 120, "every alert notification")
            _until(lambda: _outbox_settled(store), 60, "the outbox to settle")
            leader_now = next(r for r in replicas if r.leads())
            _until(lambda: _windows_exact(leader_now, events), 30, "the leader's windows to catch up")
            scraped = {r.name: r.scrape() for r in replicas}
            for r in replicas:
                assert r.stop() == 0
        finally:
            stop.set()
            store_counters = store.ingest_load("prod").counters
            store.close()
        received = list(hook.received)

    # Leadership moved within two lease periods of the kill (the bound the design promises).
    assert took <= 2 * LEASE_TTL + 2
    # Every counter is exact: each event once, whatever replica, kill or redelivery it came through.
    got = {k: v for k, v in store_counters.items() if k[0] != "sqs"}
    assert got == expected_counters(events)
    assert store_counters[("sqs", "counted")] == len(events)
    assert store_counters[("sqs", "received")] == len(events) + store_counters[("sqs", "duplicate")]
    assert store_counters[("sqs", "duplicate")] >= DUPLICATES
    _assert_metrics(scraped, leader_now.name, events, store_counters)
    _assert_alerts(received, expected)


def _expected_alerts(events: list[Any]) -> set[tuple[str, str]]:
    """(rule, configuration set) of every alert the final windows fire (each fires once, never resolves:
    the threshold is far below every set's bounce rate once it has bounces)."""
    out: set[tuple[str, str]] = set()
    for cs, row in expected_rates(events).items():
        for rule, volume in RULE_VOLUMES.items():
            if row["sent"] >= volume and row["bounced"] / row["sent"] >= THRESHOLD:
                out.add((rule, cs))
    assert len(out) >= 4, "the stream should fire alerts early and late"
    return out


def _outbox_settled(store: PostgresState) -> bool:
    counts = store.outbox_counts()
    return bool(counts) and all(state == "delivered" for _, state in counts)


def _window_values(families: list[Any], name: str, window: str) -> dict[str, float]:
    return {
        s.labels["configuration_set"]: s.value
        for f in families
        for s in f.samples
        if s.name == name and s.labels.get("window") == window
    }


def _windows_exact(leader: Replica, events: list[Any]) -> bool:
    sent = _window_values(leader.scrape(), "sesmon_window_sent_recipients", "1h")
    return sent == {cs: row["sent"] for cs, row in expected_rates(events).items()}


def _assert_metrics(
    scraped: dict[str, list[Any]], leader: str, events: list[Any], counters: dict[tuple[str, ...], int]
) -> None:
    rates = expected_rates(events)
    # The SES-derived series come from the leader alone, so sum() over the fleet is the shared total.
    for name, families in scraped.items():
        derived = {
            s.name
            for f in families
            for s in f.samples
            if s.name.startswith(("sesmon_window_", "sesmon_events"))
        }
        assert bool(derived) == (name == leader), name
        own = [s for f in families for s in f.samples if s.name == "sesmon_build_info"]
        assert [s.labels["replica"] for s in own] == [name]
    everywhere = [f for families in scraped.values() for f in families]
    for window in ("1h", "24h"):
        assert _window_values(everywhere, "sesmon_window_sent_recipients", window) == {
            cs: row["sent"] for cs, row in rates.items()
        }
        bounce = _window_values(everywhere, "sesmon_window_bounce_ratio", window)
        assert bounce == pytest.approx({cs: row["bounced"] / row["sent"] for cs, row in rates.items()})
    total = sum(s.value for f in everywhere for s in f.samples if s.name == "sesmon_events_total")
    assert total == len(events)
    received = sum(
        s.value for f in everywhere for s in f.samples if s.name == "sesmon_sqs_messages_received_total"
    )
    assert received == counters[("sqs", "received")]


def _assert_alerts(received: list[Any], expected: set[tuple[str, str]]) -> None:
    bodies = [r.json() for r in received]
    ids = [b["sesmon"]["notification_id"] for b in bodies]
    assert len(ids) == len(set(ids)), f"a notification was delivered twice: {Counter(ids).most_common(3)}"
    for r, b in zip(received, bodies, strict=True):
        assert r.headers["idempotency-key"] == b["sesmon"]["notification_id"]
    transitions = Counter(
        (b["alerts"][0]["labels"]["alertname"], b["alerts"][0]["labels"]["configuration_set"], b["status"])
        for b in bodies
    )
    assert transitions == Counter({(rule, cs, "firing"): 1 for rule, cs in expected})
