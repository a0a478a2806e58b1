"""Domain types shared by the pure core and the edges: SES events, rejections and poll snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class EventType(StrEnum):
    """SES event types, valued as the ``event_type`` metric label."""

    SEND = "send"
    DELIVERY = "delivery"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    REJECT = "reject"
    OPEN = "open"
    CLICK = "click"
    RENDERING_FAILURE = "rendering_failure"
    DELIVERY_DELAY = "delivery_delay"
    SUBSCRIPTION = "subscription"

    @property
    def recipient_scoped(self) -> bool:
        """True for types counted per recipient (engagement events count once each)."""
        return self not in (EventType.OPEN, EventType.CLICK, EventType.SUBSCRIPTION)


# SES spells these differently in eventType / notificationType and in EventBridge detail-types.
SES_EVENT_NAMES: Final[dict[str, EventType]] = {
    "Send": EventType.SEND,
    "Delivery": EventType.DELIVERY,
    "Bounce": EventType.BOUNCE,
    "Complaint": EventType.COMPLAINT,
    "Reject": EventType.REJECT,
    "Open": EventType.OPEN,
    "Click": EventType.CLICK,
    "Rendering Failure": EventType.RENDERING_FAILURE,
    "RenderingFailure": EventType.RENDERING_FAILURE,
    "DeliveryDelay": EventType.DELIVERY_DELAY,
    "Subscription": EventType.SUBSCRIPTION,
}

NO_CONFIGURATION_SET: Final = "(none)"
OTHER_CONFIGURATION_SET: Final = "(other)"
PROVIDERS_OTHER: Final = "other"


# Not frozen: a frozen dataclass's __init__ sets every field through object.__setattr__, which
# costs more than the rest of building an event; nothing mutates, hashes or shares events after the
# parser returns them; dataclass still provides __eq__ and __repr__.
@dataclass(slots=True, init=False)
class SesEvent:
    """One SES event, reduced to what sesmon counts; never holds message bodies or diagnostics.

    ``recipients`` is the recipient list of the event's own scope (bounced, complained, delivered,
    delayed recipients, or mail.destination for send/reject/rendering failure).
    ``rate_recipients`` is how many of them count toward the AWS-comparable rate of this event type
    (sends: the denominator; permanent bounces and complaints: the numerators), as
    docs/ARCHITECTURE.md#counting-rules defines them.
    """

    event_type: EventType
    configuration_set: str | None
    timestamp: float
    message_id: str
    dedup_key: str
    recipients: tuple[str, ...]
    rate_recipients: int
    bounce_type: str | None
    bounce_subtype: str | None
    complaint_feedback_type: str | None
    complaint_subtype: str | None
    delay_type: str | None
    feedback: bool  # an identity feedback notification rather than event publishing

    def __init__(  # noqa: PLR0917 - one argument per field, as dataclass would generate
        self,
        event_type: EventType,
        configuration_set: str | None,
        timestamp: float,
        message_id: str,
        dedup_key: str,
        recipients: tuple[str, ...],
        rate_recipients: int,
        bounce_type: str | None = None,
        bounce_subtype: str | None = None,
        complaint_feedback_type: str | None = None,
        complaint_subtype: str | None = None,
        delay_type: str | None = None,
        feedback: bool = False,
    ) -> None:
        self.event_type = event_type
        self.configuration_set = configuration_set
        self.timestamp = timestamp
        self.message_id = message_id
        self.dedup_key = dedup_key
        self.recipients = recipients
        self.rate_recipients = rate_recipients
        self.bounce_type = bounce_type
        self.bounce_subtype = bounce_subtype
        self.complaint_feedback_type = complaint_feedback_type
        self.complaint_subtype = complaint_subtype
        self.delay_type = delay_type
        self.feedback = feedback

    @property
    def recipient_count(self) -> int:
        """Recipients for recipient-scoped types, one for engagement events."""
        return len(self.recipients) if self.event_type.recipient_scoped else 1


class Outcome(StrEnum):
    """What became of one SQS message."""

    COUNTED = "counted"
    DUPLICATE = "duplicate"
    CONTROL = "control"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that is not a countable SES event: a control message or an invalid body."""

    outcome: Outcome  # CONTROL or INVALID
    reason: str  # bounded vocabulary, used as the ``reason`` label
    dedup_key: str | None = None


@dataclass(frozen=True, slots=True)
class TargetIdentity:
    """Labels every AWS-derived series carries."""

    name: str
    account_id: str
    region: str


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """Health of one source for one target, recorded by the daemon around each poll."""

    source: str
    target: str
    up: bool = False
    last_success: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    first_poll_done: bool = False
    consecutive_failures: int = 0
    failing_since: float | None = None
