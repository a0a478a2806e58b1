"""Seeded fuzzing: no input makes the parser raise, and every outcome is well-formed.

The unguarded ``parse_body`` is exercised, not ``parse_message``, so the safety net in the latter
cannot hide a crash. Inputs: random bytes, random JSON built from the keys the parser looks at, and
fixtures with random fields replaced, deleted or truncated.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from sesmon.events import CONTROL_REASONS, INVALID_REASONS, parse_message
from sesmon.events.envelopes import parse_body
from sesmon.events.records import CONFIGURATION_SET_NAME
from sesmon.model import Outcome, Rejection, SesEvent

FIXTURES = Path(__file__).parent.parent / "fixtures"
SEED = 20261005

KEYS = [
    "Type",
    "MessageId",
    "TopicArn",
    "Message",
    "eventType",
    "notificationType",
    "mail",
    "messageId",
    "destination",
    "timestamp",
    "tags",
    "ses:configuration-set",
    "headers",
    "name",
    "value",
    "bounce",
    "bouncedRecipients",
    "bounceType",
    "bounceSubType",
    "emailAddress",
    "feedbackId",
    "complaint",
    "complainedRecipients",
    "complaintFeedbackType",
    "complaintSubType",
    "delivery",
    "recipients",
    "deliveryDelay",
    "delayedRecipients",
    "delayType",
    "open",
    "click",
    "send",
    "reject",
    "failure",
    "subscription",
    "detail-type",
    "source",
    "detail",
    "resources",
    "id",
]
STRINGS = [
    "",
    "Notification",
    "SubscriptionConfirmation",
    "Bounce",
    "Complaint",
    "Delivery",
    "Send",
    "Open",
    "Rendering Failure",
    "DeliveryDelay",
    "AmazonSnsSubscriptionSucceeded",
    "Permanent",
    "OnAccountSuppressionList",
    "not-spam",
    "aws.ses",
    "Email Bounced",
    "Email Sent",
    "Sending Status Enabled",
    "2026-10-05T14:02:03.000Z",
    "2026-13-45T99:99:99Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "x@simulator.amazonses.com",
    '"N" <A@B.C>',
    "<",
    ">",
    "@",
    "arn:aws:ses:r:1:configuration-set/",
    "arn:aws:ses:r:1:configuration-set/cs",
    "X-SES-CONFIGURATION-SET",
    "\u00e9\u4e2d\U0001f600",
    "{",
    "[1,",
    "Successfully validated SNS topic for Amazon SES event publishing.",
]


def _scalar(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            False,
            rng.randint(-(2**40), 2**40),
            rng.random() * 1e12,
            rng.choice(STRINGS),
            "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 12))),
        ]
    )


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth <= 0 or roll < 0.5:
        return _scalar(rng)
    if roll < 0.75:
        return [_value(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(KEYS): _value(rng, depth - 1) for _ in range(rng.randint(0, 6))}


def _nodes(document: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [path]
    if isinstance(document, dict):
        for key, child in document.items():
            found += _nodes(child, (*path, key))
    elif isinstance(document, list):
        for index, child in enumerate(document):
            found += _nodes(child, (*path, index))
    return found


def _mutate(rng: random.Random, document: Any) -> Any:
    paths = [path for path in _nodes(document) if path]
    if not paths:
        return _value(rng, 3)
    path = rng.choice(paths)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[path[-1]]
    else:
        parent[path[-1]] = _value(rng, 2)
    return document


def _fixture_bodies() -> list[bytes]:
    return sorted(
        path.read_bytes()
        for directory in ("ses-events", "ses-events-extra")
        for path in (FIXTURES / directory).iterdir()
        if path.name != "expected.json"
    )


def _check(body: bytes | str) -> SesEvent | Rejection:
    result = parse_body(body)  # must not raise
    if isinstance(result, Rejection):
        vocabulary = CONTROL_REASONS if result.outcome is Outcome.CONTROL else INVALID_REASONS
        assert result.outcome in (Outcome.CONTROL, Outcome.INVALID)
        assert result.reason in vocabulary, result
    else:
        assert isinstance(result, SesEvent)
        assert result.recipients
        assert all(isinstance(address, str) for address in result.recipients)
        assert 0 <= result.rate_recipients <= len(result.recipients)
        assert isinstance(result.timestamp, float)
        assert result.dedup_key.startswith(f"ses:{result.message_id}:{result.event_type.value}:")
        name = result.configuration_set
        assert name is None or CONFIGURATION_SET_NAME.fullmatch(name), name  # as SES allows, or invalid
        for detail in (
            result.bounce_type,
            result.bounce_subtype,
            result.complaint_feedback_type,
            result.delay_type,
        ):
            assert detail is None or isinstance(detail, str)
    assert parse_message(body) == result
    return result


def test_random_bytes() -> None:
    rng = random.Random(SEED)
    for _ in range(2000):
        _check(rng.randbytes(rng.randint(0, 200)))


def test_random_json_documents() -> None:
    rng = random.Random(SEED + 1)
    for _ in range(3000):
        _check(json.dumps(_value(rng, 5)))


def test_random_envelopes_around_random_records() -> None:
    rng = random.Random(SEED + 2)
    for _ in range(2000):
        record = _value(rng, 4)
        if rng.random() < 0.5:
            body: Any = {"Type": "Notification", "MessageId": "m", "Message": json.dumps(record)}
        else:
            body = {"detail-type": rng.choice(STRINGS), "source": "aws.ses", "id": "e", "detail": record}
        _check(json.dumps(body))


@pytest.mark.parametrize("body", _fixture_bodies(), ids=lambda body: str(len(body)))
def test_mutated_fixtures(body: bytes) -> None:
    rng = random.Random(SEED + len(body))
    try:
        original = json.loads(body)
    except ValueError:
        original = None
    outcomes = set()
    for _ in range(60):
        if original is None or rng.random() < 0.15:
            cut = rng.randint(0, len(body))
            outcomes.add(type(_check(body[:cut])))
            continue
        document = json.loads(body)
        inner = isinstance(document, dict) and isinstance(document.get("Message"), str) and rng.random() < 0.7
        if inner:
            try:
                document["Message"] = json.dumps(_mutate(rng, json.loads(document["Message"])))
            except ValueError:
                document["Message"] = json.dumps(_value(rng, 3))
        else:
            document = _mutate(rng, document)
        outcomes.add(type(_check(json.dumps(document))))
    assert outcomes  # the loop ran and produced outcomes


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000,
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'{"Type":"Notification","MessageId":"m","Message":"' + b"[" * 3000 + b'"}',
        b"\x00" * 100,
        "\ufeff{}".encode(),
        b'{"eventType":"Send","mail":{"messageId":"m","timestamp":"2026-10-05T14:00:00Z","destination":["a"]}}'
        * 2,
    ],
    ids=["deep-open", "deep-closed", "deep-objects", "deep-in-sns", "nuls", "bom", "two-documents"],
)
def test_pathological_bodies(body: bytes) -> None:
    assert isinstance(_check(body), Rejection)
