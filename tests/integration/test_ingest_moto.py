"""End to end against moto's SQS: 20,000 events, 30% delivered twice, 200 malformed → exact counts."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from sesmon.config import Config
from sesmon.health import SourceHealth
from sesmon.ingest import IngestComponent
from sesmon.metrics import build_registry
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.state.sqlite import SqliteState
from sesmon.targets import TargetDirectory
from tests.conftest import MotoServer
from tests.queues import depth
from tests.sesgen import SesEventGenerator, expected_counters, expected_rates

EVENTS = 20_000
DUPLICATE_SHARE = 0.3
MALFORMED = 200
MAX_DEPTH = 20


def _config(moto: MotoServer, queue_url: str, state: Path, on_invalid: str = "delete") -> Config:
    return Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "endpoint_url": moto.endpoint_url,
                    "sqs": {
                        "queue_url": queue_url,
                        "receivers": 2,
                        "wait_time_seconds": 1,
                        "on_invalid": on_invalid,
                    },
                    "cloudwatch": {"enabled": False},
                    "account": {"enabled": False},
                    "identities": {"enabled": False},
                    "configuration_sets": ["transactional", "marketing", "promo-*"],
                }
            ],
            "state": {"path": str(state)},
        }
    )


def _feed(
    sqs: Any, queue_url: str, bodies: list[str], stop: threading.Event, received: Callable[[], int]
) -> None:
    """Send ``bodies`` 10 at a time, keeping at most ~MAX_DEPTH of them ahead of the receivers:
    moto's SQS scans the whole queue on every call, so a deep queue makes it quadratically slow."""
    for i in range(0, len(bodies), 10):
        while i - received() > MAX_DEPTH:
            if stop.wait(0.005):
                return
        if stop.is_set():
            return
        entries = [{"Id": str(j), "MessageBody": body} for j, body in enumerate(bodies[i : i + 10])]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        assert not response.get("Failed"), response.get("Failed")


def _wait_for(condition: Any, timeout: float, what: str) -> None:
    # A bounded poll of a condition (the receivers run in their own threads and report through the
    # store); the bound only stops a hung run, it is no speed requirement.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
# moto's SQS is slow and CPU-bound: on a loaded 2-core machine this drain takes minutes.
@pytest.mark.timeout(1200)
def test_exact_counts_through_sqs(
    moto_server: MotoServer, tmp_path: Path, open_store: Callable[[Path], SqliteState]
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_server.endpoint_url)
    queue_url = sqs.create_queue(QueueName="ses-events")["QueueUrl"]
    now = time.time()
    gen = SesEventGenerator(
        seed=20_000,
        configuration_sets=("transactional", "marketing", "promo-spring", "unlisted", None),
        start=now - 1800,
        spread=1700,
    )
    events = [gen.event() for _ in range(EVENTS)]
    malformed = [gen.malformed() for _ in range(MALFORMED)]
    rng = random.Random(7)
    duplicated = rng.sample(range(EVENTS), int(EVENTS * DUPLICATE_SHARE))
    bodies = [e.body for e in events] + [events[i].body for i in duplicated] + [b for b, _ in malformed]
    rng.shuffle(bodies)

    config = _config(moto_server, queue_url, tmp_path / "state.db")
    target = config.targets[0]
    store = open_store(tmp_path / "state.db")
    health = SourceHealth()
    targets = TargetDirectory(config.targets)
    component = IngestComponent(
        config,
        store,
        health=health,
        targets=targets,
        clock=time.time,
        sqs_clients={"prod": lambda: AwsClients(target, ApiCallCounter()).sqs_receiver()},
    )
    registry = build_registry(component.collectors())
    ingest = component.ingests["prod"]
    stop = threading.Event()
    feeder = threading.Thread(
        target=_feed,
        args=(sqs, queue_url, bodies, stop, lambda: ingest.counters().get(("sqs", "received"), 0)),
        daemon=True,
    )

    def drained() -> bool:
        # Not "deleted >= sent": SQS (and moto) may hand one message to two receivers, and both
        # copies count as deleted. Done is: everything sent, every event counted, the queue empty
        # with nothing in flight.
        counters = ingest.counters()
        invalid = sum(v for k, v in counters.items() if k[:2] == ("sqs", "invalid"))
        return (
            not feeder.is_alive()
            and counters.get(("sqs", "counted"), 0) == EVENTS
            and invalid == MALFORMED
            and depth(sqs, queue_url) == 0
        )

    component.start()
    feeder.start()
    try:
        _wait_for(drained, timeout=1100, what="every message to be processed and deleted")
    finally:
        stop.set()
        feeder.join(30)
        component.stop(time.monotonic() + 30)

    # "unlisted" matches none of the configured globs, so it folds into (other).
    renamed = [e if e.configuration_set != "unlisted" else _fold(e) for e in events]
    expected = expected_counters(renamed)
    reasons = Counter(reason for _, reason in malformed)
    for counters in (ingest.counters(), store.ingest_load("prod").counters):
        got = {k: v for k, v in counters.items() if k[0] != "sqs"}
        assert got == expected
        # moto, like SQS itself, occasionally hands one message to two concurrent receivers; such a
        # redelivery must be recorded as a duplicate, never counted.
        redelivered = counters[("sqs", "received")] - len(bodies)
        assert 0 <= redelivered < len(bodies) // 100
        assert counters[("sqs", "counted")] == EVENTS
        assert counters[("sqs", "duplicate")] == len(duplicated) + redelivered
        # Counted with each batch's own commit: exact, one per message received and deleted.
        assert counters[("sqs", "deleted")] == counters[("sqs", "received")]
        invalid = {k[2]: v for k, v in counters.items() if k[:2] == ("sqs", "invalid")}
        assert invalid == dict(reasons)
        assert not any(k[:2] == ("sqs", "control") for k in counters)

    # The AWS-comparable windows hold every event (all stamped within the last hour).
    rates = expected_rates(renamed)
    totals = ingest.totals(time.time())
    for cs, row in rates.items():
        for window in ("1h", "24h"):
            assert totals[cs][window].rate("bounce_rate")[1:] == (row["bounced"], row["sent"])
            assert totals[cs][window].rate("complaint_rate")[1:] == (row["complained"], row["sent"])

    labels = {"target": "prod", "account_id": "123456789012", "region": "us-east-1"}
    assert (
        registry.get_sample_value("sesmon_sqs_messages_duplicate_total", labels)
        == ingest.counters()[("sqs", "duplicate")]
    )
    for reason, count in reasons.items():
        assert (
            registry.get_sample_value("sesmon_sqs_messages_invalid_total", {**labels, "reason": reason})
            == count
        )
    # Per target by default (metrics.events_per_set); the account and region are on target_info.
    sends = sum(n for key, n in expected.items() if key[0] == "events" and key[2] == "send")
    assert registry.get_sample_value("sesmon_events_total", {"target": "prod", "event_type": "send"}) == sends
    assert registry.get_sample_value("sesmon_target_info", labels) == 1
    assert registry.get_sample_value("sesmon_event_lag_seconds_count", labels) == EVENTS
    assert health.all()[0].up
    assert depth(sqs, queue_url) == 0


def _fold(event: Any) -> Any:
    from dataclasses import replace  # noqa: PLC0415

    return replace(event, configuration_set="(other)")
