"""HTTP under load: the daemon's own server (waitress) against the stdlib server it replaced, same run.

Each server runs in a daemon process of its own (``sesmon.daemon.Daemon``, exactly as ``sesmon run``
builds it) on a state file holding 200 configuration sets with events, receiving from a local moto
SQS. The baseline is the same daemon with ``web.start_server`` swapped for the stdlib's threading
WSGI server that sesmon used before (listen backlog 5, a thread per connection, no timeouts).

1. Scrapes: ``--clients`` concurrent clients for ``--seconds``, each alternating ``/metrics`` and
   ``/`` over keep-alive connections → requests, errors (timeouts, refused, non-200), p50, p99.
2. Half-open connections: ``--half-open`` sockets that send a request line and one header and
   never finish → the daemon's threads and RSS while they are held, and how long ``/healthz``
   takes to answer meanwhile.

Every figure is the median of ``--runs`` rounds with min and max. The load generator shares the
machine's cores with the daemon, as Prometheus would with a sidecar; the load average is printed.

Usage: python benchmarks/http_load.py [--runs 3] [--seconds 20] [--clients 50] [--half-open 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import boto3
import httpx

from sesmon.config import ServerConfig
from sesmon.servers import ServerHandle, serve_in_thread

SETS = 200
EVENTS_PER_SET = 20
TARGET_P99 = 1.0
HEALTHZ_TIMEOUT = 10.0


# -- the daemon side (child process) ---------------------------------------------------------------


class _StdlibServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        del format, args


def _stdlib_start_server(
    host: str, port: int, app: Callable[..., Iterable[bytes]], settings: ServerConfig | None = None
) -> ServerHandle:
    """The server sesmon used before waitress: wsgiref with a thread per connection."""
    del settings  # it has none of these settings
    server = make_server(host, port, app, server_class=_StdlibServer, handler_class=_QuietHandler)
    return serve_in_thread(server, "stdlib-http")


def serve(kind: str, config_path: str) -> int:
    """Run a daemon with the ``kind`` server until SIGTERM; print its port."""
    from sesmon import daemon as daemon_module  # noqa: PLC0415
    from sesmon import runtime  # noqa: PLC0415
    from sesmon.config_loader import load_config  # noqa: PLC0415

    if kind == "stdlib":
        daemon_module.start_server = _stdlib_start_server  # type: ignore[attr-defined]
    daemon = daemon_module.Daemon(load_config(config_path))
    daemon.install_signal_handlers()
    daemon.start()
    runtime.tune_gc()
    print(f"PORT {daemon.port}", flush=True)
    return daemon.run_until_signal()


# -- the load side ---------------------------------------------------------------------------------


@dataclass
class Scrapes:
    requests: int
    errors: int
    p50: float
    p99: float


@dataclass
class HalfOpen:
    opened: int
    threads: int
    rss_mb: float
    healthz: float  # seconds to answer /healthz while the connections are held (inf: never)


async def _client(base: str, stop_at: float, latencies: list[float], errors: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        paths = ("/metrics", "/")
        i = 0
        while time.monotonic() < stop_at:
            path = paths[i % 2]
            i += 1
            started = time.perf_counter()
            try:
                response = await client.get(path)
                await response.aread()
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors.append(str(response.status_code))


def scrape_load(port: int, clients: int, seconds: float) -> Scrapes:
    latencies: list[float] = []
    errors: list[str] = []

    async def run() -> None:
        stop_at = time.monotonic() + seconds
        await asyncio.gather(
            *(_client(f"http://127.0.0.1:{port}", stop_at, latencies, errors) for _ in range(clients))
        )

    asyncio.run(run())
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("inf")
    return Scrapes(len(latencies) + len(errors), len(errors), statistics.median(ordered or [0.0]), p99)


def _proc_status(pid: int) -> tuple[int, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


def half_open(port: int, pid: int, count: int) -> HalfOpen:
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: sesmon\r\n")
            except OSError:
                continue  # not even accepted into the backlog: counted as not opened
            sockets.append(sock)
        time.sleep(1)  # let the server take in what it accepted before measuring it
        threads, rss = _proc_status(pid)
        started = time.perf_counter()
        try:
            ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=HEALTHZ_TIMEOUT).status_code == 200
        except httpx.HTTPError:
            ok = False
        answered = time.perf_counter() - started if ok else float("inf")
        return HalfOpen(len(sockets), threads, rss, answered)
    finally:
        for sock in sockets:
            sock.close()


# -- orchestration ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=2)
            return
        time.sleep(0.2)  # polling a child process's start-up
    raise RuntimeError(f"{url} did not come up")


def _config(directory: Path, endpoint: str, queue_url: str, state: Path) -> Path:
    path = directory / f"{state.stem}.yaml"
    path.write_text(
        f"""
targets:
  - name: prod
    region: us-east-1
    endpoint_url: {endpoint}
    sqs: {{queue_url: {queue_url}}}
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
    configuration_sets: ["set-*"]
    max_configuration_sets: {SETS}
state: {{path: {state}}}
server: {{listen: "127.0.0.1:0"}}
logging: {{level: warning}}
""",
        encoding="utf-8",
    )
    return path


def _seed_state(config_path: Path) -> None:
    """A state file with SETS configuration sets that have events in every window."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sesmon.batch import Message  # noqa: PLC0415
    from sesmon.config_loader import load_config  # noqa: PLC0415
    from sesmon.ingest import TargetIngest  # noqa: PLC0415
    from sesmon.state.sqlite import SqliteState  # noqa: PLC0415
    from tests.sesgen import SesEventGenerator  # noqa: PLC0415

    config = load_config(str(config_path))
    now = time.time()
    names = tuple(f"set-{i:03d}" for i in range(SETS))
    gen = SesEventGenerator(seed=3, configuration_sets=names, start=now - 1800, spread=1700)
    store = SqliteState(config.state.path)
    ingest = TargetIngest(config.targets[0], config, store)
    ingest.restore(now)
    messages = [
        Message(f"m{i}", gen.event(configuration_set=names[i % SETS]).body)
        for i in range(SETS * EVENTS_PER_SET)
    ]
    for i in range(0, len(messages), 10):
        ingest.process(messages[i : i + 10], now)
    store.close()


def _local_aws_environment() -> dict[str, str]:
    """Dummy credentials: the daemon talks to the local moto only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true")
    return env


def _start(kind: str, config: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, str(config)],
        stdout=subprocess.PIPE,
        text=True,
        env=_local_aws_environment(),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"{kind} daemon did not start: {line!r}")
    return proc, int(line.split()[1])


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def _spread(values: Sequence[float], fmt: str) -> str:
    middle, low, high = (fmt.format(v) for v in (statistics.median(values), min(values), max(values)))
    return f"{middle} (min {low}, max {high})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--half-open", type=int, default=1500)
    parser.add_argument("--serve", nargs=2, metavar=("KIND", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(*args.serve)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the half-open sockets need descriptors
    directory = Path(tempfile.mkdtemp(prefix="sesmon-http-load-"))
    moto_port = _free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: dict[str, list[tuple[Scrapes, HalfOpen]]] = {"waitress": [], "stdlib": []}
    try:
        endpoint = f"http://127.0.0.1:{moto_port}"
        _wait_http(endpoint, time.monotonic() + 60)
        sqs = boto3.client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        queue_url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
        seeded = directory / "seed.db"
        _seed_state(_config(directory, endpoint, queue_url, seeded))
        print(
            f"http_load: {SETS} configuration sets, {args.clients} clients for {args.seconds:.0f} s on "
            f"/metrics and /, then {args.half_open} half-open connections; {args.runs} runs"
        )
        for run in range(1, args.runs + 1):
            for kind in ("waitress", "stdlib"):
                state = directory / f"{kind}-{run}.db"
                shutil.copy(seeded, state)
                proc, port = _start(kind, _config(directory, endpoint, queue_url, state))
                try:
                    scrapes = scrape_load(port, args.clients, args.seconds)
                    held = half_open(port, proc.pid, args.half_open)
                finally:
                    _stop(proc)
                results[kind].append((scrapes, held))
                load = os.getloadavg()[0]
                print(
                    f"  run {run} {kind:8s}: {scrapes.requests} requests, {scrapes.errors} errors, "
                    f"p50 {scrapes.p50 * 1000:.0f} ms, p99 {scrapes.p99 * 1000:.0f} ms | half-open "
                    f"{held.opened} opened: {held.threads} threads, {held.rss_mb:.0f} MB RSS, /healthz "
                    f"{held.healthz:.2f} s | load {load:.1f}"
                )
    finally:
        moto.terminate()
        moto.wait(10)
        shutil.rmtree(directory, ignore_errors=True)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    for kind, label in (
        ("waitress", "sesmon (waitress)"),
        ("stdlib", "baseline: stdlib server, same daemon"),
    ):
        loads = [row[0] for row in results[kind]]
        holds = [row[1] for row in results[kind]]
        print(f"{label}:")
        print(f"  scrape errors     {_spread([x.errors for x in loads], '{:.0f}')}")
        print(f"  scrape p50        {_spread([x.p50 * 1000 for x in loads], '{:.0f} ms')}")
        print(f"  scrape p99        {_spread([x.p99 * 1000 for x in loads], '{:.0f} ms')}")
        print(f"  requests          {_spread([x.requests for x in loads], '{:.0f}')}")
        print(f"  half-open threads {_spread([h.threads for h in holds], '{:.0f}')}")
        print(f"  half-open RSS     {_spread([h.rss_mb for h in holds], '{:.0f} MB')}")
        print(f"  /healthz held     {_spread([h.healthz for h in holds], '{:.2f} s')}")
    met = all(x.errors == 0 and x.p99 < TARGET_P99 for x, _ in results["waitress"])
    print(f"target (0 errors, p99 < {TARGET_P99:.0f} s in every run): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
