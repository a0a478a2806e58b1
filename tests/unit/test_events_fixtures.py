"""Every checked-in SES message body parses to what its expected.json says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sesmon.events import CONTROL_REASONS, INVALID_REASONS, parse_message
from sesmon.model import SES_EVENT_NAMES, EventType, Outcome, Rejection, SesEvent

FIXTURES = Path(__file__).parent.parent / "fixtures"
SHARED = FIXTURES / "ses-events"
EXTRA = FIXTURES / "ses-events-extra"

# The shared expected.json allows "ack-and-count (control text) or parse-error" for the SES
# validation text; sesmon counts it as a control message (see sesmon/events/envelopes.py).
SES_SETUP_TEXT_FILE = "malformed-non-json-body.txt"
# Processing time for every fixture: after the newest real one (2026-10-06), so only the one dated
# in the year 9999 is in the future.
PROCESSED_AT = 1_791_331_200.0  # 2026-10-07T00:00:00Z


def _entries(directory: Path) -> list[Any]:
    entries = json.loads((directory / "expected.json").read_text())["fixtures"]
    return [pytest.param(directory, entry, id=entry["file"]) for entry in entries]


def _parse(directory: Path, entry: dict[str, Any]) -> SesEvent | Rejection:
    body = (directory / entry["file"]).read_bytes()
    assert len(body) == entry["bytes"], "fixture file differs from the one expected.json describes"
    return parse_message(body, PROCESSED_AT)


def _record_dedup_key(body: bytes, entry: dict[str, Any], recipients: tuple[str, ...]) -> str:
    """The event's key from its SES record alone (any envelope peeled off), read with the stdlib parser:
    ``ses:<mail.messageId>:<type>:<feedbackId>``, else ``...:<the event's own timestamp>``, then
    ``:<recipients>`` for the types that can repeat per message (deliveries, delays)."""
    record = json.loads(body)
    if "Type" in record:
        record = json.loads(record["Message"])
    if "detail-type" in record:
        record = record["detail"]
    event_type = SES_EVENT_NAMES[entry["event_type"]]
    own_name = {
        EventType.BOUNCE: "bounce",
        EventType.COMPLAINT: "complaint",
        EventType.DELIVERY: "delivery",
        EventType.DELIVERY_DELAY: "deliveryDelay",
        EventType.OPEN: "open",
        EventType.CLICK: "click",
        EventType.SUBSCRIPTION: "subscription",
    }.get(event_type)
    own = record.get(own_name, {}) if own_name else {}
    head = f"ses:{record['mail']['messageId']}:{event_type.value}"
    if own.get("feedbackId"):
        return f"{head}:{own['feedbackId']}"
    moment = own.get("timestamp") or record["mail"]["timestamp"]
    if event_type in (EventType.DELIVERY, EventType.DELIVERY_DELAY):
        return f"{head}:{moment}:{','.join(recipients)}"
    return f"{head}:{moment}"


def _check_event(directory: Path, entry: dict[str, Any], result: SesEvent | Rejection) -> SesEvent:
    assert isinstance(result, SesEvent), result
    assert result.event_type is SES_EVENT_NAMES[entry["event_type"]]
    assert result.recipient_count == entry["recipient_count"]
    assert result.message_id == entry["ses_message_id"]
    assert result.bounce_type == entry.get("bounce_type")
    assert result.bounce_subtype == entry.get("bounce_subtype")
    if "complaint_feedback_type" in entry:
        assert result.complaint_feedback_type == entry["complaint_feedback_type"]
    if "delay_type" in entry:
        assert result.delay_type == entry["delay_type"]
    if "bounced_recipients" in entry:
        assert list(result.recipients) == entry["bounced_recipients"]

    counts = entry.get("counts_toward_aws_rate")
    if counts is None:
        # Not a numerator: only sends feed the rate (as its denominator), everything else adds nothing.
        expected_rate = len(result.recipients) if result.event_type is EventType.SEND else 0
        assert result.rate_recipients == expected_rate
    else:
        assert (result.rate_recipients > 0) is counts

    # Whatever the envelope, the key comes from the record, so every route of one event counts once.
    body = (directory / entry["file"]).read_bytes()
    assert result.dedup_key == _record_dedup_key(body, entry, result.recipients)
    assert result.feedback is (entry["kind"] == "feedback-notification")
    return result


@pytest.mark.parametrize(("directory", "entry"), _entries(SHARED))
def test_shared_fixture(directory: Path, entry: dict[str, Any]) -> None:
    result = _parse(directory, entry)
    if entry["file"] == SES_SETUP_TEXT_FILE:
        assert result == Rejection(Outcome.CONTROL, "ses_setup_notification")
        return
    if entry["expected_action"] != "process":
        assert isinstance(result, Rejection), result
        assert result.reason == entry["error_reason"]
        assert result.outcome is (Outcome.CONTROL if entry["kind"] == "control" else Outcome.INVALID)
        if "sns_message_id" in entry:
            assert result.dedup_key == f"sns:{entry['sns_message_id']}"
        return
    event = _check_event(directory, entry, result)
    # The header fallback: identity notifications carry no tags, the original header still names the set.
    assert event.configuration_set == entry.get("config_set_from_header_fallback", entry["config_set"])


@pytest.mark.parametrize(("directory", "entry"), _entries(EXTRA))
def test_extra_fixture(directory: Path, entry: dict[str, Any]) -> None:
    result = _parse(directory, entry)
    if "outcome" in entry:
        assert isinstance(result, Rejection), result
        assert result.outcome is Outcome(entry["outcome"])
        assert result.reason == entry["error_reason"]
        assert result.reason in (CONTROL_REASONS if result.outcome is Outcome.CONTROL else INVALID_REASONS)
        assert result.dedup_key == entry["dedup_key"]
        return
    event = _check_event(directory, entry, result)
    assert event.configuration_set == entry["config_set"]
    assert list(event.recipients) == entry["recipients"]
    assert event.rate_recipients == entry["rate_recipients"]
    assert event.dedup_key == entry["dedup_key"]
    assert event.complaint_subtype == entry.get("complaint_subtype")
    assert event.delay_type == entry.get("delay_type")


def test_every_fixture_file_is_described() -> None:
    for directory in (SHARED, EXTRA):
        described = {
            entry["file"] for entry in json.loads((directory / "expected.json").read_text())["fixtures"]
        }
        on_disk = {path.name for path in directory.iterdir() if path.name != "expected.json"}
        assert described == on_disk, directory.name


def test_extra_fixtures_cover_every_type_over_eventbridge_and_every_reason() -> None:
    entries = json.loads((EXTRA / "expected.json").read_text())["fixtures"]
    shared = json.loads((SHARED / "expected.json").read_text())["fixtures"]
    eventbridge_types = {
        e["event_type"] for e in entries + shared if e["wrapper"] == "eventbridge" and e["event_type"]
    }
    assert {SES_EVENT_NAMES[name] for name in eventbridge_types} == set(EventType)
    reasons_seen = {e["error_reason"] for e in entries if "outcome" in e} | {"unknown_event_type"}
    reasons_seen |= {"ses_setup_notification", "sns_subscription_confirmation"}
    assert reasons_seen == set(CONTROL_REASONS) | set(INVALID_REASONS)
