"""The traffic simulator's publishing loop, driven step by step with an injected clock and fake clients."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from botocore.exceptions import EndpointConnectionError

from sesmon.demo.scenarios import SCENARIOS
from sesmon.demo.simulator import DEFAULT_HISTORY, TrafficSimulator, reputation, reputation_datums
from sesmon.demo.traffic import SNS_SUBJECT, Tally, Traffic, demo_profiles, iso

START = 1_790_000_000.0


class FakeSns:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, str]]] = []
        self.down = False

    def publish_batch(self, **request: Any) -> dict[str, Any]:
        if self.down:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        assert request["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:ses-event-publishing"
        entries: list[dict[str, str]] = request["PublishBatchRequestEntries"]
        self.batches.append(entries)
        return {"Successful": [{"Id": e["Id"]} for e in entries], "Failed": []}


class FakeCloudWatch:
    def __init__(self) -> None:
        self.calls: list[list[dict[str, Any]]] = []

    def put_metric_data(self, **request: Any) -> None:
        assert request["Namespace"] == "AWS/SES"
        self.calls.append(request["MetricData"])


def _detail(record: dict[str, Any]) -> str:
    return next(k for k in record if k not in ("eventType", "mail"))


def _simulator(sns: FakeSns, cloudwatch: FakeCloudWatch) -> TrafficSimulator:
    traffic = Traffic(demo_profiles(), SCENARIOS["steady"].rates, started=START, seed=5)
    return TrafficSimulator(
        traffic,
        cast("Any", sns),
        "arn:aws:sns:us-east-1:123456789012:ses-event-publishing",
        cast("Any", cloudwatch),
        clock=lambda: START,
    )


def test_events_are_published_when_due_in_batches_of_ten() -> None:
    sns, cloudwatch = FakeSns(), FakeCloudWatch()
    simulator = _simulator(sns, cloudwatch)
    for tick in range(1, 51):
        simulator.step(START + tick * 0.2)
    entries = [e for batch in sns.batches for e in batch]
    assert entries
    assert all(1 <= len(batch) <= 10 for batch in sns.batches)
    assert {e["Subject"] for e in entries} == {SNS_SUBJECT}
    records = [json.loads(e["Message"]) for e in entries]
    # Nothing is published before it is due: every record's own timestamp is not after the last step.
    last = iso(START + 10)
    assert all(r["mail"]["timestamp"] <= last for r in records)
    assert all(r[_detail(r)].get("timestamp", last) <= last for r in records)
    assert simulator.published == len(entries)
    sends = [r for r in records if r["eventType"] == "Send"]
    assert simulator.sent_last_24_hours() == sum(len(r["mail"]["destination"]) for r in sends)
    assert sum(simulator.tally.sent.values()) > 0


def test_failed_publishes_are_retried_not_lost() -> None:
    sns, cloudwatch = FakeSns(), FakeCloudWatch()
    simulator = _simulator(sns, cloudwatch)
    sns.down = True
    for tick in range(1, 11):
        simulator.step(START + tick * 0.2)
    assert simulator.published == 0
    assert simulator.failures > 0
    sns.down = False
    for tick in range(11, 40):
        simulator.step(START + tick * 0.2)
    sends = [json.loads(e["Message"]) for b in sns.batches for e in b]
    assert simulator.published == len(sends)
    # The first messages, sent during the outage, made it out after it.
    first = min(r["mail"]["timestamp"] for r in sends if r["eventType"] == "Send")
    assert first < iso(START + 2.1)


def test_reputation_datapoints_cover_the_account_and_each_set() -> None:
    sns, cloudwatch = FakeSns(), FakeCloudWatch()
    simulator = _simulator(sns, cloudwatch)
    simulator.step(START + 0.2)
    simulator.step(START + 1.0)  # before metrics_every: no second put
    simulator.step(START + 16.0)
    assert len(cloudwatch.calls) == 2
    datums = cloudwatch.calls[-1]
    keys = {(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])) for d in datums}
    assert keys == {
        (metric, dims)
        for metric in ("Reputation.BounceRate", "Reputation.ComplaintRate")
        for dims in (
            (),
            (("ses:configuration-set", "transactional"),),
            (("ses:configuration-set", "marketing"),),
        )
    }


def test_reputation_blends_history_with_published_traffic() -> None:
    tally = Tally(sent={"marketing": 10_000}, bounced={"marketing": 800}, complained={"marketing": 10})
    history = DEFAULT_HISTORY["marketing"]
    bounce, complaint = reputation(tally, DEFAULT_HISTORY, "marketing")
    expected = (history.sent * history.bounce_rate + 800) / (history.sent + 10_000)
    assert bounce == pytest.approx(expected)
    assert complaint == pytest.approx((history.sent * history.complaint_rate + 10) / (history.sent + 10_000))
    account_bounce, _ = reputation(tally, DEFAULT_HISTORY, None)
    assert account_bounce < bounce  # transactional's clean history dilutes the account-wide rate
    datums = reputation_datums(tally, DEFAULT_HISTORY, ["marketing"], START)
    assert {d["Value"] for d in datums if d["MetricName"] == "Reputation.BounceRate"} == {
        account_bounce,
        bounce,
    }
