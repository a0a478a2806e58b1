"""The cached /metrics exposition: prometheus_client's own bytes, re-rendered when the data changes."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon.batch import Message
from sesmon.config import Config, MetricsConfig
from sesmon.health import SourceHealth
from sesmon.ingest import IngestComponent
from sesmon.metrics import build_registry
from sesmon.metrics.exposition import Exposition, ExpositionCollector
from sesmon.state.sqlite import SqliteState
from sesmon.targets import TargetDirectory
from sesmon.web import Probes, make_app
from tests.sesgen import SesEventGenerator

NOW = 1_790_000_000.0


def _config(tmp_path: Path, metrics: dict[str, bool] | None = None) -> Config:
    return Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
                }
            ],
            "state": {"path": str(tmp_path / "state.db")},
            "metrics": metrics or {},
        }
    )


@contextmanager
def _ingest(config: Config) -> Iterator[IngestComponent]:
    """The ingestion of ``config`` on its own store, restored at NOW; the store closed after, always."""
    store = SqliteState(config.state.path)
    try:
        component = IngestComponent(
            config,
            store,
            health=SourceHealth(),
            targets=TargetDirectory(config.targets),
            clock=lambda: NOW,
            sqs_clients={"prod": lambda: None},  # type: ignore[dict-item, return-value]
        )
        component.ingests["prod"].restore(NOW)
        yield component
    finally:
        store.close()


@pytest.fixture
def ingest(tmp_path: Path) -> Iterator[IngestComponent]:
    with _ingest(_config(tmp_path)) as component:
        yield component


def _feed(component: IngestComponent, count: int, seed: int) -> None:
    gen = SesEventGenerator(
        seed=seed, configuration_sets=["tx", "news"], start=NOW - 600, spread=500, step=1.0
    )
    batch = [Message(f"{seed}-{i}", gen.event().body) for i in range(count)]
    component.ingests["prod"].process(batch, NOW)


@pytest.fixture
def exposition(ingest: IngestComponent) -> Iterator[Exposition]:
    registry = build_registry(ingest.collectors())
    exposition = Exposition(registry, interval=0.0, max_age=3600.0)
    ingest.on_change(exposition.changed)
    yield exposition
    exposition.close()


def _scrape(exposition: Exposition, encoding: str = "") -> tuple[dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status
        seen["headers"] = dict(headers)

    probes = Probes(alive=lambda: True, pending=list, status=lambda: None)  # type: ignore[arg-type, return-value]
    environ = {"PATH_INFO": "/metrics", "REQUEST_METHOD": "GET", "HTTP_ACCEPT_ENCODING": encoding}
    body = b"".join(make_app(exposition, probes)(environ, start_response))
    assert seen["status"] == "200 OK"
    return seen["headers"], body


def test_served_bytes_are_prometheus_clients_own_rendering(
    ingest: IngestComponent, exposition: Exposition
) -> None:
    _feed(ingest, 200, seed=1)
    headers, body = _scrape(exposition)
    assert body == generate_latest(exposition.registry)
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)
    assert b'sesmon_recipients_total{configuration_set="tx",event_type="send",target="prod"}' in body
    assert b'sesmon_target_info{account_id="123456789012",region="us-east-1",target="prod"} 1.0' in body
    zipped_headers, zipped = _scrape(exposition, "gzip, deflate")
    assert zipped_headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped) == body


def test_cached_bytes_change_when_the_data_does_and_only_then(
    ingest: IngestComponent, exposition: Exposition
) -> None:
    _feed(ingest, 50, seed=2)
    _, first = _scrape(exposition)
    rendered = exposition.latest()
    # Nothing changed: every scrape is served from the cache, nothing is rendered.
    for _ in range(5):
        assert _scrape(exposition)[1] == first
    assert exposition.latest() is rendered
    exposition.start()
    _feed(ingest, 50, seed=3)  # commits a batch: the renderer is told, and renders in the background
    _wait_for(lambda: _scrape(exposition)[1] != first, "a new rendering after the batch")
    _, second = _scrape(exposition)
    assert second == generate_latest(exposition.registry)
    assert b"sesmon_sqs_messages_received_total" in second
    assert _received(second) == 100.0
    assert _received(first) == 50.0


def test_self_metrics_report_the_previous_renderings_size(
    ingest: IngestComponent, exposition: Exposition
) -> None:
    exposition.registry.register(ExpositionCollector(lambda: exposition))
    _feed(ingest, 20, seed=4)
    first = exposition.refresh()
    second = exposition.refresh()
    lines = dict(
        line.rsplit(" ", 1)
        for line in second.body.decode().splitlines()
        if line.startswith("sesmon_exposition_")
    )
    assert float(lines["sesmon_exposition_bytes"]) == len(first.body)
    samples = [line for line in first.body.decode().splitlines() if line and not line.startswith("#")]
    assert float(lines["sesmon_exposition_series"]) == len(samples) == first.series


def test_no_rendering_while_nobody_scrapes(ingest: IngestComponent, exposition: Exposition) -> None:
    counting = _CountingCollector()
    exposition.registry.register(counting)  # the registry collects once to learn its names
    registered = counting.calls
    assert exposition._due_in(time.monotonic()) is None
    _feed(ingest, 10, seed=5)
    assert exposition._due_in(time.monotonic()) is None
    assert counting.calls == registered
    _scrape(exposition)
    assert exposition._due_in(time.monotonic()) == pytest.approx(3600.0, abs=5)
    _feed(ingest, 10, seed=6)
    rendered = exposition.latest()
    assert rendered is not None
    # Due once ten times the last rendering's duration has passed since it (interval is 0 here).
    due = exposition._due_in(rendered.rendered_at)
    assert due is not None
    assert due == pytest.approx(10 * rendered.took)
    assert exposition._due_in(rendered.rendered_at + due) == 0.0


EVERY_DETAIL = dict.fromkeys(MetricsConfig.model_fields, True)


def _exposition(directory: Path, metrics: dict[str, bool] | None) -> bytes:
    directory.mkdir()
    config = _config(directory, metrics)
    with _ingest(config) as component:
        _feed(component, 400, seed=7)
        return generate_latest(build_registry(component.collectors()))


def _families(body: bytes) -> set[bytes]:
    return {line.split()[2] for line in body.split(b"\n") if line.startswith(b"# TYPE ")}


def test_detailed_breakdowns_are_off_by_default_and_configurable(tmp_path: Path) -> None:
    default = _exposition(tmp_path / "off", None)
    detailed = _exposition(tmp_path / "on", EVERY_DETAIL)
    left_out = {
        b"sesmon_recipients_by_provider_total",
        b"sesmon_bounces_total",
        b"sesmon_complaints_total",
        b"sesmon_delivery_delays_total",
    }
    assert not left_out & _families(default)
    assert left_out <= _families(detailed)
    events = [line for line in default.split(b"\n") if line.startswith(b"sesmon_events_total{")]
    assert events
    assert not any(b"configuration_set=" in line for line in events)
    assert b'sesmon_events_total{configuration_set="tx"' in detailed
    for label in (b"bounce_subtype=", b"feedback_type=", b"complaint_subtype=", b"delay_type=", b"provider="):
        assert label in detailed
    # Counting is the same either way: what a detail breaks down, the default has in total.
    assert _sum(default, b"sesmon_events_total{") == _sum(detailed, b"sesmon_events_total{") > 0
    for family, event_type in (
        (b"sesmon_bounces_total{", b"bounce"),
        (b"sesmon_complaints_total{", b"complaint"),
        (b"sesmon_delivery_delays_total{", b"delivery_delay"),
    ):
        recipients = sum(
            float(line.rsplit(b" ", 1)[1])
            for line in default.split(b"\n")
            if line.startswith(b"sesmon_recipients_total{") and b'event_type="' + event_type + b'"' in line
        )
        assert _sum(detailed, family) == recipients > 0, family


def test_a_bounce_subtype_comes_with_its_type(tmp_path: Path) -> None:
    body = _exposition(tmp_path / "sub", {"bounce_subtypes": True})
    bounces = [line for line in body.split(b"\n") if line.startswith(b"sesmon_bounces_total{")]
    assert bounces
    assert all(b"bounce_type=" in line and b"bounce_subtype=" in line for line in bounces)
    types = _exposition(tmp_path / "types", {"bounce_types": True})
    assert b"bounce_type=" in types
    assert b"bounce_subtype=" not in types


def test_a_set_costs_a_bounded_number_of_series_and_the_account_is_on_target_info(tmp_path: Path) -> None:
    default = _exposition(tmp_path / "off", None)
    per_set = [line for line in default.split(b"\n") if b'configuration_set="tx"' in line]
    # recipients by type (7), three window gauges for each of 1h, 24h and volume, the last event.
    assert 10 < len(per_set) <= 7 + 3 * 3 + 1
    counted = (b"sesmon_recipients_total{", b"sesmon_window_", b"sesmon_configuration_set_last_event")
    for line in default.split(b"\n"):
        if line.startswith(counted):
            assert b"account_id=" not in line
            assert b"region=" not in line
            assert b'target="prod"' in line
        elif line.startswith(b"sesmon_sqs_messages_received_total{"):
            assert b'account_id="123456789012"' in line
    info = [line for line in default.split(b"\n") if line.startswith(b"sesmon_target_info{")]
    assert info == [b'sesmon_target_info{account_id="123456789012",region="us-east-1",target="prod"} 1.0']


def _sum(body: bytes, prefix: bytes) -> float:
    return sum(float(line.rsplit(b" ", 1)[1]) for line in body.split(b"\n") if line.startswith(prefix))


def _received(body: bytes) -> float:
    return _sum(body, b"sesmon_sqs_messages_received_total{")


class _CountingCollector(Collector):
    def __init__(self) -> None:
        self.calls = 0

    def collect(self) -> Iterable[Metric]:
        self.calls += 1
        yield GaugeMetricFamily("sesmon_test_renderings", "Renderings seen by the test.", value=self.calls)


def _wait_for(condition: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    done = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        done.wait(0.01)  # re-check the condition; the renderer runs in its own thread
