"""Parser behaviour field by field: envelopes, configuration sets, timestamps, dedup keys, bad shapes."""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sesmon.config import DEFAULT_PROVIDERS
from sesmon.events import (
    BOUNCE_SUBTYPES,
    BOUNCE_TYPES,
    COMPLAINT_FEEDBACK_TYPES,
    COMPLAINT_SUBTYPES,
    CONTROL_REASONS,
    DELAY_TYPES,
    EVENTBRIDGE_DETAIL_TYPES,
    INVALID_REASONS,
    invert_providers,
    normalise_address,
    parse_message,
    provider_of,
)
from sesmon.model import PROVIDERS_OTHER, SES_EVENT_NAMES, EventType, Outcome, Rejection, SesEvent

SHARED = Path(__file__).parent.parent / "fixtures" / "ses-events"


def _record(name: str) -> dict[str, Any]:
    """The SES record inside a shared SNS fixture, as a fresh dict."""
    envelope = json.loads((SHARED / name).read_text())
    record: dict[str, Any] = json.loads(envelope["Message"])
    return record


def _sns(record: Any, message_id: str = "11111111-2222-3333-4444-555555555555") -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": "arn:aws:sns:us-east-1:1:t",
            "Message": json.dumps(record),
        }
    )


def _event(body: str | bytes) -> SesEvent:
    result = parse_message(body)
    assert isinstance(result, SesEvent), result
    return result


def _rejected(body: str | bytes) -> Rejection:
    result = parse_message(body)
    assert isinstance(result, Rejection), result
    return result


# --- addresses and providers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ('"Jane" <Jane@Example.COM>', "jane@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ('"a <b>" <x@y.example>', "x@y.example"),
        ("  bob@EXAMPLE.org ", "bob@example.org"),
        ("<carol@example.com>", "carol@example.com"),
        ("Dave <dave@example.com", "dave@example.com"),
        ("plain@example.com", "plain@example.com"),
    ],
)
def test_normalise_address(raw: str, normalised: str) -> None:
    assert normalise_address(raw) == normalised


def test_provider_of_uses_exact_domains_from_the_configured_map() -> None:
    domains = invert_providers(DEFAULT_PROVIDERS)
    assert provider_of("a@gmail.com", domains) == "gmail"
    assert provider_of("a@googlemail.com", domains) == "gmail"
    assert provider_of("a@hotmail.co.uk", domains) == "microsoft"
    assert provider_of("a@ymail.com", domains) == "yahoo"
    assert provider_of("a@icloud.com", domains) == "apple"
    assert provider_of("A@GMAIL.COM", domains) == "gmail"
    assert provider_of("a@mail.gmail.com", domains) == PROVIDERS_OTHER  # subdomains only if listed
    assert provider_of("a@example.com", domains) == PROVIDERS_OTHER
    assert provider_of("not-an-address", domains) == PROVIDERS_OTHER


def test_invert_providers_normalises_domains_and_keeps_the_first_owner() -> None:
    inverted = invert_providers({"corp": [" Example.COM "], "other-corp": ["example.com", "b.example"]})
    assert inverted == {"example.com": "corp", "b.example": "other-corp"}


def test_recipients_of_a_feedback_bounce_are_normalised() -> None:
    record = _record("fb-bounce.sns.json")
    record["bounce"]["bouncedRecipients"][0]["emailAddress"] = '"Jane" <JANE@Example.NET>'
    assert _event(_sns(record)).recipients == ("jane@example.net",)


# --- envelopes ---------------------------------------------------------------------------------


def test_str_and_bytes_bodies_parse_alike() -> None:
    body = (SHARED / "ep-send.sns.json").read_text()
    assert parse_message(body) == parse_message(body.encode())


def test_raw_record_and_sns_envelope_give_the_same_event_and_the_same_key() -> None:
    raw = _event((SHARED / "ep-bounce-permanent-general.raw.json").read_bytes())
    wrapped = _event((SHARED / "ep-bounce-permanent-general.sns.json").read_bytes())
    assert raw == wrapped
    assert raw.dedup_key.startswith("ses:")


def test_sns_message_id_does_not_key_an_event() -> None:
    envelope = json.loads((SHARED / "ep-send.sns.json").read_text())
    keys = set()
    for message_id in ("a", "b", None):
        if message_id is None:
            del envelope["MessageId"]
        else:
            envelope["MessageId"] = message_id
        keys.add(_event(json.dumps(envelope)).dedup_key)
    event = _event(json.dumps(envelope))
    assert keys == {f"ses:{event.message_id}:send:2026-10-05T14:00:01.117Z"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Type": "SubscriptionConfirmation"}, "sns_subscription_confirmation"),
        ({"Type": "UnsubscribeConfirmation"}, "sns_unsubscribe_confirmation"),
        ({"Type": "SomethingNew"}, "unknown_envelope"),
        ({"Message": 42}, "bad_field"),
        ({"Message": "not json at all"}, "sns_message_not_json"),
        ({"Message": "[1, 2]"}, "not_object"),
        ({"Message": '{"unrelated": true}'}, "unknown_envelope"),
        (
            {"Message": "  Successfully validated SNS topic for Amazon SES event publishing.\n"},
            "ses_setup_notification",
        ),
    ],
)
def test_sns_envelope_variants(change: dict[str, Any], reason: str) -> None:
    envelope = json.loads((SHARED / "ep-send.sns.json").read_text())
    envelope.update(change)
    rejection = _rejected(json.dumps(envelope))
    assert rejection.reason == reason
    assert rejection.outcome is (Outcome.CONTROL if reason in CONTROL_REASONS else Outcome.INVALID)
    assert rejection.dedup_key == f"sns:{envelope['MessageId']}"


def test_eventbridge_from_another_source_is_not_an_ses_event() -> None:
    event = json.loads((SHARED / "eb-bounce.json").read_text())
    event["source"] = "com.example.app"
    assert _rejected(json.dumps(event)).reason == "unknown_envelope"


@pytest.mark.parametrize("detail_type", ["Advisor Recommendation Status Open", "AWS API Call via CloudTrail"])
def test_non_email_eventbridge_events_are_control(detail_type: str) -> None:
    event = {"version": "0", "id": "x", "detail-type": detail_type, "source": "aws.ses", "detail": {}}
    rejection = _rejected(json.dumps(event))
    assert (rejection.outcome, rejection.reason, rejection.dedup_key) == (
        Outcome.CONTROL,
        "eventbridge_non_email",
        "eb:x",
    )


@pytest.mark.parametrize(("detail_type", "name"), sorted(EVENTBRIDGE_DETAIL_TYPES.items()))
def test_eventbridge_detail_type_names_the_event_when_detail_lacks_event_type(
    detail_type: str, name: str
) -> None:
    event_type = SES_EVENT_NAMES[name]
    source = {
        EventType.SEND: "ep-send.sns.json",
        EventType.DELIVERY: "ep-delivery.sns.json",
        EventType.BOUNCE: "ep-bounce-permanent-general.sns.json",
        EventType.COMPLAINT: "ep-complaint-abuse.sns.json",
        EventType.REJECT: "ep-reject.sns.json",
        EventType.OPEN: "ep-open.sns.json",
        EventType.CLICK: "ep-click.sns.json",
        EventType.RENDERING_FAILURE: "ep-rendering-failure.sns.json",
        EventType.DELIVERY_DELAY: "ep-delivery-delay.sns.json",
        EventType.SUBSCRIPTION: "ep-subscription.sns.json",
    }[event_type]
    detail = _record(source)
    del detail["eventType"]
    event = {"id": "e-1", "detail-type": detail_type, "source": "aws.ses", "resources": [], "detail": detail}
    parsed = _event(json.dumps(event))
    assert parsed.event_type is event_type
    # Keyed by the record, so the same event by SNS counts once with this one.
    assert parsed.dedup_key == _event(_sns(_record(source))).dedup_key


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not_json"),
        (b"   ", "not_json"),
        (b"\xff\xfe\x00garbage", "not_json"),
        (b"Successfully validated SNS topic for Amazon SES event publishing.", "ses_setup_notification"),
        (b'{"Type": "Notification", "Message": "{\\"eventType', "truncated"),
        (b"[1, 2", "truncated"),
        (b"null", "not_object"),
        (b"42", "not_object"),
        (b'"a string"', "not_object"),
        (b"{}", "unknown_envelope"),
        (b'{"mail": {}}', "missing_event_type"),
        (b'{"eventType": "Send"}', "missing_mail"),
        (b'{"eventType": "Quarantine", "mail": {}}', "unknown_event_type"),
        (b'{"notificationType": "Received", "mail": {}}', "unknown_event_type"),
        (
            b'{"notificationType": "Send", "mail": {}}',
            "unknown_event_type",
        ),  # no identity notification for Send
    ],
)
def test_bodies_that_are_not_events(body: bytes, reason: str) -> None:
    rejection = _rejected(body)
    assert rejection.reason == reason
    assert rejection.reason in CONTROL_REASONS + INVALID_REASONS


# --- configuration set -------------------------------------------------------------------------


def test_configuration_set_prefers_tags_then_header_then_arn_then_none() -> None:
    event = json.loads((SHARED / "eb-bounce.json").read_text())
    event["resources"] = ["arn:aws:ses:us-east-1:123456789012:configuration-set/from-arn"]
    mail = event["detail"]["mail"]
    mail["headers"].append({"name": "x-ses-configuration-set", "value": " from-header "})
    assert _event(json.dumps(event)).configuration_set == "transactional"
    mail["tags"]["ses:configuration-set"] = []
    assert _event(json.dumps(event)).configuration_set == "from-header"
    mail["headers"].pop()
    assert _event(json.dumps(event)).configuration_set == "from-arn"
    event["resources"] = ["arn:aws:ses:us-east-1:123456789012:identity/mail.example.com"]
    assert _event(json.dumps(event)).configuration_set is None


def test_malformed_tags_and_headers_are_skipped_not_fatal() -> None:
    record = _record("ep-send.sns.json")
    record["mail"]["tags"] = {"ses:configuration-set": [7]}
    record["mail"]["headers"] = ["junk", {"name": 1}, {"name": "X-SES-CONFIGURATION-SET", "value": None}]
    assert _event(_sns(record)).configuration_set is None


@pytest.mark.parametrize(
    "name", ["a", "A-b_9", "x" * 64, "transactional", "Marketing-2026_Q4"], ids=lambda n: n[:12]
)
def test_configuration_set_names_ses_allows_are_kept(name: str) -> None:
    record = _record("ep-send.sns.json")
    record["mail"]["tags"]["ses:configuration-set"] = [name]
    assert _event(_sns(record)).configuration_set == name


@pytest.mark.parametrize(
    "name",
    [
        "evil\u001fname",
        "x" * 65,
        "x" * 60_000,
        "with space",
        "dot.ted",
        'quote"d',
        "new\nline",
        "caf\u00e9",
        "a/b",
    ],
    ids=lambda n: repr(n[:12]),
)
def test_configuration_set_names_ses_would_refuse_make_the_message_invalid(name: str) -> None:
    record = _record("ep-send.sns.json")
    record["mail"]["tags"]["ses:configuration-set"] = [name]
    rejection = _rejected(_sns(record))
    assert rejection.reason == "bad_configuration_set"
    assert rejection.outcome is Outcome.INVALID
    assert rejection.dedup_key == "sns:11111111-2222-3333-4444-555555555555"  # counted once if redelivered


def test_configuration_set_from_the_header_or_the_arn_is_checked_too() -> None:
    event = json.loads((SHARED / "eb-bounce.json").read_text())
    event["detail"]["mail"]["tags"]["ses:configuration-set"] = []
    event["resources"] = ["arn:aws:ses:us-east-1:123456789012:configuration-set/" + "y" * 65]
    assert _rejected(json.dumps(event)).reason == "bad_configuration_set"
    event["detail"]["mail"]["headers"].append({"name": "X-SES-CONFIGURATION-SET", "value": "bad\x1fset"})
    assert _rejected(json.dumps(event)).reason == "bad_configuration_set"


# --- timestamps and dedup keys -----------------------------------------------------------------


def test_events_are_timed_by_their_own_timestamp_and_sends_by_the_mail() -> None:
    bounce = _event((SHARED / "ep-bounce-transient-mailboxfull-2rcpt.sns.json").read_bytes())
    assert bounce.timestamp == pytest.approx(1791231063.0)  # 2026-10-05T20:11:03Z, hours after the mail
    send = _event((SHARED / "ep-send.sns.json").read_bytes())
    assert send.timestamp == pytest.approx(1791208801.117)  # mail.timestamp 2026-10-05T14:00:01.117Z


def test_missing_or_bad_own_timestamp_falls_back_to_the_mail_timestamp() -> None:
    record = _record("ep-open.sns.json")
    del record["open"]["timestamp"]
    assert _event(_sns(record)).timestamp == pytest.approx(1791208800.245)
    record["open"]["timestamp"] = "not a time"
    assert _event(_sns(record)).timestamp == pytest.approx(1791208800.245)
    record["mail"]["timestamp"] = "also not a time"
    assert _rejected(_sns(record)).reason == "bad_timestamp"


def test_timestamps_with_offsets_and_without_zone() -> None:
    record = _record("ep-send.sns.json")
    record["mail"]["timestamp"] = "2026-10-05T16:00:01.117+02:00"
    assert _event(_sns(record)).timestamp == pytest.approx(1791208801.117)
    record["mail"]["timestamp"] = "2026-10-05T14:00:01.117"  # naive: taken as UTC
    assert _event(_sns(record)).timestamp == pytest.approx(1791208801.117)


def test_an_event_dated_more_than_fifteen_minutes_ahead_of_processing_is_invalid() -> None:
    record = _record("ep-send.sns.json")  # mail.timestamp 2026-10-05T14:00:01.117Z
    sent = 1791208801.117
    body = _sns(record)
    assert isinstance(parse_message(body, now=sent - 900), SesEvent)  # exactly 15 minutes ahead: clock skew
    late = parse_message(body, now=sent - 900.01)
    assert isinstance(late, Rejection)
    assert late.reason == "future_timestamp"
    assert late.dedup_key == "sns:11111111-2222-3333-4444-555555555555"
    assert isinstance(parse_message(body, now=sent + 86400), SesEvent)  # the past is fine
    assert isinstance(parse_message(body), SesEvent)  # no processing time: not checked (offline reads)


def test_year_9999_is_in_the_future_over_every_envelope() -> None:
    now = 1791208801.0
    record = _record("ep-send.sns.json")
    record["mail"]["timestamp"] = "9999-12-31T23:59:59.999Z"
    eventbridge = json.loads((SHARED / "eb-bounce.json").read_text())
    eventbridge["detail"]["bounce"]["timestamp"] = "9999-12-31T23:59:59.999Z"
    for body in (_sns(record), json.dumps(record), json.dumps(eventbridge)):
        result = parse_message(body, now)
        assert isinstance(result, Rejection), body[:80]
        assert result.reason == "future_timestamp"


def test_raw_keys_repeat_for_a_redelivered_record_and_differ_between_engagements() -> None:
    record = _record("ep-open.sns.json")
    body = json.dumps(record)
    first, again = _event(body), _event(body)
    assert first.dedup_key == again.dedup_key
    record["open"]["timestamp"] = "2026-10-05T16:22:20.000Z"
    assert _event(json.dumps(record)).dedup_key != first.dedup_key


def test_bounce_key_uses_the_feedback_id() -> None:
    record = _record("ep-bounce-permanent-general.sns.json")
    key = _event(json.dumps(record)).dedup_key
    assert key == f"ses:{record['mail']['messageId']}:bounce:{record['bounce']['feedbackId']}"


def test_deliveries_of_one_message_to_different_recipients_are_two_events() -> None:
    record = _record("ep-delivery.sns.json")
    first = _event(json.dumps(record))
    record["delivery"]["recipients"] = ["someone-else@example.net"]
    assert _event(json.dumps(record)).dedup_key != first.dedup_key


# --- counting rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bounce_type", "subtype", "counts"),
    [
        ("Permanent", "General", True),
        ("Permanent", "NoEmail", True),
        ("Permanent", "Suppressed", True),
        ("Permanent", "OnAccountSuppressionList", False),
        ("Transient", "General", False),
        ("Undetermined", "Undetermined", False),
    ],
)
def test_bounce_rate_inclusion(bounce_type: str, subtype: str, counts: bool) -> None:
    record = _record("ep-bounce-permanent-general.sns.json")
    record["bounce"].update(bounceType=bounce_type, bounceSubType=subtype)
    event = _event(_sns(record))
    assert (event.bounce_type, event.bounce_subtype) == (bounce_type, subtype)
    assert event.rate_recipients == (1 if counts else 0)


@pytest.mark.parametrize(
    ("feedback_type", "subtype", "counts"),
    [
        ("abuse", None, True),
        (None, None, True),  # no feedback report: still a complaint
        ("fraud", None, True),
        ("not-spam", None, False),
        (None, "OnAccountSuppressionList", False),
        ("abuse", "OnAccountSuppressionList", False),
    ],
)
def test_complaint_rate_inclusion(feedback_type: str | None, subtype: str | None, counts: bool) -> None:
    record = _record("ep-complaint-abuse.sns.json")
    record["complaint"]["complaintFeedbackType"] = feedback_type
    record["complaint"]["complaintSubType"] = subtype
    record["complaint"]["complainedRecipients"].append({"emailAddress": "complaint@simulator.amazonses.com"})
    event = _event(_sns(record))
    assert (event.complaint_feedback_type, event.complaint_subtype) == (feedback_type, subtype)
    assert event.recipient_count == 2
    assert event.rate_recipients == (1 if counts else 0)


@pytest.mark.parametrize(
    "source",
    ["ep-delivery.sns.json", "ep-reject.sns.json", "ep-open.sns.json", "ep-delivery-delay.sns.json"],
)
def test_other_types_never_feed_the_rates(source: str) -> None:
    assert _event((SHARED / source).read_bytes()).rate_recipients == 0


def test_engagement_events_count_once_whatever_the_destination() -> None:
    record = _record("ep-click.sns.json")
    record["mail"]["destination"] = ["a@example.com", "b@example.com", "c@example.com"]
    event = _event(_sns(record))
    assert event.recipient_count == 1
    assert len(event.recipients) == 3


# --- wrong types anywhere ----------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    *parents, leaf = path.split(".")

    def mutate(record: dict[str, Any]) -> None:
        node: Any = record
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(leaf)] = value
        elif value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value

    return mutate


_DELETE = object()


@pytest.mark.parametrize(
    ("mutation", "reason"),
    [
        (_set("eventType", 7), "bad_field"),
        (_set("eventType", ["Bounce"]), "bad_field"),
        (_set("mail", []), "missing_mail"),
        (_set("mail.messageId", None), "bad_field"),
        (_set("mail.messageId", ""), "bad_field"),
        (_set("bounce", "Permanent"), "bad_field"),
        (_set("bounce", _DELETE), "missing_recipients"),
        (_set("bounce.bouncedRecipients", {"emailAddress": "x@example.com"}), "bad_field"),
        (_set("bounce.bouncedRecipients", []), "missing_recipients"),
        (_set("bounce.bouncedRecipients", None), "missing_recipients"),
        (_set("bounce.bouncedRecipients.0", 5), "bad_field"),
        (_set("bounce.bouncedRecipients.0.emailAddress", None), "bad_field"),
        (_set("bounce.bounceType", 1), "bad_field"),
        (_set("bounce.bounceSubType", {"x": 1}), "bad_field"),
        (_set("bounce.timestamp", 1791208923), "bad_field_or_mail_time"),
        (_set("mail.timestamp", 5), "bad_field_or_own_time"),
    ],
)
def test_wrong_types_are_rejected_with_a_reason(mutation: Mutation, reason: str) -> None:
    record = _record("ep-bounce-permanent-general.sns.json")
    mutation(record)
    result = parse_message(_sns(record))
    if reason.startswith("bad_field_or"):
        # A timestamp of the wrong type is skipped in favour of the other one, as a bad string would be.
        assert isinstance(result, SesEvent)
        return
    assert isinstance(result, Rejection), result
    assert (result.outcome, result.reason) == (Outcome.INVALID, reason)
    assert result.dedup_key == "sns:11111111-2222-3333-4444-555555555555"


def test_bouncedrecipients_given_as_plain_strings_are_read() -> None:
    record = _record("ep-bounce-permanent-general.sns.json")
    record["bounce"]["bouncedRecipients"] = ["Nobody@Example.NET"]
    assert _event(_sns(record)).recipients == ("nobody@example.net",)


def test_unknown_fields_are_ignored() -> None:
    record = _record("ep-send.sns.json")
    record["futureField"] = {"nested": [1, 2, 3]}
    record["mail"]["somethingNew"] = True
    assert _event(_sns(record)) == _event((SHARED / "ep-send.sns.json").read_bytes())


# --- vocabulary, construction, purity ----------------------------------------------------------


def test_reason_vocabularies_are_distinct_snake_case_labels() -> None:
    every = CONTROL_REASONS + INVALID_REASONS
    assert len(set(every)) == len(every)
    assert all(reason.replace("_", "").isalpha() and reason.islower() for reason in every)


def test_every_field_of_a_parsed_event_lands_in_its_place() -> None:
    # The parser builds SesEvent positionally on its hot path: each field is pinned here by name.
    complaint = _event((SHARED / "fb-complaint.sns.json").read_bytes())
    assert complaint == SesEvent(
        event_type=EventType.COMPLAINT,
        configuration_set=None,
        timestamp=1791210605.237,
        message_id="0100019a5c3ef645-cb9905f2-4ade-4e3b-a514-baea5aa65421-000000",
        dedup_key="ses:0100019a5c3ef645-cb9905f2-4ade-4e3b-a514-baea5aa65421-000000:complaint:"
        "0100019a5c4759a2-c6a2251e-2b9b-417e-aabd-0bdf533723ca-000000",
        recipients=("richard@example.net",),
        rate_recipients=1,
        bounce_type=None,
        bounce_subtype=None,
        complaint_feedback_type="abuse",
        complaint_subtype=None,
        delay_type=None,
        feedback=True,
    )
    bounce = _event((SHARED / "ep-bounce-transient-mailboxfull-2rcpt.sns.json").read_bytes())
    assert bounce == SesEvent(
        event_type=EventType.BOUNCE,
        configuration_set="marketing-newsletter",
        timestamp=1791231063.0,
        message_id="0100019a5c3eb8e5-8e3e16b0-aeb6-4c04-a2ed-90d04c16ccb1-000000",
        dedup_key="ses:0100019a5c3eb8e5-8e3e16b0-aeb6-4c04-a2ed-90d04c16ccb1-000000:bounce:"
        "0100019a5c413eac-89718ae8-3843-4166-a67a-bb6dd52f571f-000000",
        recipients=("full1@example.net", "full2@example.net"),
        rate_recipients=0,
        bounce_type="Transient",
        bounce_subtype="MailboxFull",
        feedback=False,
    )
    delay = _event(_sns(_record("ep-delivery-delay.sns.json")))
    assert (delay.event_type, delay.delay_type, delay.feedback) == (
        EventType.DELIVERY_DELAY,
        _record("ep-delivery-delay.sns.json")["deliveryDelay"]["delayType"],
        False,
    )


def test_control_messages_are_never_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the parser opened a connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert (
        _rejected((SHARED / "malformed-sns-subscriptionconfirmation.json").read_bytes()).outcome
        is Outcome.CONTROL
    )


def test_parse_does_not_mutate_or_keep_the_body() -> None:
    body = (SHARED / "fb-bounce.sns.json").read_bytes()
    before = copy.copy(body)
    event = _event(body)
    assert body == before
    # Nothing of the message text beyond the counted fields is retained.
    assert "diagnostic" not in orjson.dumps(dataclasses.asdict(event)).decode().lower()


def test_fixture_details_fall_within_the_documented_vocabulary() -> None:
    seen = 0
    for path in sorted((SHARED.parent).glob("ses-events*/*")):
        if path.name == "expected.json":
            continue
        result = parse_message(path.read_bytes())
        if not isinstance(result, SesEvent):
            continue
        if result.bounce_type is not None:
            assert result.bounce_subtype in BOUNCE_SUBTYPES[result.bounce_type]
            seen += 1
        if result.complaint_feedback_type is not None:
            assert result.complaint_feedback_type in COMPLAINT_FEEDBACK_TYPES
            seen += 1
        assert result.complaint_subtype in (None, *COMPLAINT_SUBTYPES)
        assert result.delay_type in (None, *DELAY_TYPES)
    assert seen >= 10
    assert set(BOUNCE_SUBTYPES) == set(BOUNCE_TYPES)
