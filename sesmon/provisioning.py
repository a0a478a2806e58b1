"""``sesmon setup``: read the live event path, compare it with the wiring, and (with apply) fix it.

Every step reads first and writes only what differs, so a second ``--apply`` changes nothing and
says so; without apply the same reads produce the plan. Writes go through boto3 with the target's
credentials, which then need the write permissions of ``sesmon iam-policy --setup``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import ClientError

from sesmon.wiring import DLQ_RETENTION, Wiring

if TYPE_CHECKING:
    from sesmon.sources.aws import Service

CREATE: Final = "create"
UPDATE: Final = "update"
UNCHANGED: Final = "unchanged"

# The boto3 client of a service ("sqs", "sns", "events", "sesv2").
Clients = Callable[["Service"], Any]


@dataclass(frozen=True, slots=True)
class Step:
    """One resource of the path and what setup does (or would do) to it."""

    action: str  # create | update | unchanged
    resource: str  # e.g. "sqs queue sesmon-ses-events"
    detail: str = ""

    def line(self) -> str:
        return f"{self.action:<9} {self.resource}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Outcome:
    """The steps of one target, and the ids the rest of the path (and the demo) needs."""

    target: str
    steps: list[Step] = field(default_factory=list)
    queue_url: str = ""
    dlq_url: str = ""
    subscription_arn: str = ""

    @property
    def changes(self) -> int:
        return sum(1 for s in self.steps if s.action != UNCHANGED)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


_MISSING_QUEUE: Final = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


class Provisioner:
    """Brings one target's event path to its :class:`Wiring`; ``apply=False`` only reads."""

    def __init__(self, wiring: Wiring, clients: Clients, *, apply: bool) -> None:
        self.wiring = wiring
        self.clients = clients
        self.apply = apply
        # Filled as the steps run, so a failure can still show what was done before it.
        self.outcome = Outcome(wiring.target)

    def run(self) -> Outcome:
        """Every step in dependency order: DLQ, queue, topic or rule, configuration sets."""
        out = self.outcome
        out.dlq_url = self._queue(
            out, self.wiring.dlq_name, {"MessageRetentionPeriod": str(DLQ_RETENTION)}, "DLQ"
        )
        out.queue_url = self._queue(out, self.wiring.queue_name, self.wiring.queue_attributes(), "queue")
        if self.wiring.via == "sns":
            self._topic(out)
            out.subscription_arn = self._subscription(out)
        else:
            self._rule(out)
            self._rule_target(out)
        for name in self.wiring.configuration_sets:
            self._configuration_set(out, name)
        return out

    # -- SQS -------------------------------------------------------------------------------------

    def _queue(self, out: Outcome, name: str, wanted: dict[str, str], role: str) -> str:
        sqs = self.clients("sqs")
        resource = f"sqs {role} {name}"
        try:
            url = str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except ClientError as exc:
            if _code(exc) not in _MISSING_QUEUE:
                raise
            out.steps.append(Step(CREATE, resource, _describe_queue(wanted)))
            if not self.apply:
                return ""
            return str(sqs.create_queue(QueueName=name, Attributes=wanted)["QueueUrl"])
        current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        differing = {k: v for k, v in wanted.items() if not _same_attribute(k, current.get(k), v)}
        if not differing:
            out.steps.append(Step(UNCHANGED, resource))
            return url
        out.steps.append(Step(UPDATE, resource, f"set {', '.join(sorted(differing))}"))
        if self.apply:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=differing)
        return url

    # -- SNS -------------------------------------------------------------------------------------

    def _topic(self, out: Outcome) -> None:
        sns = self.clients("sns")
        resource = f"sns topic {self.wiring.topic_name}"
        try:
            sns.get_topic_attributes(TopicArn=self.wiring.topic_arn)
        except ClientError as exc:
            if _code(exc) != "NotFound":
                raise
            out.steps.append(Step(CREATE, resource))
            if self.apply:
                sns.create_topic(Name=self.wiring.topic_name)
            return
        out.steps.append(Step(UNCHANGED, resource))

    def _subscription(self, out: Outcome) -> str:
        sns = self.clients("sns")
        raw = "true" if self.wiring.raw_delivery else "false"
        resource = f"sns subscription {self.wiring.topic_name} → sqs {self.wiring.queue_name}"
        found = find_subscription(sns, self.wiring.topic_arn, self.wiring.queue_arn)
        if found is None:
            out.steps.append(Step(CREATE, resource, f"raw message delivery {raw}"))
            if not self.apply:
                return ""
            return str(
                sns.subscribe(
                    TopicArn=self.wiring.topic_arn,
                    Protocol="sqs",
                    Endpoint=self.wiring.queue_arn,
                    Attributes={"RawMessageDelivery": raw},
                    ReturnSubscriptionArn=True,
                )["SubscriptionArn"]
            )
        attributes = sns.get_subscription_attributes(SubscriptionArn=found).get("Attributes", {})
        if attributes.get("RawMessageDelivery", "false").lower() == raw:
            out.steps.append(Step(UNCHANGED, resource))
            return found
        out.steps.append(Step(UPDATE, resource, f"raw message delivery {raw}"))
        if self.apply:
            sns.set_subscription_attributes(
                SubscriptionArn=found, AttributeName="RawMessageDelivery", AttributeValue=raw
            )
        return found

    # -- EventBridge -------------------------------------------------------------------------------

    def _rule(self, out: Outcome) -> None:
        events = self.clients("events")
        resource = f"eventbridge rule {self.wiring.rule_name} on bus {self.wiring.event_bus}"
        pattern = self.wiring.event_pattern()
        try:
            rule = events.describe_rule(Name=self.wiring.rule_name, EventBusName=self.wiring.event_bus)
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            rule = None
        if rule is not None and rule.get("State") == "ENABLED" and _json(rule.get("EventPattern")) == pattern:
            out.steps.append(Step(UNCHANGED, resource))
            return
        out.steps.append(
            Step(CREATE if rule is None else UPDATE, resource, "pattern: SES email events, enabled")
        )
        if self.apply:
            events.put_rule(
                Name=self.wiring.rule_name,
                EventBusName=self.wiring.event_bus,
                EventPattern=json.dumps(pattern),
                State="ENABLED",
                Description="SES email events to sesmon's queue",
            )

    def _rule_target(self, out: Outcome) -> None:
        events = self.clients("events")
        resource = f"eventbridge target {self.wiring.rule_name} → sqs {self.wiring.queue_name}"
        try:
            targets = events.list_targets_by_rule(
                Rule=self.wiring.rule_name, EventBusName=self.wiring.event_bus
            )
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            targets = {}
        if any(t.get("Arn") == self.wiring.queue_arn for t in targets.get("Targets", [])):
            out.steps.append(Step(UNCHANGED, resource))
            return
        out.steps.append(Step(CREATE, resource))
        if self.apply:
            events.put_targets(
                Rule=self.wiring.rule_name,
                EventBusName=self.wiring.event_bus,
                Targets=[{"Id": "sesmon-queue", "Arn": self.wiring.queue_arn}],
            )

    # -- SES ---------------------------------------------------------------------------------------

    def _configuration_set(self, out: Outcome, name: str) -> None:
        sesv2 = self.clients("sesv2")
        resource = f"ses configuration set {name}"
        try:
            current = sesv2.get_configuration_set(ConfigurationSetName=name)
        except ClientError as exc:
            if _code(exc) != "NotFoundException":
                raise
            if not self.wiring.create_configuration_sets:
                raise SetupError(
                    f"configuration set {name} does not exist; create it or set "
                    f"targets.{self.wiring.target}.events.create_configuration_sets: true"
                ) from None
            out.steps.append(Step(CREATE, resource, "reputation metrics on"))
            if self.apply:
                sesv2.create_configuration_set(
                    ConfigurationSetName=name, ReputationOptions={"ReputationMetricsEnabled": True}
                )
            current = None
        if current is not None:
            if (current.get("ReputationOptions") or {}).get("ReputationMetricsEnabled", False):
                out.steps.append(Step(UNCHANGED, f"{resource} reputation metrics"))
            else:
                out.steps.append(Step(UPDATE, f"{resource} reputation metrics", "turn on"))
                if self.apply:
                    sesv2.put_configuration_set_reputation_options(
                        ConfigurationSetName=name, ReputationMetricsEnabled=True
                    )
        self._destination(out, name, exists=current is not None)

    def _destination(self, out: Outcome, name: str, *, exists: bool) -> None:
        sesv2 = self.clients("sesv2")
        wanted = self.wiring.event_destination()
        resource = f"ses event destination {name}/{self.wiring.destination_name}"
        detail = f"{', '.join(self.wiring.event_types)} → {self.wiring.via}"
        found = None
        if exists:
            listed = sesv2.get_configuration_set_event_destinations(ConfigurationSetName=name)
            found = next(
                (
                    d
                    for d in listed.get("EventDestinations", [])
                    if d.get("Name") == self.wiring.destination_name
                ),
                None,
            )
        if found is None:
            out.steps.append(Step(CREATE, resource, detail))
            if self.apply:
                sesv2.create_configuration_set_event_destination(
                    ConfigurationSetName=name,
                    EventDestinationName=self.wiring.destination_name,
                    EventDestination=wanted,
                )
            return
        if _same_destination(found, wanted):
            out.steps.append(Step(UNCHANGED, resource))
            return
        out.steps.append(Step(UPDATE, resource, detail))
        if self.apply:
            sesv2.update_configuration_set_event_destination(
                ConfigurationSetName=name,
                EventDestinationName=self.wiring.destination_name,
                EventDestination=wanted,
            )


class SetupError(RuntimeError):
    """Setup cannot continue without the operator (one line saying what to do)."""


def find_subscription(sns: Any, topic_arn: str, queue_arn: str) -> str | None:
    """The ARN of the topic's confirmed subscription delivering to the queue, if any."""
    token: str | None = None
    while True:
        args: dict[str, Any] = {"TopicArn": topic_arn}
        if token:
            args["NextToken"] = token
        try:
            page = sns.list_subscriptions_by_topic(**args)
        except ClientError as exc:
            if _code(exc) == "NotFound":
                return None
            raise
        for sub in page.get("Subscriptions", []):
            arn = str(sub.get("SubscriptionArn", ""))
            if sub.get("Protocol") == "sqs" and sub.get("Endpoint") == queue_arn and arn.startswith("arn:"):
                return arn
        token = page.get("NextToken")
        if not token:
            return None


def _json(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _same_attribute(name: str, current: str | None, wanted: str) -> bool:
    if current is None:
        return False
    if name == "RedrivePolicy":
        # SQS may echo maxReceiveCount as a string or a number.
        a, b = _json(current), _json(wanted)
        if isinstance(a, dict) and isinstance(b, dict):
            return {k: str(v) for k, v in a.items()} == {k: str(v) for k, v in b.items()}
    if name == "Policy":
        return _json(current) == _json(wanted)
    return current == wanted


def _same_destination(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    if bool(current.get("Enabled", False)) != wanted["Enabled"]:
        return False
    if set(current.get("MatchingEventTypes", [])) != set(wanted["MatchingEventTypes"]):
        return False
    return all(current.get(k) == v for k, v in wanted.items() if k.endswith("Destination"))


def _describe_queue(attributes: dict[str, str]) -> str:
    parts = [f"retention {int(attributes['MessageRetentionPeriod']) // 3600}h"]
    if "RedrivePolicy" in attributes:
        redrive = json.loads(attributes["RedrivePolicy"])
        parts.append(f"redrive to the DLQ after {redrive['maxReceiveCount']} receives")
    if "Policy" in attributes:
        parts.append("policy: only the event source may send")
    return ", ".join(parts)


def render(outcomes: Sequence[Outcome], *, applied: bool, stopped: bool = False) -> str:
    """The plan (or what was applied), one line per step, then the verdict (``stopped``: a step
    failed after the ones shown)."""
    lines: list[str] = []
    for outcome in outcomes:
        lines.append(f"target {outcome.target}:")
        lines.extend(f"  {step.line()}" for step in outcome.steps)
    changes = sum(o.changes for o in outcomes)
    if stopped:
        lines.append(f"Stopped: the steps above were {'applied' if applied else 'planned'}, the rest not.")
    elif not changes:
        lines.append("Nothing to change: the event path is already in place.")
    elif applied:
        lines.append(f"Applied {changes} change{'s' if changes != 1 else ''}.")
    else:
        lines.append(f"{changes} change{'s' if changes != 1 else ''} to make; run again with --apply.")
    return "\n".join(lines) + "\n"
