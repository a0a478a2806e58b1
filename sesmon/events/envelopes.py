"""The one place an SQS body's transport is recognised by shape: SNS, EventBridge or a raw SES record."""

from __future__ import annotations

from typing import Any, Final

import orjson

from sesmon.events import reasons
from sesmon.events.records import parse_record
from sesmon.model import Rejection, SesEvent

# EventBridge detail-types of SES email sending events → the SES event name inside ``detail``.
EVENTBRIDGE_DETAIL_TYPES: Final[dict[str, str]] = {
    "Email Sent": "Send",
    "Email Delivered": "Delivery",
    "Email Bounced": "Bounce",
    "Email Complaint Received": "Complaint",
    "Email Rejected": "Reject",
    "Email Opened": "Open",
    "Email Clicked": "Click",
    "Email Rendering Failed": "Rendering Failure",
    "Email Delivery Delayed": "DeliveryDelay",
    "Email Subscribed": "Subscription",
}
EVENTBRIDGE_SOURCE: Final = "aws.ses"
_CONFIGURATION_SET_ARN: Final = ":configuration-set/"
_loads: Final = orjson.loads  # bound once: no attribute lookup per body

# What SES sends to an SNS event destination when it validates it: plain text, not JSON. With raw
# message delivery it reaches the queue as-is, otherwise as an SNS Notification's Message.
# expected.json allows "ack-and-count (control text) or parse-error"; sesmon counts it as control
# (reason ses_setup_notification) because it is routine setup traffic, not a broken producer, and
# an invalid count would page someone for nothing. Any other non-JSON text stays invalid (not_json).
SES_SETUP_TEXT_PREFIX: Final = "Successfully validated SNS topic for Amazon SES"


def parse_body(body: str | bytes, now: float | None = None) -> SesEvent | Rejection:
    """Parse one SQS message body (any envelope) without a safety net; see ``parse_message``."""
    try:
        document = _loads(body)
    except orjson.JSONDecodeError as exc:
        return _not_json(body, exc)
    if not isinstance(document, dict):
        return reasons.invalid(reasons.NOT_OBJECT)
    # SNS: SES records and EventBridge events never have a top-level "Type"; every SNS message has one.
    # (Tested inline rather than in a helper: this runs once per message on the hot path.)
    if "Type" in document and ("TopicArn" in document or "MessageId" in document):
        return _sns(document, now)
    if _is_eventbridge(document):
        return _eventbridge(document, None, now)
    if _is_record(document):
        return parse_record(document, now=now)
    return reasons.invalid(reasons.UNKNOWN_ENVELOPE)


def _is_eventbridge(document: dict[str, Any]) -> bool:
    return "detail-type" in document and "source" in document


def _is_record(document: dict[str, Any]) -> bool:
    # A record without a type but with a mail object is an SES record missing its eventType.
    return "eventType" in document or "notificationType" in document or "mail" in document


def _not_json(body: str | bytes, exc: orjson.JSONDecodeError) -> Rejection:
    """Classify a body orjson refused: SES setup text (control), a cut-off document, or not JSON."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    stripped = text.strip()
    if stripped.startswith(SES_SETUP_TEXT_PREFIX):
        return reasons.control(reasons.SES_SETUP_NOTIFICATION)
    # A document that opens like JSON and fails only at its very end was cut off (e.g. by a size limit).
    if stripped[:1] in ("{", "[") and exc.msg == "unexpected end of data":
        return reasons.invalid(reasons.TRUNCATED)
    return reasons.invalid(reasons.NOT_JSON)


def _sns(document: dict[str, Any], now: float | None) -> SesEvent | Rejection:
    message_id = document.get("MessageId")
    # Keys only a control or invalid outcome (SNS keeps MessageId across its redeliveries); a counted
    # event is keyed by its SES record, so it counts once whichever route brought it.
    key = "sns:" + message_id if isinstance(message_id, str) and message_id else None
    kind = document.get("Type")
    if kind != "Notification":
        if kind == "SubscriptionConfirmation":
            # Never visit SubscribeURL: confirming subscriptions is the operator's decision, not a monitor's.
            return reasons.control(reasons.SNS_SUBSCRIPTION_CONFIRMATION, key)
        if kind == "UnsubscribeConfirmation":
            return reasons.control(reasons.SNS_UNSUBSCRIBE_CONFIRMATION, key)
        return reasons.invalid(reasons.UNKNOWN_ENVELOPE, key)
    message = document.get("Message")
    if not isinstance(message, str):
        return reasons.invalid(reasons.BAD_FIELD, key)
    try:
        inner = _loads(message)
    except orjson.JSONDecodeError:
        if message.strip().startswith(SES_SETUP_TEXT_PREFIX):
            return reasons.control(reasons.SES_SETUP_NOTIFICATION, key)
        return reasons.invalid(reasons.SNS_MESSAGE_NOT_JSON, key)
    if not isinstance(inner, dict):
        return reasons.invalid(reasons.NOT_OBJECT, key)
    # An EventBridge rule may target an SNS topic: its Message is then the whole EventBridge event.
    # (_is_eventbridge and _is_record inlined: this runs for every SNS-wrapped event.)
    if "detail-type" in inner and "source" in inner:
        return _eventbridge(inner, key, now)
    if "eventType" in inner or "notificationType" in inner or "mail" in inner:
        return parse_record(inner, key, now=now)
    return reasons.invalid(reasons.UNKNOWN_ENVELOPE, key)


def _eventbridge(document: dict[str, Any], key: str | None, now: float | None) -> SesEvent | Rejection:
    if key is None:
        event_id = document.get("id")
        key = f"eb:{event_id}" if isinstance(event_id, str) and event_id else None
    if document.get("source") != EVENTBRIDGE_SOURCE:
        return reasons.invalid(reasons.UNKNOWN_ENVELOPE, key)
    detail_type = document.get("detail-type")
    if not isinstance(detail_type, str):
        return reasons.invalid(reasons.BAD_FIELD, key)
    type_name = EVENTBRIDGE_DETAIL_TYPES.get(detail_type)
    if type_name is None and not detail_type.startswith("Email "):
        # Advisor recommendations, sending status changes, CloudTrail API calls: SES, but not email events.
        return reasons.control(reasons.EVENTBRIDGE_NON_EMAIL, key)
    detail = document.get("detail")
    if not isinstance(detail, dict):
        return reasons.invalid(reasons.BAD_FIELD, key)
    return parse_record(detail, key, _arn_configuration_set(document.get("resources")), type_name, now)


def _arn_configuration_set(resources: object) -> str | None:
    """The NAME of ``arn:aws:ses:REGION:ACCOUNT:configuration-set/NAME`` among EventBridge resources."""
    if isinstance(resources, list):
        for resource in resources:
            if isinstance(resource, str) and _CONFIGURATION_SET_ARN in resource:
                name = resource.split(_CONFIGURATION_SET_ARN, 1)[1]
                if name:
                    return name
    return None
