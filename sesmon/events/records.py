"""One SES record (event publishing or identity feedback notification) → ``SesEvent`` or ``Rejection``."""

from __future__ import annotations

import re
from typing import Any, Final

from sesmon.events import reasons
from sesmon.events.addresses import SIMULATOR_SUFFIX, normalise_address
from sesmon.events.timestamps import parse_timestamp
from sesmon.model import SES_EVENT_NAMES, EventType, Rejection, SesEvent

# How each type's fields are read; details per type beyond recipients.
_PLAIN: Final = 0
_SEND: Final = 1
_BOUNCE: Final = 2
_COMPLAINT: Final = 3
_DELAY: Final = 4

# Per type: its own object in the record, the recipient list in that object (None: mail.destination),
# whether its time is mail.timestamp (Send, Reject and Rendering Failure happen at mail time and their
# objects carry no timestamp), and which details it carries.
_LAYOUT: Final[dict[EventType, tuple[str, str | None, bool, int]]] = {
    EventType.SEND: ("send", None, True, _SEND),
    EventType.REJECT: ("reject", None, True, _PLAIN),
    EventType.RENDERING_FAILURE: ("failure", None, True, _PLAIN),
    EventType.OPEN: ("open", None, False, _PLAIN),
    EventType.CLICK: ("click", None, False, _PLAIN),
    EventType.SUBSCRIPTION: ("subscription", None, False, _PLAIN),
    EventType.BOUNCE: ("bounce", "bouncedRecipients", False, _BOUNCE),
    EventType.COMPLAINT: ("complaint", "complainedRecipients", False, _COMPLAINT),
    EventType.DELIVERY: ("delivery", "recipients", False, _PLAIN),
    EventType.DELIVERY_DELAY: ("deliveryDelay", "delayedRecipients", False, _DELAY),
}
# Keyed by the name SES writes, so one string lookup does the whole dispatch on the hot path.
# The last item is the type's label value, spelled once here for the dedup key.
_KINDS: Final[dict[str, tuple[EventType, str, str | None, bool, int, str]]] = {
    name: (event_type, *_LAYOUT[event_type], event_type.value) for name, event_type in SES_EVENT_NAMES.items()
}

# Types whose own object carries SES's feedbackId, and types with one event per recipient group.
_FEEDBACK_ID_DETAILS: Final = (_BOUNCE, _COMPLAINT)
_PER_RECIPIENT_DETAILS: Final = (_PLAIN, _DELAY)

# Identity feedback notifications (notificationType) exist only for these three.
_FEEDBACK_NAMES: Final = frozenset({"Bounce", "Complaint", "Delivery"})

SUPPRESSION_LIST_SUBTYPE: Final = "OnAccountSuppressionList"
NOT_SPAM_FEEDBACK: Final = "not-spam"
CONFIGURATION_SET_TAG: Final = "ses:configuration-set"
CONFIGURATION_SET_HEADER: Final = "x-ses-configuration-set"
# SES's own rule for configuration-set names; anything else did not come from SES and would become
# an unbounded label and stored key.
CONFIGURATION_SET_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# SES stamps events when they happen; clocks drift by seconds, not minutes. A later date would sit in
# every window (and keep its dedup key) until that time comes.
MAX_FUTURE_SECONDS: Final = 900.0


class _InvalidError(Exception):
    """Internal early exit carrying an invalid reason; never escapes ``parse_record``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_record(
    record: dict[str, Any],
    dedup_key: str | None = None,
    fallback_configuration_set: str | None = None,
    fallback_type_name: str | None = None,
    now: float | None = None,
) -> SesEvent | Rejection:
    """Reduce one SES record to a ``SesEvent``.

    ``dedup_key`` is the envelope's id (SNS MessageId, EventBridge id): it keys a control or invalid
    outcome only; a counted event is always keyed by its record (see ``_parse``), so the same
    event reaching the queue by two routes counts once. ``fallback_configuration_set`` is the
    EventBridge ``resources`` ARN's set, and ``fallback_type_name`` an EventBridge detail-type's
    event name, used when the record lacks its own.
    ``now`` (processing time) bounds how far ahead the event's own time may lie (None: unchecked).
    """
    try:
        return _parse(record, dedup_key, fallback_configuration_set, fallback_type_name, now)
    except _InvalidError as exc:
        return reasons.invalid(exc.reason, dedup_key)


def _parse(  # noqa: PLR0915 - the per-event hot path, kept in one function to save calls
    record: dict[str, Any],
    dedup_key: str | None,
    fallback_configuration_set: str | None,
    fallback_type_name: str | None,
    now: float | None,
) -> SesEvent | Rejection:
    # Runs once per event: the common shapes take the shortest path (one lookup per field, no
    # intermediate objects); anything unusual is classified by the slower helpers.
    name = record.get("eventType")
    kind = _KINDS.get(name) if type(name) is str else None
    if kind is None:
        resolved = _kind(record, fallback_type_name)
        if resolved is None:
            return reasons.control(reasons.SNS_SUBSCRIPTION_SUCCEEDED, dedup_key)
        kind, feedback = resolved
    else:
        feedback = False
    event_type, object_name, list_name, mail_timed, details, type_value = kind

    mail = record.get("mail")
    if not isinstance(mail, dict):
        raise _InvalidError(reasons.MISSING_MAIL)
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise _InvalidError(reasons.BAD_FIELD)

    own = record.get(object_name)
    if own is not None and not isinstance(own, dict):
        raise _InvalidError(reasons.BAD_FIELD)

    if list_name is None:
        recipients, countable = _addresses(mail.get("destination"))
    elif own is None:
        raise _InvalidError(reasons.MISSING_RECIPIENTS)
    else:
        recipients, countable = _addresses(own.get(list_name))

    # The event's own timestamp keys the window buckets; mail.timestamp is the documented fallback.
    if mail_timed or own is None:
        raw_time = mail.get("timestamp")
        timestamp = parse_timestamp(raw_time)
    else:
        raw_time = own.get("timestamp")
        timestamp = parse_timestamp(raw_time)
        if timestamp is None:
            raw_time = mail.get("timestamp")
            timestamp = parse_timestamp(raw_time)
    if timestamp is None:
        raise _InvalidError(reasons.BAD_TIMESTAMP)
    if now is not None and timestamp > now + MAX_FUTURE_SECONDS:
        raise _InvalidError(reasons.FUTURE_TIMESTAMP)

    bounce_type = bounce_subtype = feedback_type = complaint_subtype = delay_type = None
    rate_recipients = 0
    if details == _SEND:
        rate_recipients = countable
    elif details == _BOUNCE:
        assert own is not None
        bounce_type = _optional_str(own.get("bounceType"))
        bounce_subtype = _optional_str(own.get("bounceSubType"))
        if bounce_type == "Permanent" and bounce_subtype != SUPPRESSION_LIST_SUBTYPE:
            rate_recipients = countable
    elif details == _COMPLAINT:
        assert own is not None
        feedback_type = _optional_str(own.get("complaintFeedbackType"))
        complaint_subtype = _optional_str(own.get("complaintSubType"))
        if complaint_subtype != SUPPRESSION_LIST_SUBTYPE and feedback_type != NOT_SPAM_FEEDBACK:
            rate_recipients = countable
    elif details == _DELAY:
        assert own is not None
        delay_type = _optional_str(own.get("delayType"))

    # The dedup key, from the record alone, so every route of one event gives the same key:
    # ses:<mail.messageId>:<type>:<feedbackId> for bounces and complaints (SES's own id of that
    # notification), else ses:<mail.messageId>:<type>:<the event's timestamp as SES wrote it>, then
    # :<recipients> for deliveries and delays (one message has one per recipient group).
    # Inlined, with the type's label precomputed: this runs for every event.
    distinct = own.get("feedbackId") if details in _FEEDBACK_ID_DETAILS and own else None
    if type(distinct) is str and distinct:
        key = f"ses:{message_id}:{type_value}:{distinct}"
    elif list_name is None or details not in _PER_RECIPIENT_DETAILS:
        key = f"ses:{message_id}:{type_value}:{raw_time}"
    else:
        key = f"ses:{message_id}:{type_value}:{raw_time}:{','.join(recipients)}"

    # mail.tags["ses:configuration-set"][0] in the common case; other places via the helper.
    configuration_set = None
    tags = mail.get("tags")
    if isinstance(tags, dict):
        values = tags.get(CONFIGURATION_SET_TAG)
        if isinstance(values, list) and values:
            first = values[0]
            if isinstance(first, str) and first:
                configuration_set = first
    if configuration_set is None:
        configuration_set = _header_configuration_set(mail) or fallback_configuration_set
    if configuration_set is not None and not CONFIGURATION_SET_NAME.fullmatch(configuration_set):
        raise _InvalidError(reasons.BAD_CONFIGURATION_SET)

    return SesEvent(
        event_type,
        configuration_set,
        timestamp,
        message_id,
        key,
        recipients,
        rate_recipients,
        bounce_type,
        bounce_subtype,
        feedback_type,
        complaint_subtype,
        delay_type,
        feedback,
    )


def _kind(
    record: dict[str, Any], fallback_type_name: str | None
) -> tuple[tuple[EventType, str, str | None, bool, int, str], bool] | None:
    """The record's type layout and whether it is an identity feedback notification.

    None for ``AmazonSnsSubscriptionSucceeded``, the control message SES sends when a feedback
    topic is set.
    """
    feedback = False
    name = record.get("eventType")
    if name is None:
        name = record.get("notificationType")
        if name is not None:
            if name == "AmazonSnsSubscriptionSucceeded":
                return None
            feedback = True
        else:
            name = fallback_type_name
    if name is None:
        raise _InvalidError(reasons.MISSING_EVENT_TYPE)
    if not isinstance(name, str):
        raise _InvalidError(reasons.BAD_FIELD)
    kind = _KINDS.get(name)
    if kind is None or (feedback and name not in _FEEDBACK_NAMES):
        raise _InvalidError(reasons.UNKNOWN_EVENT_TYPE)
    return kind, feedback


def _addresses(value: object) -> tuple[tuple[str, ...], int]:
    """Normalised recipients of a list of strings or ``{"emailAddress": ...}`` objects (either form is read),
    and how many of them AWS counts in its rates (all but mailbox-simulator addresses)."""
    if value is None:
        raise _InvalidError(reasons.MISSING_RECIPIENTS)
    if not isinstance(value, list):
        raise _InvalidError(reasons.BAD_FIELD)
    if not value:
        # SES never emits an event for nobody; an empty scope cannot be counted per recipient.
        raise _InvalidError(reasons.MISSING_RECIPIENTS)
    out: list[str] = []
    countable = 0
    # normalise_address and is_simulator inlined: this loop runs for every recipient of every event.
    for item in value:
        address = item if type(item) is str else item.get("emailAddress") if isinstance(item, dict) else item
        if not isinstance(address, str):
            raise _InvalidError(reasons.BAD_FIELD)
        address = address.strip().lower()
        if "<" in address:
            address = normalise_address(address)
        out.append(address)
        if not address.endswith(SIMULATOR_SUFFIX):
            countable += 1
    return tuple(out), countable


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _InvalidError(reasons.BAD_FIELD)


def _header_configuration_set(mail: dict[str, Any]) -> str | None:
    """The ``X-SES-CONFIGURATION-SET`` header, for records without the configuration-set tag."""
    # Identity feedback notifications carry no tags, but the original headers may name the set.
    headers = mail.get("headers")
    if isinstance(headers, list):
        for header in headers:
            if not isinstance(header, dict):
                continue
            name = header.get("name")
            if isinstance(name, str) and name.lower() == CONFIGURATION_SET_HEADER:
                value = header.get("value")
                if isinstance(value, str) and value.strip():
                    return value.strip()
    return None
