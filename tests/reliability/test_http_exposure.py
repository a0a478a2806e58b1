"""The HTTP endpoint under hostile clients: any method but GET/HEAD is 405; hundreds of half-open
requests hold no thread and are closed after the header timeout while /healthz still answers; a busy
port stops `sesmon run` with one line before any AWS call."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from sesmon.config import ServerConfig
from sesmon.servers import ServerHandle
from sesmon.status import StatusReport
from sesmon.web import Probes, make_app, start_server
from tests.conftest import environment_without_aws
from tests.reliability.faults import RecordingEndpoint

HALF_OPEN = 300


def _report() -> StatusReport:
    return StatusReport(version="0", pending=(), sources=())


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    probes = Probes(alive=lambda: True, pending=list, status=_report)
    settings = ServerConfig(threads=4, header_timeout="2s", idle_timeout="30s")
    handle = start_server("127.0.0.1", 0, make_app(CollectorRegistry(), probes), settings)
    yield handle
    handle.close()


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS", "FOO"])
def test_only_get_and_head_are_answered(server: ServerHandle, method: str) -> None:
    for path in ("/metrics", "/healthz", "/readyz", "/"):
        response = httpx.request(method, f"http://127.0.0.1:{server.port}{path}", timeout=10)
        assert response.status_code == 405
        assert response.headers["Allow"] == "GET, HEAD"


def test_head_answers_headers_only(server: ServerHandle) -> None:
    for path in ("/metrics", "/healthz", "/readyz", "/"):
        response = httpx.head(f"http://127.0.0.1:{server.port}{path}", timeout=10)
        assert response.status_code == 200
        assert response.content == b""


def test_half_open_requests_hold_no_thread_and_are_closed(
    server: ServerHandle, sockets: list[socket.socket]
) -> None:
    threads_before = set(threading.enumerate())
    for _ in range(HALF_OPEN):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
        sockets.append(sock)
    # Served while every half-open request is still open, by the same four workers.
    assert httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10).text == "ok\n"
    assert not set(threading.enumerate()) - threads_before
    # The header timeout closes each of them: the server hangs up (recv returns b"").
    for sock in sockets:
        assert sock.recv(1024) == b""
    assert not set(threading.enumerate()) - threads_before


def test_close_joins_every_server_thread() -> None:
    probes = Probes(alive=lambda: True, pending=list, status=_report)
    before = {t.name for t in threading.enumerate()}
    handle = start_server("127.0.0.1", 0, make_app(CollectorRegistry(), probes), ServerConfig(threads=3))
    assert httpx.get(f"http://127.0.0.1:{handle.port}/healthz", timeout=10).status_code == 200
    handle.close()
    assert {t.name for t in threading.enumerate()} == before


def test_a_busy_port_is_one_line_exit_1_and_no_aws_call(
    tmp_path: Path, recording_endpoint: RecordingEndpoint
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "sesmon.yaml"
        config.write_text(
            f"""
targets:
  - name: prod
    region: us-east-1
    endpoint_url: {recording_endpoint.url}
    sqs:
      queue_url: https://sqs.us-east-1.amazonaws.com/123456789012/ses-events
state:
  path: {tmp_path / "state.db"}
server:
  listen: 127.0.0.1:{port}
""",
            encoding="utf-8",
        )
        done = subprocess.run(
            [sys.executable, "-m", "sesmon.cli", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            env=environment_without_aws(),
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"sesmon: cannot start: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert recording_endpoint.requests == []
