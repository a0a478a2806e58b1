"""Crafted SQS messages through real ingestion (moto's SQS, a real state file): they are counted as
invalid by reason, cannot grow /metrics or the stored keys, and no genuine event is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import orjson
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sesmon.config import Config
from sesmon.health import SourceHealth
from sesmon.ingest import IngestComponent
from sesmon.metrics import build_registry
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.state.sqlite import SqliteState
from sesmon.targets import TargetDirectory
from sesmon.windows import EVENTS
from tests.conftest import MotoServer
from tests.reliability.sesmon_process import wait_for
from tests.sesgen import SesEventGenerator, expected_counters

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

GENUINE = 300
LONG_NAMES = 100  # 60,000-character configuration-set names: once 85 MB of /metrics
SEPARATOR_NAMES = 20  # "evil\x1fname": once split into two labels after a restart
FUTURE = 20  # dated in the year 9999: once kept in every window until then
LABELS = (("account_id", "123456789012"), ("region", "us-east-1"), ("target", "prod"))


class Rig:
    """An ingestion component on one moto queue and one state file, restartable."""

    def __init__(self, moto: MotoServer, state: Path) -> None:
        self.sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto.endpoint_url)
        self.queue_url = self.sqs.create_queue(QueueName="ses-events")["QueueUrl"]
        self.config = Config.model_validate(
            {
                "targets": [
                    {
                        "name": "prod",
                        "region": "us-east-1",
                        "endpoint_url": moto.endpoint_url,
                        "sqs": {"queue_url": self.queue_url, "wait_time_seconds": 1, "on_invalid": "delete"},
                        "cloudwatch": {"enabled": False},
                        "account": {"enabled": False},
                        "identities": {"enabled": False},
                    }
                ],
                "state": {"path": str(state)},
            }
        )
        self.component: IngestComponent | None = None
        self.store: SqliteState | None = None

    def start(self) -> IngestComponent:
        target = self.config.targets[0]
        self.store = SqliteState(self.config.state.path)
        self.component = IngestComponent(
            self.config,
            self.store,
            health=SourceHealth(),
            targets=TargetDirectory(self.config.targets),
            clock=time.time,
            sqs_clients={"prod": lambda: AwsClients(target, ApiCallCounter()).client("sqs")},
        )
        self.component.start()
        return self.component

    def stop(self) -> None:
        if self.component is not None:
            self.component.stop(time.monotonic() + 30)
            self.component = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def send(self, bodies: list[str]) -> None:
        for i in range(0, len(bodies), 10):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])
            ]
            assert not self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed")


@pytest.fixture
def rig(moto_server: MotoServer, tmp_path: Path) -> Iterator[Rig]:
    made = Rig(moto_server, tmp_path / "state.db")
    yield made
    made.stop()  # also when the test failed: no receiver thread or open store outlives it


def _totals(exposition: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The cumulative series (``*_total``) of an exposition: what the state file carries over."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def _with_configuration_set(body: str, name: str) -> str:
    envelope = orjson.loads(body)
    record = orjson.loads(envelope["Message"])
    record["mail"]["tags"]["ses:configuration-set"] = [name]
    envelope["Message"] = orjson.dumps(record).decode()
    return orjson.dumps(envelope).decode()


def _dated(body: str, timestamp: str) -> str:
    envelope = orjson.loads(body)
    record = orjson.loads(envelope["Message"])
    record["mail"]["timestamp"] = timestamp
    for part in ("bounce", "complaint", "delivery", "deliveryDelay", "open", "click"):
        if isinstance(record.get(part), dict):
            record[part]["timestamp"] = timestamp
    envelope["Message"] = orjson.dumps(record).decode()
    return orjson.dumps(envelope).decode()


def test_crafted_messages_are_counted_invalid_and_bound_metrics_and_state(rig: Rig) -> None:
    now = time.time()
    gen = SesEventGenerator(
        seed=12, configuration_sets=("transactional", "marketing"), start=now - 600, spread=500
    )
    genuine = [gen.event() for _ in range(GENUINE)]
    hostile = [_with_configuration_set(gen.event().body, f"{i}" + "x" * 60_000) for i in range(LONG_NAMES)]
    hostile += [_with_configuration_set(gen.event().body, f"evil\x1fname{i}") for i in range(SEPARATOR_NAMES)]
    hostile += [_dated(gen.event().body, "9999-12-31T23:59:59.000Z") for _ in range(FUTURE)]
    bodies = [g.body for g in genuine] + hostile
    bodies = bodies[::2] + bodies[1::2]  # hostile ones interleaved with genuine ones in batches

    component = rig.start()
    ingest = component.ingests["prod"]
    rig.send(bodies)
    wait_for(lambda: ingest.counters().get(("sqs", "deleted"), 0) >= len(bodies), "every message deleted")

    expected = expected_counters(genuine)
    invalid = {"bad_configuration_set": LONG_NAMES + SEPARATOR_NAMES, "future_timestamp": FUTURE}

    def check(counters: dict[tuple[str, ...], int]) -> None:
        assert {k: v for k, v in counters.items() if k[0] != "sqs"} == expected  # no genuine event lost
        assert {k[2]: v for k, v in counters.items() if k[:2] == ("sqs", "invalid")} == invalid
        assert counters[("sqs", "counted")] == GENUINE

    check(ingest.counters())
    registry = build_registry(component.collectors())
    exposition = generate_latest(registry)
    rig.stop()

    # A restart reads the same from the state file, and /metrics shows the same series.
    component = rig.start()
    ingest = component.ingests["prod"]
    check(ingest.counters())
    assert rig.store is not None
    check(rig.store.ingest_load("prod").counters)
    again = generate_latest(build_registry(component.collectors()))
    invalid_series = (
        "sesmon_sqs_messages_invalid_total",
        tuple(sorted((*LABELS, ("reason", "bad_configuration_set")))),
    )
    assert _totals(exposition)[invalid_series] == LONG_NAMES + SEPARATOR_NAMES
    assert _totals(again) == _totals(exposition)  # every persisted series, same labels and values
    assert len(exposition) < 200_000  # hundreds of series of short labels, not megabytes
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert len(value) <= 64, (family.name, name, value[:80])
                assert "evil" not in value
                assert "\x1f" not in value
            if "configuration_set" in sample.labels:
                assert sample.labels["configuration_set"] in {
                    "transactional",
                    "marketing",
                    "(none)",
                    "(other)",
                }
    # Nothing dated in the future reached a window.
    totals = ingest.totals(time.time())
    assert sum(t["24h"][EVENTS] for t in totals.values()) == GENUINE
