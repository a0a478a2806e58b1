"""The detail values SES documents for bounces, complaints and delays, for pre-initialised, bounded labels.

``SesEvent`` carries SES's own strings unchanged; a value outside these tuples (a type SES adds
later, or a broken producer) is best folded into ``other`` where it becomes a metric label.
"""

from __future__ import annotations

from typing import Final

BOUNCE_TYPES: Final[tuple[str, ...]] = ("Undetermined", "Permanent", "Transient")

# bounceType → its documented bounceSubTypes.
BOUNCE_SUBTYPES: Final[dict[str, tuple[str, ...]]] = {
    "Undetermined": ("Undetermined",),
    "Permanent": ("General", "NoEmail", "Suppressed", "OnAccountSuppressionList"),
    "Transient": ("General", "MailboxFull", "MessageTooLarge", "ContentRejected", "AttachmentRejected"),
}

# complaintFeedbackType comes from the ISP's ARF report (RFC 5965 feedback types); absent without one.
COMPLAINT_FEEDBACK_TYPES: Final[tuple[str, ...]] = (
    "abuse",
    "auth-failure",
    "fraud",
    "not-spam",
    "other",
    "virus",
)

# complaintSubType is null or this one value.
COMPLAINT_SUBTYPES: Final[tuple[str, ...]] = ("OnAccountSuppressionList",)

DELAY_TYPES: Final[tuple[str, ...]] = (
    "InternalFailure",
    "General",
    "MailboxFull",
    "SpamDetected",
    "RecipientServerError",
    "IPFailure",
    "TransientCommunicationFailure",
    "BYOIPHostNameLookupUnavailable",
    "Undetermined",
    "SendingDeferral",
)
