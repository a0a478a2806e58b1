"""The demo's pure traffic generator: shapes match SES's, sesmon parses them, the mix and scenarios hold."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any

import pytest

from sesmon.demo.scenarios import SCENARIOS, SPIKE_AT
from sesmon.demo.traffic import (
    PlannedEvent,
    Rates,
    Tally,
    Traffic,
    demo_profiles,
    iso,
    plan_message,
    recipient,
    ses_id,
)
from sesmon.events import parse_message
from sesmon.events.addresses import SIMULATOR_DOMAIN
from sesmon.model import EventType, SesEvent
from tests.conftest import FIXTURES

SES_ID = re.compile(
    r"^0100[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-000000$"
)
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
START = 1_790_000_000.0


def _traffic(scenario: str = "steady", seed: int = 3) -> Traffic:
    return Traffic(demo_profiles(), SCENARIOS[scenario].rates, started=START, seed=seed)


@pytest.fixture(scope="module")
def ten_minutes() -> list[PlannedEvent]:
    return _traffic().advance(START + 300)


def _sns(record: dict[str, object]) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "8e5c7f4e-0000-4000-8000-000000000001",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-event-publishing",
            "Subject": "Amazon SES Email Event Notification",
            "Message": json.dumps(record),
            "Timestamp": "2026-10-05T14:00:01.529Z",
        }
    )


def _fixture_record(name: str) -> dict[str, Any]:
    envelope = json.loads((FIXTURES / "ses-events" / name).read_text())
    record: dict[str, Any] = json.loads(envelope["Message"])
    return record


def test_every_record_parses_and_rates_match_the_tally(ten_minutes: list[PlannedEvent]) -> None:
    tally = Tally()
    sent: Counter[str] = Counter()
    bounced: Counter[str] = Counter()
    complained: Counter[str] = Counter()
    for event in ten_minutes:
        tally.add(event)
        parsed = parse_message(_sns(event.record))
        assert isinstance(parsed, SesEvent), (event.event_type, parsed)
        assert parsed.configuration_set == event.configuration_set
        if parsed.event_type is EventType.SEND:
            sent[event.configuration_set] += parsed.rate_recipients
        elif parsed.event_type is EventType.BOUNCE:
            bounced[event.configuration_set] += parsed.rate_recipients
        elif parsed.event_type is EventType.COMPLAINT:
            complained[event.configuration_set] += parsed.rate_recipients

    # What the simulator reports to CloudWatch is exactly what sesmon's AWS-comparable counting finds.
    def nonzero(counts: dict[str, int]) -> dict[str, int]:
        return {k: v for k, v in counts.items() if v}

    assert nonzero(sent) == nonzero(tally.sent)
    assert nonzero(bounced) == nonzero(tally.bounced)
    assert nonzero(complained) == nonzero(tally.complained)
    assert tally.sent["marketing"] > 3000
    assert tally.sent["transactional"] > 1500


def test_mix_is_realistic(ten_minutes: list[PlannedEvent]) -> None:
    types = Counter(e.event_type for e in ten_minutes)
    sends = types["Send"]
    assert types["Delivery"] / sends > 0.95
    assert 0.004 < types["Bounce"] / sends < 0.03
    assert 0.2 < types["Open"] / sends < 0.45
    assert 0.02 < types["Click"] / sends < 0.2
    for rare in ("DeliveryDelay", "Reject", "Complaint"):
        assert types[rare] > 0, rare
    subtypes = Counter(
        (e.record["bounce"]["bounceType"], e.record["bounce"]["bounceSubType"])
        for e in ten_minutes
        if e.event_type == "Bounce"
    )
    assert {
        ("Permanent", "General"),
        ("Permanent", "OnAccountSuppressionList"),
        ("Transient", "MailboxFull"),
    } <= set(subtypes)
    destinations = [a for e in ten_minutes if e.event_type == "Send" for a in e.record["mail"]["destination"]]
    domains = Counter(a.split("@", 1)[1] for a in destinations)
    assert domains["gmail.com"] / len(destinations) > 0.25
    assert {"outlook.com", "yahoo.com", "icloud.com", SIMULATOR_DOMAIN} <= set(domains)
    assert len(domains) >= 10


def test_configuration_sets_send_at_their_rates(ten_minutes: list[PlannedEvent]) -> None:
    messages = Counter(
        e.configuration_set for e in ten_minutes if e.event_type in ("Send", "Reject", "Rendering Failure")
    )
    for profile in demo_profiles():
        assert messages[profile.name] == pytest.approx(profile.messages_per_second * 300, abs=2)


@pytest.mark.parametrize(
    ("event_type", "fixture"),
    [
        ("Send", "ep-send.sns.json"),
        ("Delivery", "ep-delivery.sns.json"),
        ("Bounce", "ep-bounce-permanent-general.sns.json"),
        ("Complaint", "ep-complaint-abuse.sns.json"),
        ("DeliveryDelay", "ep-delivery-delay.sns.json"),
        ("Open", "ep-open.sns.json"),
        ("Click", "ep-click.sns.json"),
        ("Reject", "ep-reject.sns.json"),
        ("Rendering Failure", "ep-rendering-failure.sns.json"),
    ],
)
def test_records_have_the_shape_of_ses_samples(
    ten_minutes: list[PlannedEvent], event_type: str, fixture: str
) -> None:
    reference = _fixture_record(fixture)
    # Rare outcomes are forced in a sample of their own, so every type is checked.
    forced = plan_message(
        random.Random(2), demo_profiles()[0], Rates(reject=0.5, rendering_failure=1.0), START
    )
    ours = next(e.record for e in [*ten_minutes, *forced] if e.event_type == event_type)
    assert set(ours) == set(reference)
    detail_key = next(k for k in reference if k not in ("eventType", "mail"))
    if isinstance(reference[detail_key], dict) and reference[detail_key]:
        assert set(reference[detail_key]) <= set(ours[detail_key]) | {"remoteMtaIp"}
    mail = ours["mail"]
    assert set(mail) >= {"timestamp", "source", "sendingAccountId", "messageId", "destination", "tags"}
    assert ("sourceArn" in mail) == ("sourceArn" in reference["mail"])
    assert SES_ID.match(mail["messageId"])
    assert ISO.match(mail["timestamp"])
    assert mail["tags"]["ses:configuration-set"] in (["marketing"], ["transactional"])


def test_bounce_complaint_and_delay_details(ten_minutes: list[PlannedEvent]) -> None:
    bounce = next(
        e.record["bounce"]
        for e in ten_minutes
        if e.event_type == "Bounce" and e.record["bounce"]["bounceType"] == "Permanent"
    )
    assert SES_ID.match(bounce["feedbackId"])
    assert bounce["bouncedRecipients"][0]["status"].startswith("5.")
    complaint = next(e.record["complaint"] for e in ten_minutes if e.event_type == "Complaint")
    assert complaint["complaintFeedbackType"] in ("abuse", "fraud", "other", "not-spam")
    assert complaint["complainedRecipients"][0]["emailAddress"]
    delay = next(e.record["deliveryDelay"] for e in ten_minutes if e.event_type == "DeliveryDelay")
    assert delay["delayType"] in ("TransientCommunicationFailure", "MailboxFull", "SpamDetected")
    assert ISO.match(delay["expirationTime"])


def test_follow_up_events_come_after_the_send(ten_minutes: list[PlannedEvent]) -> None:
    sent_at = {e.record["mail"]["messageId"]: e.due for e in ten_minutes if e.event_type == "Send"}
    for event in ten_minutes:
        message_id = event.record["mail"]["messageId"]
        if event.event_type != "Send" and message_id in sent_at:
            assert event.due > sent_at[message_id]


def test_simulator_recipients_never_count_toward_aws_rates() -> None:
    rng = random.Random(5)
    profile = demo_profiles()[0]
    always_simulator = Rates(simulator=1.0)
    events = [e for i in range(300) for e in plan_message(rng, profile, always_simulator, START + i)]
    assert all(a.endswith(SIMULATOR_DOMAIN) for e in events for a in e.record["mail"]["destination"])
    assert {e.event_type for e in events} >= {"Send", "Delivery", "Bounce", "Complaint"}
    assert sum(e.rate_sent + e.rate_bounced + e.rate_complained for e in events) == 0


def test_bounce_spike_raises_marketing_hard_bounces_only_after_spike_start() -> None:
    events = _traffic("bounce-spike").advance(START + 2 * SPIKE_AT + 200)
    cutoff = iso(START + SPIKE_AT)

    def hard_rate(name: str, before: bool) -> float:
        def chosen(e: PlannedEvent) -> bool:
            return e.configuration_set == name and (e.record["mail"]["timestamp"] < cutoff) == before

        sent = sum(e.rate_sent for e in events if chosen(e))
        return sum(e.rate_bounced for e in events if chosen(e)) / sent

    assert hard_rate("marketing", before=True) < 0.02
    assert 0.06 < hard_rate("marketing", before=False) < 0.10
    assert hard_rate("transactional", before=False) < 0.01


def test_complaint_spike_and_outage_scenarios() -> None:
    marketing = demo_profiles()[1]
    spike = SCENARIOS["complaint-spike"]
    assert spike.rates(marketing, SPIKE_AT - 1).complaint == marketing.rates.complaint
    assert spike.rates(marketing, SPIKE_AT + 1).complaint == 0.01
    outage = SCENARIOS["outage"]
    assert not outage.outage_active(SPIKE_AT - 1)
    assert outage.outage_active(SPIKE_AT + 1)
    assert not outage.outage_active(SPIKE_AT + 60)
    assert not SCENARIOS["steady"].outage_active(SPIKE_AT + 1)


def test_same_seed_same_outcomes_however_time_is_sliced() -> None:
    whole = _traffic(seed=11).advance(START + 60)
    sliced_traffic = _traffic(seed=11)
    sliced = [e for step in range(1, 301) for e in sliced_traffic.advance(START + step * 0.2)]

    def outcomes(events: list[PlannedEvent], name: str) -> list[tuple[str, ...]]:
        # Per message, in sending order: the types of the events it produced.
        per_message: dict[str, list[str]] = {}
        for event in events:
            if event.configuration_set == name:
                per_message.setdefault(event.record["mail"]["messageId"][17:], []).append(event.event_type)
        return [tuple(types) for types in per_message.values()]

    for name in ("marketing", "transactional"):
        assert outcomes(whole, name)[:300] == outcomes(sliced, name)[:300]
    assert _traffic(seed=12).advance(START + 60) != whole


def test_helpers() -> None:
    rng = random.Random(1)
    assert SES_ID.match(ses_id(rng, START))
    assert iso(0.5) == "1970-01-01T00:00:00.500Z"
    address = recipient(rng)
    local, domain = address.split("@")
    assert local
    assert "." in domain
    assert _traffic().advance(START) == []
