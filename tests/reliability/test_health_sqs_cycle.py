"""The sqs source is up only when whole cycles succeed: failing deletes and failing commits, on real
faults (a proxy in front of moto that throttles or drops calls; SQLite refusing to grow the file),
show as down with the reason, keep the receiver receiving, and lose no event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from sesmon.daemon import Daemon
from sesmon.ingest import IngestComponent, TargetIngest
from sesmon.state.sqlite import SqliteState
from tests.conftest import MotoServer
from tests.queues import depth, send
from tests.reliability.conftest import daemon_config
from tests.reliability.faults import SqsFaultProxy
from tests.sesgen import SesEventGenerator, expected_counters

pytestmark = pytest.mark.usefixtures("fast_backoff")

EVENTS = 30
SQS = {"source": "sqs", "target": "prod", "account_id": "123456789012", "region": "us-east-1"}


def _queue(moto: MotoServer) -> tuple[Any, str]:
    client = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto.endpoint_url)
    return client, client.create_queue(QueueName="ses-events")["QueueUrl"]


def _ingest(daemon: Daemon) -> TargetIngest:
    component = next(c for c in daemon.components if isinstance(c, IngestComponent))
    return component.ingests["prod"]


def _sqs_status(daemon: Daemon) -> Any:
    return next(s for s in daemon.health.all() if s.source == "sqs")


def _sqlite(daemon: Daemon) -> SqliteState:
    assert isinstance(daemon.store, SqliteState)  # the default backend, whose internals the fault uses
    return daemon.store


def _get(daemon: Daemon, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{daemon.port}{path}", timeout=10)


def _events(count: int, seed: int) -> tuple[list[str], dict[tuple[str, ...], int]]:
    gen = SesEventGenerator(seed=seed, configuration_sets=("transactional", "marketing"))
    events = [gen.event() for _ in range(count)]
    return [e.body for e in events], expected_counters(events)


def test_throttled_deletes_mark_sqs_down_and_lose_nothing(
    moto_server: MotoServer,
    proxy: SqsFaultProxy,
    tmp_path: Path,
    start_daemon: Callable[..., Daemon],
) -> None:
    client, queue_url = _queue(moto_server)
    bodies, expected = _events(EVENTS, seed=41)
    send(client, queue_url, bodies)
    proxy.fail("DeleteMessageBatch", "throttle")
    daemon = start_daemon(daemon_config(tmp_path, proxy.endpoint_url, queue_url))
    ingest = _ingest(daemon)

    # Every event is stored, yet the source is down: its deletes fail.
    proxy.wait_for(lambda: proxy.failed["DeleteMessageBatch"] >= 3)
    proxy.wait_for(lambda: ingest.counters().get(("sqs", "counted"), 0) == EVENTS)
    # The proxy counts the third refusal before the receiver has handled it: await its report.
    proxy.wait_for(lambda: "ThrottlingException" in (_sqs_status(daemon).last_error or ""))
    status = _sqs_status(daemon)
    assert not status.up
    assert "ThrottlingException" in (status.last_error or "")
    assert daemon.registry.get_sample_value("sesmon_source_up", SQS) == 0.0
    ready = _get(daemon, "/readyz")
    assert ready.status_code == 503
    assert "sqs/prod (last error: " in ready.text
    assert "ThrottlingException" in ready.text
    assert _get(daemon, "/healthz").status_code == 200  # AWS trouble is not a wedged sesmon
    # The delete is bounded: the receiver goes back to receiving while deletes fail.
    receives = proxy.calls["ReceiveMessage"]
    proxy.wait_for(lambda: proxy.calls["ReceiveMessage"] >= receives + 3)

    proxy.heal()
    proxy.wait_for(lambda: depth(client, queue_url) == 0 and _sqs_status(daemon).up, timeout=120)
    assert _get(daemon, "/readyz").status_code == 200
    assert daemon.registry.get_sample_value("sesmon_source_up", SQS) == 1.0
    counters = ingest.counters()
    assert {k: v for k, v in counters.items() if k[0] != "sqs"} == expected
    assert counters[("sqs", "counted")] == EVENTS
    # Redelivered after failed deletes: duplicates, never counted twice; each message deleted once.
    assert counters[("sqs", "duplicate")] == counters[("sqs", "received")] - EVENTS
    assert counters[("sqs", "deleted")] == EVENTS


def test_dropped_delete_connections_are_bounded_and_lose_nothing(
    moto_server: MotoServer,
    proxy: SqsFaultProxy,
    tmp_path: Path,
    start_daemon: Callable[..., Daemon],
) -> None:
    client, queue_url = _queue(moto_server)
    bodies, expected = _events(10, seed=42)
    send(client, queue_url, bodies)
    proxy.fail("DeleteMessageBatch", "drop")
    daemon = start_daemon(daemon_config(tmp_path, proxy.endpoint_url, queue_url))
    ingest = _ingest(daemon)
    proxy.wait_for(lambda: proxy.failed["DeleteMessageBatch"] >= 3)
    receives = proxy.calls["ReceiveMessage"]
    proxy.wait_for(lambda: proxy.calls["ReceiveMessage"] >= receives + 2)
    status = _sqs_status(daemon)
    assert not status.up
    assert "connection" in (status.last_error or "").lower()
    proxy.heal()
    proxy.wait_for(lambda: depth(client, queue_url) == 0 and _sqs_status(daemon).up, timeout=120)
    counters = ingest.counters()
    assert {k: v for k, v in counters.items() if k[0] != "sqs"} == expected
    assert counters[("sqs", "deleted")] == 10


def test_a_failing_commit_marks_sqs_down_deletes_nothing_and_loses_nothing(
    moto_server: MotoServer,
    proxy: SqsFaultProxy,
    tmp_path: Path,
    start_daemon: Callable[..., Daemon],
) -> None:
    client, queue_url = _queue(moto_server)
    daemon = start_daemon(daemon_config(tmp_path, proxy.endpoint_url, queue_url))
    ingest = _ingest(daemon)
    proxy.wait_for(lambda: _sqs_status(daemon).up)
    # SQLite's own "database or disk is full": the file may not grow by a single page.
    conn = _sqlite(daemon)._conn  # the store's connection: the fault is injected where a full disk hits
    with _sqlite(daemon)._lock:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
    bodies, expected = _events(200, seed=43)
    deletes = proxy.calls["DeleteMessageBatch"]
    send(client, queue_url, bodies)
    proxy.wait_for(lambda: not _sqs_status(daemon).up, timeout=120)
    status = _sqs_status(daemon)
    assert "database or disk is full" in (status.last_error or "")
    assert daemon.registry.get_sample_value("sesmon_source_up", SQS) == 0.0
    # A batch whose commit failed is never deleted: it stays in the queue and comes back.
    deleted_before = proxy.calls["DeleteMessageBatch"]
    failed_at = proxy.calls["ReceiveMessage"]
    proxy.wait_for(lambda: proxy.calls["ReceiveMessage"] >= failed_at + 3)
    assert proxy.calls["DeleteMessageBatch"] == deleted_before
    assert deleted_before - deletes < len(bodies) // 10  # some batches never got to a delete
    assert _get(daemon, "/healthz").status_code == 200

    with _sqlite(daemon)._lock:
        conn.execute("PRAGMA max_page_count = 1073741823")
    proxy.wait_for(lambda: depth(client, queue_url) == 0 and _sqs_status(daemon).up, timeout=120)
    counters = ingest.counters()
    assert {k: v for k, v in counters.items() if k[0] != "sqs"} == expected
    assert counters[("sqs", "counted")] == 200
    assert counters[("sqs", "deleted")] == 200
