"""PostgreSQL state: daemon CPU per event against SQLite, round trips per batch, and fleet drain rates.

(a) The daemon's batch path (``TargetIngest.process``: parse, dedup, count, buckets, one commit per
    10-message SQS batch, as the daemon commits) over the same SNS-wrapped bodies, on SQLite
    (synchronous=FULL) and on PostgreSQL (its defaults: fsync, synchronous commits) in turns over
    several rounds. CPU is this process's own (``time.process_time``): the daemon's cost, not the
    database server's. Printed: CPU µs per event on each backend, their ratio per round, and the
    round trips to PostgreSQL per batch (one per statement, BEGIN and COMMIT included).
(b) Drain rate of a fleet: 1, 2 and 3 real ``sesmon run`` processes on one PostgreSQL database
    drain a steady stream from a moto SQS endpoint on 127.0.0.1 (the moto server benchmarks/ingest.py
    part (b) drains, here in a process of its own so it shares no interpreter lock with the feeder),
    next to one ``sesmon run`` on SQLite and a plain boto3 consumer (receive + delete, no counting)
    on the same endpoint in the same run: the endpoint's own ceiling.
    Also printed: the daemons' CPU per event, summed over the replicas.

Every figure is the median of its rounds with min and max. Targets: PostgreSQL CPU per event
<= 1.5 x SQLite's; 3 replicas drain >= 1.6 x faster than one. On a 2-core machine the moto endpoint,
the feeder, PostgreSQL and the replicas share the cores: compare (b) with the plain consumer's
ceiling to see whether the endpoint or the daemons limit the rate.

Usage: python benchmarks/ingest_postgres.py [--events N] [--rounds N] [--fleet-events N]
[--fleet-rounds N] [--skip a,b]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.moto_endpoint import start_moto_process
from sesmon import runtime
from sesmon.batch import Message
from sesmon.config import Config
from sesmon.ingest import TargetIngest
from sesmon.state.ports import IngestPort, StateBackend
from sesmon.state.postgres import PostgresState
from sesmon.state.sqlite import SqliteState
from tests.postgres import PostgresServer
from tests.sesgen import SesEventGenerator

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"
BATCH = 10  # the daemon commits once per SQS receive
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LABELS = ("plain boto3 consumer", "sqlite, 1 replica", *(f"postgresql, {n} replica(s)" for n in (1, 2, 3)))


def _bodies(count: int, seed: int, now: float) -> list[str]:
    names = [f"set-{i:02d}" for i in range(20)]
    gen = SesEventGenerator(
        seed=seed, configuration_sets=names, start=now - 3600, spread=3500, step=3500 / max(count, 1)
    )
    return [gen.event().body for _ in range(count)]


def _summary(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    low, mid, high = (fmt.format(v) for v in (min(values), statistics.median(values), max(values)))
    return f"median {mid} (min {low}, max {high})"


# -- (a) CPU per event -----------------------------------------------------------------------------------


def _config() -> Config:
    return Config.model_validate(
        {"targets": [{"name": "bench", "region": "us-east-1", "sqs": {"queue_url": QUEUE_URL}}]}
    )


def _cpu_per_event(store: IngestPort, messages: list[Message], now: float) -> float:
    """CPU µs per event of the batch path on ``store`` (empty), 10 messages per commit."""
    config = _config()
    ingest = TargetIngest(config.targets[0], config, store)
    ingest.restore(now)
    started = time.process_time()
    for i in range(0, len(messages), BATCH):
        ingest.process(messages[i : i + BATCH], now)
    cpu = time.process_time() - started
    assert ingest.counters()[("sqs", "counted")] == len(messages)
    return cpu * 1e6 / len(messages)


def cpu(events: int, rounds: int, server: PostgresServer) -> None:
    now = time.time()
    runtime.tune_gc()  # the daemon's GC settings
    sqlite_us: list[float] = []
    postgres_us: list[float] = []
    trips: list[float] = []
    for r in range(rounds):
        messages = [Message(f"m-{r}-{i}", b) for i, b in enumerate(_bodies(events, seed=100 + r, now=now))]
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = SqliteState(Path(tmp) / "state.db")
            sqlite_us.append(_cpu_per_event(sqlite, messages, now))
            sqlite.close()
        postgres = PostgresState(server.database(), pool_size=2)
        before = postgres.round_trips
        postgres_us.append(_cpu_per_event(postgres, messages, now))
        trips.append((postgres.round_trips - before) / (events / BATCH))
        postgres.close()
    ratios = [p / s for p, s in zip(postgres_us, sqlite_us, strict=True)]
    print(f"(a) daemon CPU per event, {events} events in {BATCH}-message commits, {rounds} rounds")
    print(f"    SQLite     {_summary(sqlite_us)} µs")
    print(f"    PostgreSQL {_summary(postgres_us)} µs")
    print(f"    PostgreSQL / SQLite per round: {_summary(ratios, '{:.2f}')} (target <= 1.5)")
    print(
        f"    PostgreSQL round trips per batch: {_summary(trips, '{:.2f}')} "
        "(BEGIN, dedup insert, one upsert statement, COMMIT)"
    )


# -- (b) fleet drain rate ------------------------------------------------------------------------------------


def _write_config(path: Path, endpoint: str, queue_url: str, state: str) -> None:
    path.write_text(
        f"""
targets:
  - name: bench
    region: us-east-1
    endpoint_url: {endpoint}
    sqs: {{queue_url: {queue_url}, receivers: 2, wait_time_seconds: 1}}
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
state:
{state}
server:
  listen: 127.0.0.1:0
logging:
  level: warning
""",
        encoding="utf-8",
    )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    return env


def _feed(sqs: Any, queue_url: str, bodies: list[str], drained: list[int]) -> None:
    """Send ``bodies`` ten at a time, at most 200 ahead of what is drained (a shallow queue, as in
    production; moto scans its whole queue on every call)."""
    for i in range(0, len(bodies), 10):
        while i - drained[0] > 200:
            time.sleep(0.01)
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)


def _drain(
    sqs: Any,
    queue_url: str,
    bodies: list[str],
    consumers: list[list[str]],
    done: Callable[[], int],
) -> tuple[float, float]:
    """Start ``consumers`` (commands), feed ``bodies`` a little ahead of them, and return (events/s,
    consumers' CPU seconds) once ``done()`` reaches every event."""
    procs = [
        subprocess.Popen(c, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for c in consumers
    ]
    try:
        # Wait for the consumers to poll before starting the clock, so start-up is not measured.
        time.sleep(3.0)
        started = time.perf_counter()
        cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
        drained = [0]
        feeder = threading.Thread(target=_feed, args=(sqs, queue_url, bodies, drained), daemon=True)
        feeder.start()
        # Polled every 0.1 s: reading the count costs the measuring process, not the consumers.
        while drained[0] < len(bodies):
            time.sleep(0.1)
            drained[0] = done()
        feeder.join(10)
        elapsed = time.perf_counter() - started
        cpu_seconds = sum(_cpu_seconds(p.pid) for p in procs) - cpu_before
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    return len(bodies) / elapsed, cpu_seconds


def _drain_with(
    label: str, tmp: Path, endpoint: str, sqs: Any, queue_url: str, bodies: list[str], server: PostgresServer
) -> tuple[float, float]:
    """One drain by the consumers ``label`` names."""
    if label.startswith("plain"):
        counter = tmp / "count"
        counter.touch()
        plain = [
            sys.executable,
            str(Path(__file__).with_name("plain_consumer.py")),
            endpoint,
            queue_url,
            str(counter),
        ]
        return _drain(sqs, queue_url, bodies, [plain], lambda: counter.stat().st_size)
    reader: StateBackend
    if label.startswith("sqlite"):
        state = f"  path: {tmp / 'state.db'}"
        replicas = 1
        reader = SqliteState(tmp / "state.db")
    else:
        dsn = server.database()
        state = f'  backend: postgresql\n  dsn: "{dsn}"'
        replicas = int(label.split(", ")[1][0])
        reader = PostgresState(dsn, pool_size=2)
    config = tmp / "sesmon.yaml"
    _write_config(config, endpoint, queue_url, state)
    commands = [[sys.executable, "-m", "sesmon.cli", "run", "--config", str(config)] for _ in range(replicas)]
    try:
        return _drain(
            sqs,
            queue_url,
            bodies,
            commands,
            lambda: reader.ingest_load("bench").counters.get(("sqs", "counted"), 0),
        )
    finally:
        reader.close()


def fleet(events: int, rounds: int, server: PostgresServer) -> None:
    import boto3  # noqa: PLC0415

    # The endpoint benchmarks/ingest.py (b) drains, here in a process of its own.
    moto, endpoint = start_moto_process()
    sqs: Any = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    rates: dict[str, list[float]] = {}
    cpu_us: dict[str, list[float]] = {}
    try:
        for r in range(rounds):
            now = time.time()
            for k, label in enumerate(LABELS):
                bodies = _bodies(events, seed=100 * r + k, now=now)
                queue_url = sqs.create_queue(QueueName=f"round{r}-{k}")["QueueUrl"]
                with tempfile.TemporaryDirectory() as tmp:
                    rate, cpu_seconds = _drain_with(
                        label, Path(tmp), endpoint, sqs, queue_url, bodies, server
                    )
                rates.setdefault(label, []).append(rate)
                cpu_us.setdefault(label, []).append(cpu_seconds * 1e6 / events)
                sqs.delete_queue(QueueUrl=queue_url)
    finally:
        moto.terminate()
        moto.wait(30)
    print(
        f"(b) drain rate of {events} events from moto SQS on 127.0.0.1, {rounds} rounds "
        "(events/s; daemons' CPU µs/event)"
    )
    for label, values in rates.items():
        print(
            f"    {label:<26} {_summary(values, '{:.0f}')} ev/s; CPU {_summary(cpu_us[label], '{:.0f}')} µs"
        )
    one = rates["postgresql, 1 replica(s)"]
    three = rates["postgresql, 3 replica(s)"]
    speedups = [t / o for t, o in zip(three, one, strict=True)]
    print(f"    3 replicas / 1 replica per round: {_summary(speedups, '{:.2f}')} (target >= 1.6)")
    ceiling = statistics.median(rates["plain boto3 consumer"])
    print(
        f"    3 replicas reach {statistics.median(three) / ceiling:.0%} of the plain consumer's rate "
        "on this endpoint"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fleet-events", type=int, default=3_000)
    parser.add_argument("--fleet-rounds", type=int, default=3)
    parser.add_argument("--skip", default="")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    print(f"cores: {os.cpu_count()}; PostgreSQL server with fsync and synchronous commits (its defaults)")
    server = PostgresServer(durable=True)
    try:
        if "a" not in skip:
            cpu(args.events, args.rounds, server)
        if "b" not in skip:
            fleet(args.fleet_events, args.fleet_rounds, server)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
