"""The event path a target's config implies: names, ARNs and policy documents, computed once (pure).

``sesmon setup`` builds this path, ``sesmon setup --format cloudformation`` writes it as a template
and ``sesmon doctor`` checks a live account against it, so all three agree by construction:
configuration sets → (SNS topic → subscription | EventBridge bus → rule → target) → SQS queue,
with a dead-letter queue behind it and a queue policy that lets only that topic or rule send.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

from sesmon import globs
from sesmon.config import Config, EventsConfig, TargetConfig
from sesmon.events import EVENTBRIDGE_DETAIL_TYPES

# The event types sesmon's rates and alerts are built from: a destination missing one is broken.
REQUIRED_EVENT_TYPES: Final = ("SEND", "BOUNCE", "COMPLAINT", "DELIVERY", "REJECT", "DELIVERY_DELAY")
SNS_PRINCIPAL: Final = "sns.amazonaws.com"
EVENTS_PRINCIPAL: Final = "events.amazonaws.com"
# SQS keeps a message at most 14 days; the DLQ keeps its messages that long, for inspection.
SQS_MAX_RETENTION: Final = 14 * 86400
SQS_MIN_RETENTION: Final = 60
DLQ_RETENTION: Final = SQS_MAX_RETENTION

# SES v2 event type → the name SES writes in a record's eventType.
_RECORD_NAMES: Final = {
    "SEND": "Send",
    "REJECT": "Reject",
    "BOUNCE": "Bounce",
    "COMPLAINT": "Complaint",
    "DELIVERY": "Delivery",
    "OPEN": "Open",
    "CLICK": "Click",
    "RENDERING_FAILURE": "Rendering Failure",
    "DELIVERY_DELAY": "DeliveryDelay",
    "SUBSCRIPTION": "Subscription",
}
_DETAIL_TYPES: Final = {name: detail for detail, name in EVENTBRIDGE_DETAIL_TYPES.items()}


def record_name(event_type: str) -> str:
    """The name SES writes in a record's ``eventType`` for an SES v2 event type (``BOUNCE`` → ``Bounce``)."""
    return _RECORD_NAMES[event_type]


def detail_type(event_type: str) -> str:
    """The EventBridge detail-type SES uses for an SES v2 event type (``BOUNCE`` → ``Email Bounced``)."""
    return _DETAIL_TYPES[_RECORD_NAMES[event_type]]


@dataclass(frozen=True, slots=True)
class Wiring:
    """Everything about one target's event path that follows from its config."""

    target: str
    region: str
    account: str
    via: str  # "sns" | "eventbridge"
    queue_name: str
    dlq_name: str
    retention: int  # seconds the queue keeps a message: the dedup TTL, within SQS's limits
    visibility_timeout: int
    max_receive_count: int
    topic_name: str
    raw_delivery: bool
    event_bus: str
    rule_name: str
    destination_name: str
    configuration_sets: tuple[str, ...]
    event_types: tuple[str, ...]
    create_configuration_sets: bool

    # -- ARNs -----------------------------------------------------------------------------------

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{partition(self.region)}:{service}:{self.region}:{self.account}:{resource}"

    @property
    def queue_arn(self) -> str:
        return self._arn("sqs", self.queue_name)

    @property
    def dlq_arn(self) -> str:
        return self._arn("sqs", self.dlq_name)

    @property
    def topic_arn(self) -> str:
        return self._arn("sns", self.topic_name)

    @property
    def bus_arn(self) -> str:
        return self._arn("events", f"event-bus/{self.event_bus}")

    @property
    def rule_arn(self) -> str:
        # Rules on the default bus have no bus segment in their ARN.
        bus = "" if self.event_bus == "default" else f"{self.event_bus}/"
        return self._arn("events", f"rule/{bus}{self.rule_name}")

    def configuration_set_arn(self, name: str) -> str:
        return self._arn("ses", f"configuration-set/{name}")

    @property
    def source_arn(self) -> str:
        """What sends to the queue: the topic or the rule."""
        return self.topic_arn if self.via == "sns" else self.rule_arn

    @property
    def principal(self) -> str:
        return SNS_PRINCIPAL if self.via == "sns" else EVENTS_PRINCIPAL

    # -- documents -------------------------------------------------------------------------------

    def queue_policy(self) -> dict[str, Any]:
        """Allow only the topic (or rule) to send to the queue."""
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowSesEvents",
                    "Effect": "Allow",
                    "Principal": {"Service": self.principal},
                    "Action": "sqs:SendMessage",
                    "Resource": self.queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.source_arn}},
                }
            ],
        }

    def redrive_policy(self) -> dict[str, Any]:
        """A body that keeps failing moves to the DLQ instead of blocking the queue."""
        return {"deadLetterTargetArn": self.dlq_arn, "maxReceiveCount": self.max_receive_count}

    def queue_attributes(self) -> dict[str, str]:
        """The queue's attributes as SQS takes them (strings)."""
        return {
            "MessageRetentionPeriod": str(self.retention),
            "VisibilityTimeout": str(self.visibility_timeout),
            "ReceiveMessageWaitTimeSeconds": "20",
            "RedrivePolicy": json.dumps(self.redrive_policy()),
            "Policy": json.dumps(self.queue_policy()),
        }

    def event_pattern(self) -> dict[str, Any]:
        """The EventBridge rule's pattern: SES email events of the routed types."""
        return {"source": ["aws.ses"], "detail-type": sorted(detail_type(t) for t in self.event_types)}

    def event_destination(self) -> dict[str, Any]:
        """The SES v2 ``EventDestination`` of every configuration set."""
        spec: dict[str, Any] = {"Enabled": True, "MatchingEventTypes": list(self.event_types)}
        if self.via == "sns":
            spec["SnsDestination"] = {"TopicArn": self.topic_arn}
        else:
            spec["EventBridgeDestination"] = {"EventBusArn": self.bus_arn}
        return spec


def partition(region: str) -> str:
    """The ARN partition of ``region``."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def account_of(target: TargetConfig) -> str:
    """The account the target's calls act in, as far as the config says (``*`` when it does not)."""
    if target.role_arn:
        return target.role_arn.split(":")[4]
    if target.sqs is not None:
        return target.sqs.account_id
    return "*"


def retention_for(dedup_ttl: float) -> int:
    """Queue retention matching the dedup TTL, clamped to what SQS allows."""
    return int(min(SQS_MAX_RETENTION, max(SQS_MIN_RETENTION, math.ceil(dedup_ttl))))


def build(
    *,
    target: str,
    region: str,
    account: str,
    queue_name: str,
    events: EventsConfig,
    configuration_sets: tuple[str, ...],
    dedup_ttl: float,
    visibility_timeout: int = 60,
) -> Wiring:
    """The wiring from its parts (the demo builds one without a config file)."""
    return Wiring(
        target=target,
        region=region,
        account=account,
        via=events.via,
        queue_name=queue_name,
        dlq_name=events.dlq_name or f"{queue_name}-dlq"[:80],
        retention=retention_for(dedup_ttl),
        visibility_timeout=visibility_timeout,
        max_receive_count=events.max_receive_count,
        topic_name=events.topic_name,
        raw_delivery=events.raw_delivery,
        event_bus=events.event_bus,
        rule_name=events.rule_name,
        destination_name=events.destination_name,
        configuration_sets=configuration_sets,
        event_types=events.event_types,
        create_configuration_sets=events.create_configuration_sets,
    )


class WiringError(ValueError):
    """The config does not say enough to wire this target (one line, naming the key)."""


def literal_sets(target: TargetConfig) -> tuple[str, ...]:
    """The configuration sets to wire: ``events.configuration_sets``, else the literal (glob-free)
    names of ``configuration_sets``."""
    if target.events.configuration_sets is not None:
        return target.events.configuration_sets
    return globs.literals(target.configuration_sets)


def wiring_for(target: TargetConfig, config: Config) -> Wiring:
    """The wiring of ``target``; raises :class:`WiringError` when it has no queue to wire to."""
    if target.sqs is None:
        raise WiringError(f"targets.{target.name}.sqs.queue_url: required to set up or check the event path")
    return build(
        target=target.name,
        region=target.region,
        account=account_of(target),
        queue_name=target.sqs.queue_name,
        events=target.events,
        configuration_sets=literal_sets(target),
        dedup_ttl=config.state.dedup_ttl,
        visibility_timeout=target.sqs.visibility_timeout_seconds,
    )
