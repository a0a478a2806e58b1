"""Doctor's pure judgements: queue policies, EventBridge patterns, the wiring's documents."""

from __future__ import annotations

from typing import Any

import pytest

from sesmon.config import EventsConfig
from sesmon.doctor import pattern_matches, policy_allows, sample_event
from sesmon.wiring import REQUIRED_EVENT_TYPES, build

QUEUE = "arn:aws:sqs:us-east-1:123456789012:q"
TOPIC = "arn:aws:sns:us-east-1:123456789012:t"


def wiring(via: str = "sns") -> Any:
    return build(
        target="prod",
        region="us-east-1",
        account="123456789012",
        queue_name="q",
        events=EventsConfig.model_validate({"via": via}),
        configuration_sets=("tx",),
        dedup_ttl=4 * 86400.0,
    )


def allow(**extra: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": QUEUE,
        **extra,
    }


@pytest.mark.parametrize(
    ("statements", "allowed"),
    [
        ([allow(Condition={"ArnEquals": {"aws:SourceArn": TOPIC}})], True),
        ([allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:*"}})], True),
        ([allow(Condition={"ArnEquals": {"aws:SourceArn": TOPIC + "-other"}})], False),
        ([allow(Principal="*", Action="sqs:*", Resource="*")], True),
        ([allow(Principal={"Service": "events.amazonaws.com"})], False),
        ([allow(), {**allow(), "Effect": "Deny", "Action": "*"}], False),
        ([allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})], False),  # not evaluable
        ([], False),
    ],
)
def test_policy_allows(statements: list[dict[str, Any]], allowed: bool) -> None:
    policy = {"Version": "2012-10-17", "Statement": statements}
    assert policy_allows(policy, "sns.amazonaws.com", TOPIC, QUEUE) is allowed


def test_the_wirings_own_policy_lets_its_source_send() -> None:
    for via in ("sns", "eventbridge"):
        w = wiring(via)
        assert policy_allows(w.queue_policy(), w.principal, w.source_arn, w.queue_arn)
    assert policy_allows(None, "sns.amazonaws.com", TOPIC, QUEUE) is False


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ({"source": ["aws.ses"]}, True),
        ({"source": [{"prefix": "aws."}], "detail-type": [{"prefix": "Email "}]}, True),
        ({"source": ["aws.ses"], "detail": {"eventType": [{"anything-but": "Open"}]}}, True),
        ({"source": ["aws.sns"]}, False),
        ({"source": ["aws.ses"], "detail-type": ["Email Opened"]}, False),
        ({"source": ["aws.ses"], "detail": {"unknownField": [{"exists": True}]}}, False),
        ("not a pattern", False),
    ],
)
def test_pattern_matches_every_required_ses_event(pattern: object, matches: bool) -> None:
    w = wiring("eventbridge")
    results = {pattern_matches(pattern, sample_event(w, "tx", t)) for t in REQUIRED_EVENT_TYPES}
    assert results == {matches}


def test_the_wirings_own_pattern_matches_what_it_routes() -> None:
    w = wiring("eventbridge")
    assert all(pattern_matches(w.event_pattern(), sample_event(w, "tx", t)) for t in w.event_types)
    assert w.rule_arn == "arn:aws:events:us-east-1:123456789012:rule/sesmon-ses-events"
    assert w.event_destination()["EventBridgeDestination"]["EventBusArn"].endswith(":event-bus/default")
