"""Rates for every wiring: a set whose Send events never reach sesmon takes CloudWatch Send (moto)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from prometheus_client import CollectorRegistry

from sesmon.aws_health import AwsHealthComponent
from sesmon.batch import Message
from sesmon.config import Config
from sesmon.denominators import SendBoard
from sesmon.health import SourceHealth
from sesmon.ingest import IngestComponent
from sesmon.metrics import build_registry
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.state.sqlite import SqliteState
from sesmon.targets import TargetDirectory
from tests.sesgen import SesEventGenerator

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef
    from mypy_boto3_sqs import SQSClient

SET = "feedback-only"


class _NoSqs:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError("the test feeds ingestion directly")


@dataclass
class World:
    ingest: IngestComponent
    aws: AwsHealthComponent
    registry: CollectorRegistry
    seed: AwsClients
    store: SqliteState
    now: float

    def feed_feedback_only(self, at: float) -> tuple[int, int]:
        """Bounces and complaints of SET, no Send: (AWS-rate bounced, AWS-rate complained) recipients."""
        gen = SesEventGenerator(seed=7, start=at, spread=60.0, simulator_share=0.0)
        events = [gen.event("Bounce", SET) for _ in range(30)] + [
            gen.event("Complaint", SET) for _ in range(5)
        ]
        self.ingest.ingests["prod"].process(
            [Message(f"m{i}", e.body) for i, e in enumerate(events)], self.now
        )
        bounced = sum(e.rate_recipients for e in events[:30])
        complained = sum(e.rate_recipients for e in events[30:])
        return bounced, complained

    def put_send(self, value: float, when: float, configuration_set: str | None) -> None:
        dims: list[DimensionTypeDef] = (
            [{"Name": "ses:configuration-set", "Value": configuration_set}] if configuration_set else []
        )
        self.seed.client("cloudwatch").put_metric_data(
            Namespace="AWS/SES",
            MetricData=[
                {
                    "MetricName": "Send",
                    "Dimensions": dims,
                    "Timestamp": datetime.fromtimestamp(when, tz=UTC),
                    "Value": value,
                }
            ],
        )

    def cycle(self) -> None:
        """What the daemon does: a read of the windows (which asks for denominators), a CloudWatch
        poll (which fetches them), and the next read."""
        self.ingest.readouts()
        self.aws.poll_all(self.now)

    def value(self, name: str, **labels: str) -> float | None:
        """A window gauge of SET: the event-count families carry the target, not its account."""
        return self.registry.get_sample_value(name, {"target": "prod", "configuration_set": SET, **labels})


@pytest.fixture
def world(moto_server: Any, tmp_path: Path) -> Iterator[World]:
    config = Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "endpoint_url": moto_server.endpoint_url,
                    "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"},
                    "account": {"enabled": False},
                }
            ],
            "state": {"path": str(tmp_path / "state.db")},
        }
    )
    now = time.time()
    board = SendBoard()
    counter = ApiCallCounter()
    directory = TargetDirectory(config.targets)
    clients = {"prod": AwsClients(config.targets[0], counter)}
    store = SqliteState(config.state.path)
    ingest = IngestComponent(
        config,
        store,
        health=SourceHealth(),
        targets=directory,
        clock=lambda: now,
        sqs_clients={"prod": lambda: cast("SQSClient", _NoSqs())},
        sends=board,
    )
    aws = AwsHealthComponent(config, clients, directory, counter, clock=lambda: now, sends=board)
    for target_ingest in ingest.ingests.values():
        target_ingest.restore(now)
    registry = build_registry([*ingest.collectors(), *aws.collectors()])
    seed = AwsClients(config.targets[0], ApiCallCounter())
    seed.client("sesv2").create_configuration_set(ConfigurationSetName=SET)
    try:
        yield World(ingest, aws, registry, seed, store, now)
    finally:
        store.close()


def test_a_set_with_only_bounces_and_complaints_takes_cloudwatch_send(world: World) -> None:
    # Well inside the 1h window and before CloudWatch's newest period (cloudwatch.delay is 10m).
    at = world.now - 40 * 60
    bounced, complained = world.feed_feedback_only(at)
    world.put_send(120.0, at, SET)
    world.put_send(80.0, at + 300, SET)
    world.cycle()
    one_hour = {"window": "1h", "denominator": "cloudwatch"}
    assert world.value("sesmon_window_sent_recipients", **one_hour) == 200
    assert world.value("sesmon_window_bounce_ratio", **one_hour) == pytest.approx(bounced / 200)
    assert world.value("sesmon_window_complaint_ratio", **one_hour) == pytest.approx(complained / 200)
    # Never both: the events-denominator series of that window is gone.
    assert world.value("sesmon_window_bounce_ratio", window="1h", denominator="events") is None
    # Alert rules observe the same ratio.
    observed = world.ingest.observe("bounce_rate", "1h", world.now)
    assert len(observed) == 1
    assert observed[0].value == pytest.approx(bounced / 200)
    assert observed[0].recipients == 200
    assert "denominator=cloudwatch" in observed[0].detail


def test_with_neither_send_events_nor_cloudwatch_send_there_is_no_ratio(world: World) -> None:
    world.feed_feedback_only(world.now - 40 * 60)
    world.cycle()
    for window in ("1h", "24h", "volume"):
        for denominator in ("events", "cloudwatch"):
            labels = {"window": window, "denominator": denominator}
            assert world.value("sesmon_window_bounce_ratio", **labels) is None
            assert world.value("sesmon_window_complaint_ratio", **labels) is None
        assert world.value("sesmon_window_sent_recipients", window=window, denominator="events") == 0
    assert world.ingest.observe("bounce_rate", "1h", world.now) == []


def test_send_is_fetched_only_when_a_set_lacks_send_events(world: World) -> None:
    world.aws.poll_all(world.now)
    requested = world.registry.get_sample_value(
        "sesmon_cloudwatch_metrics_requested_total",
        {"target": "prod", "account_id": "123456789012", "region": "us-east-1"},
    )
    world.feed_feedback_only(world.now - 40 * 60)
    world.cycle()
    after = world.registry.get_sample_value(
        "sesmon_cloudwatch_metrics_requested_total",
        {"target": "prod", "account_id": "123456789012", "region": "us-east-1"},
    )
    assert requested is not None
    assert after is not None
    # The second poll asked for the same reputation metrics plus Send of the account and of the set.
    assert after - requested == requested + 2


def test_identity_notifications_without_a_set_take_the_accounts_send(world: World) -> None:
    # Identity feedback notifications carry no configuration set: they count under (none).
    at = world.now - 40 * 60
    gen = SesEventGenerator(seed=9, start=at, spread=60.0, simulator_share=0.0)
    events = [gen.event("Bounce", None) for _ in range(20)]
    world.ingest.ingests["prod"].process([Message(f"n{i}", e.body) for i, e in enumerate(events)], world.now)
    bounced = sum(e.rate_recipients for e in events)
    world.put_send(400.0, at, None)  # the account-level series: no dimension
    world.cycle()
    labels = {"target": "prod", "configuration_set": "(none)", "window": "24h", "denominator": "cloudwatch"}
    assert world.registry.get_sample_value("sesmon_window_sent_recipients", labels) == 400
    ratio = world.registry.get_sample_value("sesmon_window_bounce_ratio", labels)
    assert ratio == pytest.approx(bounced / 400)
