"""Readiness needs a success of every source, and liveness is sesmon's own progress: with no
credentials sesmon is alive but never ready; a wedged receiver fails /healthz, an AWS outage does not."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import pytest

from sesmon.daemon import Daemon
from sesmon.health import Heartbeats
from sesmon.sources.sqs import RECEIVER_STALL_SECONDS
from sesmon.state.sqlite import SqliteState
from tests.conftest import MotoServer
from tests.reliability.conftest import daemon_config
from tests.reliability.faults import RecordingEndpoint, SqsFaultProxy

pytestmark = pytest.mark.usefixtures("fast_backoff")

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"


def _sqlite(daemon: Daemon) -> SqliteState:
    assert isinstance(daemon.store, SqliteState)  # the default backend, whose internals the fault uses
    return daemon.store


def _get(daemon: Daemon, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{daemon.port}{path}", timeout=10)


class _Monotonic:
    """The heartbeats' clock, moved by the test: stall bounds of minutes pass in no time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_credentials_sesmon_is_alive_but_never_ready(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    recording_endpoint: RecordingEndpoint,
    start_daemon: Callable[..., Daemon],
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    daemon = start_daemon(daemon_config(tmp_path, recording_endpoint.url, QUEUE))
    failed = wait_until(lambda: any(s.consecutive_failures >= 2 for s in daemon.health.all()))
    assert failed
    ready = _get(daemon, "/readyz")
    assert ready.status_code == 503
    assert "sqs/prod (last error: NoCredentialsError: Unable to locate credentials)" in ready.text
    assert _get(daemon, "/healthz").status_code == 200
    assert "Unable to locate credentials" in _get(daemon, "/").text
    assert recording_endpoint.requests == []  # unsigned requests are never sent


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Wait for a condition the daemon's own threads bring about (re-checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        tick.wait(0.05)
    return True


def test_an_aws_outage_never_fails_liveness(
    moto_server: MotoServer,
    proxy: SqsFaultProxy,
    tmp_path: Path,
    start_daemon: Callable[..., Daemon],
) -> None:
    queue_url = boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=moto_server.endpoint_url
    ).create_queue(QueueName="ses-events")["QueueUrl"]
    clock = _Monotonic()
    proxy.fail("ReceiveMessage", "drop")
    daemon = start_daemon(daemon_config(tmp_path, proxy.endpoint_url, queue_url), Heartbeats(clock))
    for _ in range(3):
        # Far past every stall bound, yet each failed receive is a beat: still alive.
        clock.now += RECEIVER_STALL_SECONDS
        seen = proxy.calls["ReceiveMessage"] + 4
        proxy.wait_for(lambda seen=seen: proxy.calls["ReceiveMessage"] >= seen)
        assert wait_until(lambda: not daemon.wedged())
        assert _get(daemon, "/healthz").status_code == 200
    assert _get(daemon, "/readyz").status_code == 503


def test_a_wedged_receiver_fails_liveness_until_it_moves_again(
    moto_server: MotoServer,
    proxy: SqsFaultProxy,
    tmp_path: Path,
    start_daemon: Callable[..., Daemon],
) -> None:
    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server.endpoint_url)
    queue_url = client.create_queue(QueueName="ses-events")["QueueUrl"]
    clock = _Monotonic()
    daemon = start_daemon(daemon_config(tmp_path, proxy.endpoint_url, queue_url), Heartbeats(clock))
    assert wait_until(lambda: all(s.up for s in daemon.health.all() if s.source == "sqs"))
    # A real wedge: the store's lock is held, so the receiver blocks inside its commit for good.
    store_lock = _sqlite(daemon)._lock
    store_lock.acquire()
    try:
        client.send_message(QueueUrl=queue_url, MessageBody='{"not": "ses"}')
        proxy.wait_for(lambda: proxy.calls["ReceiveMessage"] >= 2)
        clock.now += RECEIVER_STALL_SECONDS + 60
        # The scheduler's own heartbeat keeps beating (an executor of its own); the receiver cannot.
        assert wait_until(
            lambda: (
                daemon.wedged() == [f"sesmon-sqs-prod-0 (no progress for {RECEIVER_STALL_SECONDS + 60:.0f}s)"]
            )
        )
        alive = _get(daemon, "/healthz")
        assert alive.status_code == 503
        assert "sesmon-sqs-prod-0" in alive.text
    finally:
        store_lock.release()
    assert wait_until(lambda: _get(daemon, "/healthz").status_code == 200)
