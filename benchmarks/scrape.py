"""/metrics at scale: scrape latency, exposition size and series, and the daemon's memory.

The running daemon (``sesmon run``, default config apart from the local endpoint and
``max_configuration_sets``) ingests ``--events`` events over ``--sets`` configuration sets from a local
SQS endpoint (benchmarks/sqs_server.py); then ``--scrapes`` scrapes of /metrics are timed (request sent
to last byte received) while a trickle of events keeps the data changing, as in production. Scrapes
ask for gzip, as Prometheus does (headline); uncompressed scrapes are timed too (secondary). Then the
daemon's resident memory (VmRSS, and its peak VmHWM) is read from /proc; its VmRSS once started,
before any event, is the secondary line of the fixed cost.

Targets (1,000 sets): p50 <= 50 ms, p99 <= 150 ms, exposition <= 2 MB (uncompressed);
RSS <= 150 MB with 1,000,000 events after 200 scrapes (``--events 1000000``).

Usage: python benchmarks/scrape.py [--sets N] [--events N] [--scrapes N] [--rounds N] [--save FILE]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.daemon_config import running_daemon, wait_until, write_daemon_config
from benchmarks.sqs_server import LocalSqs
from tests.sesgen import SesEventGenerator

TARGET_P50_MS = 50.0
TARGET_P99_MS = 150.0
TARGET_BYTES = 2_000_000
TARGET_RSS_MB = 150.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path, sqs: LocalSqs, port: int, sets: int) -> Path:
    return write_daemon_config(
        tmp / "sesmon.yaml",
        sqs.endpoint,
        sqs.queue_url,
        state={"path": str(tmp / "state.db")},
        target={"max_configuration_sets": sets},
        listen=f"127.0.0.1:{port}",
    )


def _scrape(port: int, gzipped: bool) -> tuple[float, bytes]:
    """(seconds from request to last byte, body as received)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Accept-Encoding": "gzip"} if gzipped else {}
    started = time.perf_counter()
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"/metrics answered {response.status}")
    return elapsed, body


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _caught_up(sqs: LocalSqs, loaded: int) -> bool:
    return loaded - sqs.queue.stats.deleted < 20_000


def one_round(sets: int, events: int, scrapes: int, seed: int) -> dict[str, Any]:
    """One daemon: ingest, scrape, measure."""
    now = time.time()
    names = [f"set-{i:04d}" for i in range(sets)]
    gen = SesEventGenerator(seed=seed, configuration_sets=names, start=now - 3600, spread=3500)
    port = _free_port()
    with LocalSqs() as sqs, tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), sqs, port, sets)
        stop = threading.Event()
        with running_daemon(config, sqs) as proc:
            try:
                wait_until(
                    lambda: sqs.queue.stats.requests.get("ReceiveMessage", 0) >= 4, "the receivers", 120
                )
                started_rss = _memory(proc.pid)[0]  # the fixed cost: started, no event yet
                # Every set gets events first, then the rest at random; loaded in chunks to bound memory.
                first = [gen.event(configuration_set=name).body for name in names]
                sqs.queue.load(first)
                loaded = len(first)
                while loaded < events:
                    chunk = min(20_000, events - loaded)
                    wait_until(partial(_caught_up, sqs, loaded), "the daemon to catch up", 3600)
                    sqs.queue.load(gen.event().body for _ in range(chunk))
                    loaded += chunk
                wait_until(lambda: sqs.queue.stats.deleted >= loaded, "every event to be counted", 3600)

                def trickle() -> None:
                    # The data keeps changing while it is scraped: 10 events every half second.
                    while not stop.wait(0.5):
                        sqs.queue.load(gen.event().body for _ in range(10))

                feeder = threading.Thread(target=trickle, daemon=True)
                feeder.start()
                _scrape(port, gzipped=True)  # the first scrape renders; then the renderer is running
                zipped = [_scrape(port, gzipped=True) for _ in range(scrapes)]
                plain = [_scrape(port, gzipped=False) for _ in range(max(20, scrapes // 10))]
                stop.set()
                feeder.join(5)
                rss, peak = _memory(proc.pid)
            finally:
                stop.set()
    body = plain[-1][1]
    series = sum(1 for line in body.split(b"\n") if line and not line.startswith(b"#"))
    per_set = sum(1 for line in body.split(b"\n") if b'configuration_set="set-0000"' in line)
    return {
        "p50": _percentile([t for t, _ in zipped], 0.50) * 1000,
        "p99": _percentile([t for t, _ in zipped], 0.99) * 1000,
        "plain_p50": _percentile([t for t, _ in plain], 0.50) * 1000,
        "plain_p99": _percentile([t for t, _ in plain], 0.99) * 1000,
        "bytes": len(body),
        "gzip_bytes": len(zipped[-1][1]),
        "gzip_ok": gzip.decompress(zipped[-1][1]).startswith(b"# HELP"),
        "series": series,
        "per_set": per_set,
        "rss": rss,
        "peak": peak,
        "started_rss": started_rss,
        "load": os.getloadavg()[0],
        "body": body,
    }


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    return (
        f"{fmt.format(statistics.median(values))} "
        f"(min {fmt.format(min(values))}, max {fmt.format(max(values))})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--save", type=Path, help="write the last round's uncompressed exposition here")
    args = parser.parse_args()
    print(
        f"scrape: {args.sets:,} sets, {args.events:,} events, {args.scrapes} scrapes per round, "
        f"{args.rounds} round(s)",
        flush=True,
    )
    results = []
    for r in range(args.rounds):
        result = one_round(args.sets, args.events, args.scrapes, seed=300 + r)
        results.append(result)
        print(
            f"  round {r + 1}: p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, "
            f"{result['bytes']:,} bytes, {result['series']:,} series, RSS {result['rss']:.1f} MB; "
            f"load average {result['load']:.2f}",
            flush=True,
        )

    def col(key: str) -> list[float]:
        return [float(r[key]) for r in results]

    print(f"scrape p50 (gzip, as Prometheus asks): {_spread(col('p50'))} ms   target <= {TARGET_P50_MS:.0f}")
    print(f"scrape p99 (gzip):                     {_spread(col('p99'))} ms   target <= {TARGET_P99_MS:.0f}")
    print(
        f"exposition bytes (uncompressed):       {_spread(col('bytes'), '{:,.0f}')}   "
        f"target <= {TARGET_BYTES:,}"
    )
    print(f"series:                                {_spread(col('series'), '{:,.0f}')}")
    print(f"series of one configuration set:       {_spread(col('per_set'), '{:.0f}')}")
    print(f"daemon RSS after the scrapes:          {_spread(col('rss'))} MB (peak {_spread(col('peak'))} MB)")
    print(
        f"   target (with --events 1000000):     <= {TARGET_RSS_MB:.0f} MB; "
        f"load average {_spread(col('load'), '{:.2f}')}"
    )
    print(f"secondary, daemon RSS at start (no event yet): {_spread(col('started_rss'))} MB")
    print(
        f"secondary, uncompressed scrapes: p50 {_spread(col('plain_p50'))} ms, "
        f"p99 {_spread(col('plain_p99'))} ms; gzip body {_spread(col('gzip_bytes'), '{:,.0f}')} bytes"
    )
    if args.save:
        args.save.write_bytes(results[-1]["body"])
    if not all(r["gzip_ok"] for r in results):
        raise RuntimeError("a gzip body did not decompress to an exposition")


if __name__ == "__main__":
    main()
