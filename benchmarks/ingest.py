"""SES event ingestion end to end: the running daemon's CPU per event against a plain boto3 consumer.

Headline: ``sesmon run`` (its SqsSource receivers, its SQS client from sesmon.sources.aws, its commit
policy and deletes) drains a backlog from a local SQS endpoint speaking SQS's JSON protocol
(benchmarks/sqs_server.py). Its process CPU (user + system, every thread, from /proc) from the moment
the backlog lands until the endpoint has seen the last delete, divided by the events, is the daemon's
CPU per event. In the same run, on the same endpoint and the same bodies, a plain boto3 consumer
(receive 10, orjson-parse each body, DeleteMessageBatch, nothing else) is measured the same way; the
two take turns round after round. Each line is the median of the rounds with min and max; the load
average is printed with them (the figures are CPU time, so other load on the machine moves them
less than wall-clock figures, but it still does).

Secondary lines: the pipeline alone (``TargetIngest.process``: parse, dedup, count, one durable SQLite
commit) in this process, without SQS, at the daemon's real commit sizes: a backlog's gathered batch
(``sqs.commit_messages``, 100) and a single receive (10, a trickle).

Targets: daemon CPU <= 80 us/event and <= 0.35 x the plain consumer's; SQS requests per 1,000 events
<= 210 (the floor is 200: one receive and one delete per 10 messages); commits (each one fsync of
the state's write-ahead log) per 1,000 events <= 10 while a backlog drains (the daemon's own
sesmon_sqs_batch_messages count, read from its /metrics after the round).

Usage: python benchmarks/ingest.py [--events N] [--rounds N] [--receivers N]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.daemon_config import stop_process, write_daemon_config
from benchmarks.sqs_server import LocalSqs
from sesmon import runtime
from sesmon.batch import Message
from sesmon.config import Config, SqsConfig
from sesmon.ingest import TargetIngest
from sesmon.state.sqlite import SqliteState
from tests.sesgen import SesEventGenerator

TARGET_US = 80.0
TARGET_RATIO = 0.35
TARGET_REQUESTS = 210.0
TARGET_COMMITS = 10.0
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid``, all its threads, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def bodies(count: int, sets: int, seed: int) -> list[str]:
    """A live-like stream: events in time order over the last hour, across ``sets`` sets."""
    now = time.time()
    names = [f"set-{i:03d}" for i in range(sets)]
    gen = SesEventGenerator(
        seed=seed, configuration_sets=names, start=now - 3600, spread=3500, step=3500 / max(count, 1)
    )
    return [gen.event().body for _ in range(count)]


def daemon_config(tmp: Path, endpoint: str, queue_url: str, receivers: int, sets: int, port: int) -> Path:
    """The daemon's config for the run: one target on the local endpoint, everything else as shipped."""
    return write_daemon_config(
        tmp / "sesmon.yaml",
        endpoint,
        queue_url,
        state={"path": str(tmp / "state.db")},
        sqs={"receivers": receivers},
        target={"max_configuration_sets": max(sets, 100)},
        listen=f"127.0.0.1:{port}",
    )


def free_port() -> int:
    """A loopback port nothing listens on now (for the daemon's /metrics)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commits(port: int) -> float:
    """How many batches the daemon stored (one commit, one fsync each): its sesmon_sqs_batch_messages
    count, read from /metrics once the round is measured."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sesmon_sqs_batch_messages_count")
    )


def plain_consumer(endpoint: str, queue_url: str) -> None:
    """The baseline, in its own process: receive 10, parse each body, delete them in one batch."""
    import boto3  # noqa: PLC0415 - only the consumer process needs it

    sqs: Any = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    loads = orjson.loads
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=20).get(
            "Messages", []
        )
        for message in messages:
            envelope = loads(message["Body"])
            loads(envelope["Message"])
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)


class Round:
    """One consumer process draining one backlog; CPU sampled when it lands and at the last delete."""

    def __init__(
        self,
        events: list[str],
        command: Callable[[LocalSqs, Path], list[str]],
        pollers: int,
        after: Callable[[], float] | None = None,
    ):
        self.events = events
        self.command = command
        self.pollers = pollers
        self.after = after  # read from the consumer once the round is measured, before it stops
        self.after_value = 0.0

    def run(self) -> tuple[float, float, dict[str, int]]:
        """(CPU seconds, wall seconds, requests by operation) for draining the backlog."""
        total = len(self.events)
        finished = threading.Event()
        end: dict[str, float] = {}
        with LocalSqs() as sqs, tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
            # Its log goes to a file: a pipe nobody reads while it runs could fill and stall it.
            log = (Path(tmp) / "consumer.log").open("w+b")
            proc = subprocess.Popen(
                self.command(sqs, Path(tmp)), env=env, stdout=subprocess.DEVNULL, stderr=log
            )
            pid = proc.pid
            try:
                pid = _measured_pid(proc)
                self._wait_idle(sqs, proc, pid)

                def on_delete(deleted: int) -> None:
                    if deleted >= total and not finished.is_set():
                        end["cpu"], end["wall"] = cpu_seconds(pid), time.perf_counter()
                        finished.set()

                sqs.queue.on_delete(on_delete)
                before = dict(sqs.queue.stats.requests)
                cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
                sqs.queue.load(self.events)
                if not finished.wait(600):
                    raise RuntimeError(f"drained only {sqs.queue.stats.deleted} of {total}")
                requests = {
                    op: n - before.get(op, 0)
                    for op, n in sqs.queue.stats.requests.items()
                    if n - before.get(op, 0)
                }
                if self.after is not None:
                    self.after_value = self.after()
            finally:
                # The consumer itself (a profiler in between writes its profile when it exits).
                stop_process(proc, sqs, pid)
                log.seek(0)
                err = log.read().decode(errors="replace")
                log.close()
            if proc.returncode not in (0, -signal.SIGTERM):
                raise RuntimeError(f"consumer exited {proc.returncode}: {err[-2000:]}")
        return end["cpu"] - cpu0, end["wall"] - wall0, requests

    def _wait_idle(self, sqs: LocalSqs, proc: subprocess.Popen[bytes], pid: int) -> None:
        """Until every poller is in a long poll and the process has stopped using CPU (start-up over)."""
        deadline = time.monotonic() + 120
        last = -1.0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"consumer exited at start with {proc.returncode}")
            polls = sqs.queue.stats.requests.get("ReceiveMessage", 0)
            now = cpu_seconds(pid)
            if polls >= 2 * self.pollers and now == last:
                return
            last = now
            time.sleep(0.25)  # a sampling interval, not a wait for an event
        raise RuntimeError("consumer never became idle")


def _measured_pid(proc: subprocess.Popen[bytes]) -> int:
    """The consumer's pid: ``proc`` itself, or its child when a profiler started it."""
    if Path(str(proc.args[0])).name != "py-spy":  # type: ignore[index]
        return proc.pid
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = children.read_text().split()
        if found:
            return int(found[0])
        time.sleep(0.05)  # a sampling interval, not a wait for an event
    raise RuntimeError("the profiler started no process")


def pipeline_only(events: list[str], commit: int) -> float:
    """CPU µs per event of ``TargetIngest.process`` alone at ``commit`` messages per commit."""
    messages = [Message(f"m-{i}", body) for i, body in enumerate(events)]
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.model_validate(
            {
                "targets": [
                    {
                        "name": "bench",
                        "region": "us-east-1",
                        "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
                        "max_configuration_sets": 1000,
                    }
                ],
                "state": {"path": str(Path(tmp) / "state.db")},
            }
        )
        store = SqliteState(config.state.path)
        ingest = TargetIngest(config.targets[0], config, store)
        now = time.time()
        ingest.restore(now)
        started = time.process_time()
        for i in range(0, len(messages), commit):
            ingest.process(messages[i : i + commit], now)
        spent = time.process_time() - started
        store.close()
    return spent * 1e6 / len(messages)


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """``median (min .. max)``."""
    return (
        f"{fmt.format(statistics.median(values))} "
        f"(min {fmt.format(min(values))}, max {fmt.format(max(values))})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per round and consumer")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--receivers", type=int, default=2, help="the daemon's sqs.receivers (default 2)")
    parser.add_argument("--sets", type=int, default=20, help="configuration sets in the stream")
    parser.add_argument("--profile", help="write the daemon's py-spy profile here (collapsed stacks)")
    parser.add_argument("--consumer", choices=("plain",), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--queue-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consumer == "plain":
        plain_consumer(args.endpoint, args.queue_url)
        return

    port = free_port()

    def daemon_cmd(sqs: LocalSqs, tmp: Path) -> list[str]:
        config = daemon_config(tmp, sqs.endpoint, sqs.queue_url, args.receivers, args.sets, port)
        command = [sys.executable, "-m", "sesmon.cli", "run", "--config", str(config)]
        if args.profile:
            # Sampled by py-spy (installed separately): collapsed stacks of every thread, for reading.
            return ["py-spy", "record", "--gil", "-r", "250", "-f", "raw", "-o", args.profile, "--", *command]
        return command

    def plain_cmd(sqs: LocalSqs, _tmp: Path) -> list[str]:
        return [
            sys.executable,
            __file__,
            "--consumer",
            "plain",
            "--endpoint",
            sqs.endpoint,
            "--queue-url",
            sqs.queue_url,
        ]

    print(
        f"ingest end to end: {args.events:,} events per round, {args.rounds} rounds, "
        f"daemon with {args.receivers} receivers; cores {os.cpu_count()}",
        flush=True,
    )
    daemon_us: list[float] = []
    plain_us: list[float] = []
    ratios: list[float] = []
    rates: list[float] = []
    requests: list[float] = []
    per_commit: list[float] = []
    loads: list[float] = []
    last_ops: dict[str, int] = {}
    for r in range(args.rounds):
        events = bodies(args.events, args.sets, seed=100 + r)
        # Alternate which goes first, so a slow spell of the machine falls on both.
        order = ("daemon", "plain") if r % 2 == 0 else ("plain", "daemon")
        spent: dict[str, float] = {}
        walls: dict[str, float] = {}
        for who in order:
            command = daemon_cmd if who == "daemon" else plain_cmd
            daemon = who == "daemon"
            run = Round(
                events, command, args.receivers if daemon else 1, partial(commits, port) if daemon else None
            )
            cpu, wall, ops = run.run()
            spent[who] = cpu * 1e6 / len(events)
            walls[who] = len(events) / wall
            if daemon:
                per_commit.append(run.after_value * 1000 / len(events))
                rates.append(len(events) / wall)
                requests.append(sum(ops.values()) * 1000 / len(events))
                last_ops = ops
        loads.append(os.getloadavg()[0])
        daemon_us.append(spent["daemon"])
        plain_us.append(spent["plain"])
        ratios.append(spent["daemon"] / spent["plain"])
        print(
            f"  round {r + 1}: daemon {spent['daemon']:.1f} us/event, plain boto3 {spent['plain']:.1f} "
            f"us/event, ratio {ratios[-1]:.2f}; wall {walls['daemon']:,.0f} vs {walls['plain']:,.0f} "
            f"events/s; load average {loads[-1]:.2f}",
            flush=True,
        )
    print(f"daemon CPU per event:        {spread(daemon_us)} us   target <= {TARGET_US:.0f}")
    print(f"plain boto3 consumer:        {spread(plain_us)} us")
    print(f"daemon / plain:              {spread(ratios, '{:.2f}')}   target <= {TARGET_RATIO}")
    print(f"daemon throughput (wall):    {spread(rates, '{:,.0f}')} events/s")
    print(
        f"SQS requests per 1,000:      {spread(requests)}   target <= {TARGET_REQUESTS:.0f} "
        f"(last round: {dict(sorted(last_ops.items()))})"
    )
    print(
        f"commits (fsyncs) per 1,000:  {spread(per_commit)}   target <= {TARGET_COMMITS:.0f} under a backlog"
    )
    print(f"load average (1 min):        {spread(loads, '{:.2f}')}")
    runtime.tune_gc()
    sample = bodies(min(args.events, 20_000), args.sets, seed=99)
    gathered = SqsConfig.model_fields["commit_messages"].default
    for size, when in ((gathered, "a backlog's gathered batch"), (10, "one receive, a trickle")):
        pipeline = [pipeline_only(sample, size) for _ in range(args.rounds)]
        print(
            f"secondary, pipeline only at {size} messages per commit ({when}; no SQS): "
            f"{spread(pipeline)} us/event CPU"
        )


if __name__ == "__main__":
    main()
