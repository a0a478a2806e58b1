"""The bounded ``reason`` vocabulary of control and invalid messages, shared with the metrics."""

from __future__ import annotations

from typing import Final

from sesmon.model import Outcome, Rejection

# Control messages: expected traffic on a healthy queue that carries no SES event.
SNS_SUBSCRIPTION_CONFIRMATION: Final = "sns_subscription_confirmation"
SNS_UNSUBSCRIBE_CONFIRMATION: Final = "sns_unsubscribe_confirmation"
SNS_SUBSCRIPTION_SUCCEEDED: Final = "sns_subscription_succeeded"
SES_SETUP_NOTIFICATION: Final = "ses_setup_notification"
EVENTBRIDGE_NON_EMAIL: Final = "eventbridge_non_email"

CONTROL_REASONS: Final[tuple[str, ...]] = (
    SNS_SUBSCRIPTION_CONFIRMATION,
    SNS_UNSUBSCRIBE_CONFIRMATION,
    SNS_SUBSCRIPTION_SUCCEEDED,
    SES_SETUP_NOTIFICATION,
    EVENTBRIDGE_NON_EMAIL,
)

# Invalid messages: bodies that cannot be counted, each under one of these labels.
NOT_JSON: Final = "not_json"  # not JSON at all (or not UTF-8)
TRUNCATED: Final = "truncated"  # a JSON document cut off before its end
NOT_OBJECT: Final = "not_object"  # valid JSON, but not an object
UNKNOWN_ENVELOPE: Final = "unknown_envelope"  # an object of no known shape (SNS, EventBridge, SES record)
SNS_MESSAGE_NOT_JSON: Final = "sns_message_not_json"  # an SNS Notification whose Message is not JSON
MISSING_EVENT_TYPE: Final = "missing_event_type"  # an SES record without eventType / notificationType
UNKNOWN_EVENT_TYPE: Final = "unknown_event_type"  # an event type sesmon does not know
MISSING_MAIL: Final = "missing_mail"  # no ``mail`` object
MISSING_RECIPIENTS: Final = "missing_recipients"  # the recipient list of the event's scope is absent or empty
BAD_TIMESTAMP: Final = "bad_timestamp"  # no parseable ISO 8601 timestamp
# a field of the wrong type (a list that is not a list, an id that is not a string)
BAD_FIELD: Final = "bad_field"
# a configuration-set name SES would not accept (1-64 of A-Z, a-z, 0-9, '_', '-')
BAD_CONFIGURATION_SET: Final = "bad_configuration_set"
FUTURE_TIMESTAMP: Final = "future_timestamp"  # dated further ahead than MAX_FUTURE_SECONDS of processing time

INVALID_REASONS: Final[tuple[str, ...]] = (
    NOT_JSON,
    TRUNCATED,
    NOT_OBJECT,
    UNKNOWN_ENVELOPE,
    SNS_MESSAGE_NOT_JSON,
    MISSING_EVENT_TYPE,
    UNKNOWN_EVENT_TYPE,
    MISSING_MAIL,
    MISSING_RECIPIENTS,
    BAD_TIMESTAMP,
    BAD_FIELD,
    BAD_CONFIGURATION_SET,
    FUTURE_TIMESTAMP,
)


def control(reason: str, dedup_key: str | None = None) -> Rejection:
    """A control message (counted as control, never as an event)."""
    return Rejection(Outcome.CONTROL, reason, dedup_key)


def invalid(reason: str, dedup_key: str | None = None) -> Rejection:
    """An invalid body (counted under ``reason``)."""
    return Rejection(Outcome.INVALID, reason, dedup_key)
