"""Alert latency end to end: a bounce spike lands in the queue → the webhook notification arrives.

The running daemon (``sesmon run``) drains a local SQS endpoint (benchmarks/sqs_server.py) with a
bounce-rate rule (warning at 5% over 1h) and a webhook sink on a local receiver. After a healthy
baseline (Send events only) has been counted, a batch of Bounce events lands in the queue at once;
the figure is the time from that landing to the notification's arrival at the receiver, for a rule
with ``for: 0s`` and one with ``for: 30s``. ``alerts.evaluation_interval`` is the default (15 s), so
the figures show what the evaluation on change and on the ``for``'s due time do.

Targets: <= 3 s + ``for``. Usage: python benchmarks/alert_latency.py [--rounds N] [--for SECONDS ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.daemon_config import running_daemon, wait_until, write_daemon_config
from benchmarks.ingest import cpu_seconds
from benchmarks.sqs_server import LocalSqs
from tests.sesgen import SesEventGenerator

TARGET_SECONDS = 3.0
BASELINE = 400
SPIKE = 300  # Permanent bounces alone count (AWS-comparable): this is far above 5% whatever the mix


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    arrivals: list[float]
    got: threading.Event

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - stdlib signature
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.arrivals.append(time.perf_counter())
        self.got.set()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _config(tmp: Path, sqs: LocalSqs, hook: str, for_seconds: float) -> Path:
    rule = {"name": "BounceRateHigh", "signal": "bounce_rate", "window": "1h", "warning": 0.05}
    return write_daemon_config(
        tmp / "sesmon.yaml",
        sqs.endpoint,
        sqs.queue_url,
        state={"path": str(tmp / "state.db")},
        alerts={
            "rules": [{**rule, "for": f"{for_seconds:g}s"}],
            "sinks": [{"name": "hook", "type": "webhook", "url": hook}],
        },
    )


def one_run(for_seconds: float, seed: int) -> float:
    """Seconds from the spike's landing to the notification's arrival."""
    now = time.time()
    gen = SesEventGenerator(seed=seed, configuration_sets=["tx"], start=now - 120, spread=100)
    baseline = [gen.event("Send", "tx").body for _ in range(BASELINE)]
    spike = [gen.event("Bounce", "tx").body for _ in range(SPIKE)]

    class handler(_Receiver):  # noqa: N801 - a handler class of this run alone
        arrivals: list[float] = []  # noqa: RUF012 - this run's own class
        got = threading.Event()

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=receiver.serve_forever, daemon=True)
    serving.start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        with LocalSqs() as sqs, tempfile.TemporaryDirectory() as tmp:
            config = _config(Path(tmp), sqs, hook, for_seconds)
            with running_daemon(config, sqs) as proc:
                wait_until(
                    lambda: sqs.queue.stats.requests.get("ReceiveMessage", 0) >= 4, "the receivers", 120
                )
                sqs.queue.load(baseline)
                wait_until(lambda: sqs.queue.stats.deleted >= BASELINE, "the baseline to be counted", 120)
                # Quiet: the daemon has settled (its CPU no longer moves) before the spike lands.
                last = -1.0
                while (used := cpu_seconds(proc.pid)) != last:
                    last = used
                    threading.Event().wait(0.3)
                if handler.arrivals:
                    raise RuntimeError("a notification before the spike")
                landed = time.perf_counter()
                sqs.queue.load(spike)
                if not handler.got.wait(for_seconds + 120):
                    raise RuntimeError("no notification arrived")
                return handler.arrivals[0] - landed
    finally:
        receiver.shutdown()
        receiver.server_close()
        serving.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--for", dest="fors", type=float, nargs="+", default=[0.0, 30.0])
    args = parser.parse_args()
    print(f"alert latency, spike landing -> webhook delivery; {args.rounds} rounds per rule", flush=True)
    for for_seconds in args.fors:
        runs: list[float] = []
        loads: list[float] = []
        for r in range(args.rounds):
            runs.append(one_run(for_seconds, seed=200 + r))
            loads.append(os.getloadavg()[0])
            print(f"  for: {for_seconds:g}s round {r + 1}: {runs[-1]:.2f} s (load average {loads[-1]:.2f})")
        print(
            f"for: {for_seconds:g}s  landing -> delivery {statistics.median(runs):.2f} s "
            f"(min {min(runs):.2f}, max {max(runs):.2f})   target <= {TARGET_SECONDS + for_seconds:g} s; "
            f"load average {statistics.median(loads):.2f} (min {min(loads):.2f}, max {max(loads):.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
