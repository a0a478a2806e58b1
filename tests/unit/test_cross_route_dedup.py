"""One event, one count, whatever the route: raw, SNS-wrapped and EventBridge copies of a record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sesmon.batch import Message
from sesmon.config import Config
from sesmon.ingest import TargetIngest
from sesmon.model import Outcome
from sesmon.state.sqlite import SqliteState

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ses-events"
NOW = 1_791_210_000.0  # shortly after the fixtures' events


def _config(state: Path) -> Config:
    return Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"},
                }
            ],
            "state": {"path": str(state)},
        }
    )


def _routes(record: dict[str, Any]) -> list[str]:
    """The same SES record as SES event publishing can deliver it: raw (SNS raw delivery), wrapped
    in an SNS notification, as an EventBridge event, and as an EventBridge event sent on to SNS."""
    sns = {
        "Type": "Notification",
        "MessageId": "0f6b2c38-1111-4aaa-8bbb-000000000001",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
        "Message": json.dumps(record),
    }
    eventbridge = {
        "version": "0",
        "id": "6ce3f59f-9a1c-57bc-823e-d7d8bb5f4c7d",
        "detail-type": "Email Bounced",
        "source": "aws.ses",
        "account": "123456789012",
        "resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/transactional"],
        "detail": record,
    }
    eventbridge_via_sns = {**sns, "MessageId": "0f6b2c38-2222-4aaa-8bbb-000000000002"}
    eventbridge_via_sns["Message"] = json.dumps(eventbridge)
    return [json.dumps(record), json.dumps(sns), json.dumps(eventbridge), json.dumps(eventbridge_via_sns)]


def test_the_same_record_by_every_route_counts_once(tmp_path: Path) -> None:
    record = json.loads((FIXTURES / "ep-bounce-permanent-general.raw.json").read_text())
    config = _config(tmp_path / "state.db")
    store = SqliteState(tmp_path / "state.db")
    try:
        ingest = TargetIngest(config.targets[0], config, store)
        ingest.restore(NOW)
        bodies = _routes(record)
        # Two routes in one batch, the other two in a later one: dedup holds within and across batches.
        first = ingest.process([Message(f"m{i}", b) for i, b in enumerate(bodies[:2])], NOW)
        second = ingest.process([Message(f"n{i}", b) for i, b in enumerate(bodies[2:])], NOW + 1)
        assert [p.outcome for p in first + second] == [
            Outcome.COUNTED,
            Outcome.DUPLICATE,
            Outcome.DUPLICATE,
            Outcome.DUPLICATE,
        ]
        counters = ingest.counters()
        bounces = {k: v for k, v in counters.items() if k[0] == "events" and k[2] == "bounce"}
        assert sum(bounces.values()) == 1
        assert counters[("sqs", "duplicate")] == 3
    finally:
        store.close()
