"""``sesmon doctor``: check a live account against a target's config, one line per check with its fix.

Every check only reads. The path checks follow the events the way SES sends them: configuration set
→ enabled event destination → SNS topic → subscription → queue (or EventBridge bus → rule whose
pattern matches SES email events → target), and the queue policy must let that topic or rule send.

One module on purpose, although it passes 400 lines: the checks share one pass over the
target's live resources (queue attributes, topics, rules, destinations) and one result type, so
splitting them would mean passing that read state between modules.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from sesmon import redact
from sesmon.aws_errors import (
    CREDENTIALS_FIX,
    NO_CREDENTIALS,
    POLICY_COMMAND,
    REJECTED_FIX,
    denied,
    explain,
)
from sesmon.aws_errors import why as _why
from sesmon.config import Config, TargetConfig
from sesmon.dnsauth import Status
from sesmon.iam import actions_for, doctor_actions
from sesmon.provisioning import find_subscription
from sesmon.sources.aws import AwsClients
from sesmon.sources.discovery import RateLimiter, list_configuration_sets
from sesmon.sources.routing import QUEUE_DESTINATIONS
from sesmon.wiring import (
    EVENTS_PRINCIPAL,
    REQUIRED_EVENT_TYPES,
    SNS_PRINCIPAL,
    Wiring,
    detail_type,
    record_name,
    wiring_for,
)

SETUP_FIX: Final = "sesmon setup --config CONFIG --apply"
# botocore's credential ``method`` → where the default chain found the credentials.
CREDENTIAL_SOURCES: Final = {
    "env": "environment variables (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "shared credentials file (~/.aws/credentials)",
    "config-file": "AWS config file (~/.aws/config)",
    "assume-role": "AssumeRole from an AWS profile",
    "assume-role-with-web-identity": "web identity token (IRSA on Kubernetes, AWS_WEB_IDENTITY_TOKEN_FILE)",
    "container-role": "container role (ECS task role)",
    "iam-role": "instance role (EC2 instance profile)",
    "sso": "IAM Identity Center (SSO) profile",
    "custom-process": "credential_process of an AWS profile",
}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist."""

    ok: bool
    check: str
    detail: str
    fix: str = ""


@dataclass
class Report:
    """The checks of one target."""

    target: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, ok: bool, check: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(ok, check, redact.redact(detail), "" if ok else fix))


# -- pure helpers ------------------------------------------------------------------------------------


def _listed(value: object) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: object, service: str) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        if "*" in _listed(principal.get("AWS")):
            return True
        return service in _listed(principal.get("Service"))
    return False


def _condition_holds(condition: object, source_arn: str) -> bool:
    """True when every condition of a statement holds for a request from ``source_arn``; a condition
    sesmon cannot evaluate counts as not holding (so it never vouches for an unknown policy)."""
    if not condition:
        return True
    if not isinstance(condition, dict):
        return False
    for operator, clauses in condition.items():
        if not isinstance(clauses, dict):
            return False
        for key, values in clauses.items():
            if key.lower() != "aws:sourcearn":
                return False
            patterns = [str(v) for v in _listed(values)]
            if operator in ("ArnEquals", "StringEquals"):
                if source_arn not in patterns:
                    return False
            elif operator in ("ArnLike", "StringLike"):
                if not any(fnmatch.fnmatchcase(source_arn, p) for p in patterns):
                    return False
            else:
                return False
    return True


def policy_allows(policy: object, service: str, source_arn: str, queue_arn: str) -> bool:
    """Whether a queue policy lets ``service`` send (sqs:SendMessage) on behalf of ``source_arn``:
    some Allow applies and no Deny does."""
    statements = policy.get("Statement", []) if isinstance(policy, dict) else []
    allowed = False
    for statement in _listed(statements):
        if not isinstance(statement, dict) or not _principal_matches(statement.get("Principal"), service):
            continue
        actions = [str(a).lower() for a in _listed(statement.get("Action"))]
        if not any(fnmatch.fnmatchcase("sqs:sendmessage", a) for a in actions):
            continue
        resources = [str(r) for r in _listed(statement.get("Resource", "*"))]
        if not any(fnmatch.fnmatchcase(queue_arn, r) for r in resources):
            continue
        if not _condition_holds(statement.get("Condition"), source_arn):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def _value_matches(rule: object, value: object) -> bool:
    if isinstance(value, list):
        return any(_value_matches(rule, v) for v in value)
    if isinstance(rule, dict):
        if "prefix" in rule:
            return isinstance(value, str) and value.startswith(str(rule["prefix"]))
        if "anything-but" in rule:
            return value is not None and value not in _listed(rule["anything-but"])
        if "exists" in rule:
            return (value is not None) == bool(rule["exists"])
        return False
    return bool(rule == value)


def pattern_matches(pattern: object, event: dict[str, Any]) -> bool:
    """EventBridge pattern matching for the constructs rules commonly use (exact values, prefix,
    anything-but, exists, nested objects); anything else does not match."""
    if not isinstance(pattern, dict):
        return False
    for key, rule in pattern.items():
        value = event.get(key)
        if isinstance(rule, dict):
            if not isinstance(value, dict) or not pattern_matches(rule, value):
                return False
        elif isinstance(rule, list):
            if not any(_value_matches(r, value) for r in rule):
                return False
        else:
            return False
    return True


def sample_event(wiring: Wiring, configuration_set: str, event_type: str) -> dict[str, Any]:
    """An EventBridge event as SES publishes it, for testing a rule's pattern."""
    return {
        "version": "0",
        "source": "aws.ses",
        "detail-type": detail_type(event_type),
        "account": wiring.account,
        "region": wiring.region,
        "resources": [wiring.configuration_set_arn(configuration_set)],
        "detail": {
            "eventType": record_name(event_type),
            "mail": {"tags": {"ses:configuration-set": [configuration_set]}},
        },
    }


# -- the checks --------------------------------------------------------------------------------------


@dataclass
class _Route:
    """Which event types one destination delivers to the queue, and why not the others."""

    types: set[str] = field(default_factory=set)
    via: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (what is wrong, its fix)


class Doctor:
    """The checks of one target, through that target's clients."""

    def __init__(
        self,
        target: TargetConfig,
        config: Config,
        clients: AwsClients,
        pace: Callable[[], None] | None = None,
    ) -> None:
        self.target = target
        # SES allows about one configuration-set call a second; doctor keeps to it like discovery.
        self.pace = pace or RateLimiter().wait
        self.config = config
        self.clients = clients
        self.wiring = wiring_for(target, config)
        self.report = Report(target.name)
        self._queue_policy: object = None
        self._rules: dict[str, list[dict[str, Any]]] = {}

    def run(self, *, dns: bool = True) -> Report:
        """Every check, in the order a new user fixes them; a failing section never stops the next."""
        steps: list[Callable[[], None]] = [self._credentials, self._account, self._queue, self._route]
        steps += [self._configuration_sets, self._permissions]
        if dns and self.config.dns.enabled and self.target.identities.enabled:
            steps.append(self._dns)
        for step in steps:
            try:
                step()
            # Any failure of a section is its ✗ line: doctor reports, it never stops with a traceback.
            except Exception as exc:  # noqa: BLE001
                section = step.__name__.strip("_").replace("_", " ")
                problem, fix = _why(exc), ""
                if isinstance(exc, ClientError | BotoCoreError):
                    problem, fix = explain(exc, POLICY_COMMAND)
                if problem == NO_CREDENTIALS:
                    fix = ""  # the credentials line above says how, once
                self.report.add(False, section, f"could not be checked: {problem}", fix)
        return self.report

    # credentials ----------------------------------------------------------------------------------

    def _credentials(self) -> None:
        method = self.clients.credential_source()
        if method is None:
            self.report.add(
                False,
                "credentials",
                NO_CREDENTIALS,
                CREDENTIALS_FIX,
            )
            return
        source = CREDENTIAL_SOURCES.get(method, method)
        if self.target.role_arn:
            source = (
                f"AssumeRole of {self.target.role_arn} (targets.{self.target.name}.role_arn), from {source}"
            )
        try:
            arn = str(self.clients.client("sts").get_caller_identity()["Arn"])
        except (ClientError, BotoCoreError) as exc:
            self.report.add(False, "credentials", f"{source}: rejected: {_why(exc)}", REJECTED_FIX)
            return
        self.report.add(True, "credentials", f"{source}; caller {arn}")

    # SES account ----------------------------------------------------------------------------------

    def _account(self) -> None:
        account = self.clients.client("sesv2").get_account()
        region = self.target.region
        status = str(account.get("EnforcementStatus", "HEALTHY"))
        self.report.add(
            status == "HEALTHY",
            "ses account",
            f"enforcement status {status} in {region}",
            "read the SES console's reputation page and answer AWS's review",
        )
        self.report.add(
            bool(account.get("ProductionAccessEnabled", False)),
            "ses production access",
            "production access" if account.get("ProductionAccessEnabled") else f"sandbox in {region}",
            "request production access (SES console → Account dashboard)",
        )
        self.report.add(
            bool(account.get("SendingEnabled", False)),
            "ses sending",
            "sending enabled" if account.get("SendingEnabled") else "sending paused for the account",
            "resume sending once the cause is fixed (sesv2 put-account-sending-attributes)",
        )

    # the queue ------------------------------------------------------------------------------------

    def _queue(self) -> None:
        assert self.target.sqs is not None
        sqs = self.clients.client("sqs")
        url = self.target.sqs.queue_url
        try:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        except ClientError as exc:
            fix = "grant sqs:GetQueueAttributes" if denied(exc) else f"create it: {SETUP_FIX}"
            self.report.add(False, "queue", f"{self.wiring.queue_name} not reachable: {_why(exc)}", fix)
            return
        self.report.add(True, "queue", f"{self.wiring.queue_name} reachable")
        self._queue_policy = _json(attributes.get("Policy"))
        w = self.wiring
        what = "SNS topic" if w.via == "sns" else "EventBridge rule"
        lets = policy_allows(self._queue_policy, w.principal, w.source_arn, w.queue_arn)
        self.report.add(
            lets,
            "queue policy",
            f"{'lets' if lets else 'does not let'} {what} {w.source_arn} send",
            f"allow sqs:SendMessage to {w.principal} with aws:SourceArn {w.source_arn}: {SETUP_FIX}",
        )
        redrive = _json(attributes.get("RedrivePolicy"))
        if not isinstance(redrive, dict) or not redrive.get("deadLetterTargetArn"):
            self.report.add(
                False,
                "dead-letter queue",
                "no redrive policy: a message that keeps failing is retried until it expires",
                f"add a DLQ and a redrive policy: {SETUP_FIX}",
            )
        else:
            dlq_arn = str(redrive["deadLetterTargetArn"])
            dlq_name = dlq_arn.rsplit(":", 1)[-1]
            try:
                sqs.get_queue_url(QueueName=dlq_name, QueueOwnerAWSAccountId=dlq_arn.split(":")[4])
            except ClientError as exc:
                self.report.add(
                    False, "dead-letter queue", f"{dlq_name}: {_why(exc)}", f"create it: {SETUP_FIX}"
                )
            else:
                count = redrive.get("maxReceiveCount")
                self.report.add(True, "dead-letter queue", f"{dlq_name}, after {count} receives")
        retention = int(attributes.get("MessageRetentionPeriod", "0"))
        ttl = self.config.state.dedup_ttl
        # Equal is right: the queue keeps an event through an outage as long as sesmon remembers
        # keys, and no redelivery outlives its key (it would count twice).
        self.report.add(
            retention >= ttl,
            "queue retention",
            f"{retention}s, state.dedup_ttl {ttl:.0f}s",
            f"set MessageRetentionPeriod to {self.wiring.retention}: {SETUP_FIX}",
        )
        self.report.add(
            ttl >= retention,
            "dedup window",
            f"state.dedup_ttl {ttl:.0f}s covers the queue's retention {retention}s"
            if ttl >= retention
            else f"state.dedup_ttl {ttl:.0f}s is shorter than the queue's retention {retention}s",
            f"set state.dedup_ttl to at least {retention}s, or lower the retention: {SETUP_FIX}",
        )

    # the configured route -------------------------------------------------------------------------

    def _route(self) -> None:
        w = self.wiring
        if w.via == "sns":
            sns = self.clients.client("sns")
            try:
                sns.get_topic_attributes(TopicArn=w.topic_arn)
            except ClientError as exc:
                fix = "grant sns:GetTopicAttributes" if denied(exc) else f"create it: {SETUP_FIX}"
                self.report.add(False, "sns topic", f"{w.topic_arn}: {_why(exc)}", fix)
                return
            self.report.add(True, "sns topic", w.topic_arn)
            self._subscription_check(w.topic_arn, "sns subscription")
        else:
            rules = self._bus_rules(w.event_bus)
            rule = next((r for r in rules if r["Name"] == w.rule_name), None)
            if rule is None:
                self.report.add(
                    False,
                    "eventbridge rule",
                    f"{w.rule_name} not on bus {w.event_bus}",
                    f"create it: {SETUP_FIX}",
                )
                return
            self._rule_check(rule, w.event_bus)

    def _subscription_check(self, topic_arn: str, check: str) -> bool:
        sns = self.clients.client("sns")
        found = find_subscription(sns, topic_arn, self.wiring.queue_arn)
        if found is None:
            self.report.add(
                False,
                check,
                f"topic {topic_arn} has no subscription to queue {self.wiring.queue_name}",
                f"subscribe the queue to the topic: {SETUP_FIX}",
            )
            return False
        raw = sns.get_subscription_attributes(SubscriptionArn=found)["Attributes"].get(
            "RawMessageDelivery", "false"
        )
        shape = "raw message delivery on (bodies are SES records)" if raw == "true" else "raw delivery off"
        self.report.add(True, check, f"{topic_arn} → {self.wiring.queue_name}, {shape}")
        return True

    def _bus_rules(self, bus: str) -> list[dict[str, Any]]:
        cached = self._rules.get(bus)
        if cached is not None:
            return cached
        events = self.clients.client("events")
        rules: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            args: dict[str, Any] = {"EventBusName": bus}
            if token:
                args["NextToken"] = token
            page = events.list_rules(**args)
            for rule in page.get("Rules", []):
                targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus).get("Targets", [])
                rules.append({**rule, "Targets": targets})
            token = page.get("NextToken")
            if not token:
                break
        self._rules[bus] = rules
        return rules

    def _rule_delivers(self, rule: dict[str, Any], configuration_set: str) -> tuple[set[str], str]:
        """The required event types ``rule`` delivers to the queue, and what is wrong otherwise."""
        if rule.get("State") != "ENABLED":
            return set(), f"rule {rule['Name']} is disabled"
        if not any(t.get("Arn") == self.wiring.queue_arn for t in rule.get("Targets", [])):
            return set(), f"rule {rule['Name']} does not target queue {self.wiring.queue_name}"
        pattern = _json(rule.get("EventPattern"))
        types = {
            t
            for t in REQUIRED_EVENT_TYPES
            if pattern_matches(pattern, sample_event(self.wiring, configuration_set, t))
        }
        if not types:
            return set(), f"rule {rule['Name']}'s pattern matches no SES email event (source aws.ses)"
        if not policy_allows(
            self._queue_policy, EVENTS_PRINCIPAL, str(rule.get("Arn", "")), self.wiring.queue_arn
        ):
            return set(), f"the queue policy does not let rule {rule['Name']} send"
        return types, ""

    def _rule_check(self, rule: dict[str, Any], bus: str) -> None:
        probe = self.wiring.configuration_sets[0] if self.wiring.configuration_sets else "any"
        types, problem = self._rule_delivers(rule, probe)
        missing = [t for t in REQUIRED_EVENT_TYPES if t not in types]
        self.report.add(
            not problem and not missing,
            "eventbridge rule",
            problem
            or f"{rule['Name']} on bus {bus} → {self.wiring.queue_name}"
            + (f"; its pattern misses {', '.join(missing)}" if missing else ""),
            f"match source aws.ses and the SES email detail-types, target the queue: {SETUP_FIX}",
        )

    # configuration sets ---------------------------------------------------------------------------

    def _configuration_sets(self) -> None:
        sesv2 = self.clients.client("sesv2")
        names, _dropped = list_configuration_sets(sesv2, self.target, self.pace)
        missing = [n for n in self.wiring.configuration_sets if n not in names]
        for name in missing:
            self.report.add(False, f"configuration set {name}", "does not exist", f"create it: {SETUP_FIX}")
        if not names and not missing:
            self.report.add(
                False,
                "configuration sets",
                "none found: events of mail sent without a configuration set need identity notifications",
                f"name your sets in targets.{self.target.name}.events.configuration_sets, then {SETUP_FIX}",
            )
        for name in names:
            self._configuration_set(sesv2, name)

    def _configuration_set(self, sesv2: Any, name: str) -> None:
        self.pace()
        info = sesv2.get_configuration_set(ConfigurationSetName=name)
        reputation = bool((info.get("ReputationOptions") or {}).get("ReputationMetricsEnabled", False))
        self.report.add(
            reputation,
            f"configuration set {name} reputation metrics",
            "enabled" if reputation else "disabled: CloudWatch publishes no per-set reputation",
            f"enable them: {SETUP_FIX} (or sesv2 put-configuration-set-reputation-options)",
        )
        self.pace()
        destinations = sesv2.get_configuration_set_event_destinations(ConfigurationSetName=name)
        route = _Route()
        for destination in destinations.get("EventDestinations", []):
            if not destination.get("Enabled", False) or not any(
                destination.get(k) for k in QUEUE_DESTINATIONS
            ):
                continue
            self._destination(route, name, destination)
        missing = [t for t in REQUIRED_EVENT_TYPES if t not in route.types]
        for problem, fix in route.problems:
            self.report.add(False, f"configuration set {name} route", problem, fix)
        detail = "; ".join(route.via) or "no enabled SNS or EventBridge destination"
        if missing:
            detail = (
                f"{', '.join(missing)} never reach{'es' if len(missing) == 1 else ''} the queue ({detail})"
            )
        self.report.add(
            not missing,
            f"configuration set {name} events",
            detail if missing else f"{', '.join(sorted(route.types))} reach the queue ({detail})",
            f"publish {', '.join(missing)} to a destination that ends at the queue: {SETUP_FIX}",
        )

    def _destination(self, route: _Route, name: str, destination: dict[str, Any]) -> None:
        label = destination.get("Name", "?")
        wanted = {str(t) for t in destination.get("MatchingEventTypes", [])}
        if destination.get("SnsDestination"):
            topic = str(destination["SnsDestination"].get("TopicArn", ""))
            sns = self.clients.client("sns")
            found = find_subscription(sns, topic, self.wiring.queue_arn)
            if found is None:
                route.problems.append(
                    (
                        f"destination {label}: topic {topic} has no subscription to queue "
                        f"{self.wiring.queue_name}",
                        f"subscribe the queue to the topic: {SETUP_FIX}",
                    )
                )
                return
            if not policy_allows(self._queue_policy, SNS_PRINCIPAL, topic, self.wiring.queue_arn):
                route.problems.append(
                    (
                        f"destination {label}: the queue policy does not let topic {topic} send",
                        f"allow sqs:SendMessage to {SNS_PRINCIPAL} with aws:SourceArn {topic}: {SETUP_FIX}",
                    )
                )
                return
            raw = sns.get_subscription_attributes(SubscriptionArn=found)["Attributes"].get(
                "RawMessageDelivery", "false"
            )
            route.types |= wanted
            route.via.append(
                f"{label} via SNS {topic.rsplit(':', 1)[-1]}, raw delivery {'on' if raw == 'true' else 'off'}"
            )
            return
        bus_arn = str(destination["EventBridgeDestination"].get("EventBusArn", ""))
        bus = bus_arn.rsplit("event-bus/", 1)[-1] or "default"
        delivered: set[str] = set()
        problems: list[str] = []
        for rule in self._bus_rules(bus):
            types, problem = self._rule_delivers(rule, name)
            delivered |= types
            if problem and "does not target" not in problem:
                problems.append(problem)
        if not delivered:
            reason = "; ".join(problems) or f"no rule on bus {bus} targets queue {self.wiring.queue_name}"
            route.problems.append(
                (
                    f"destination {label}: {reason}",
                    f"add a rule matching source aws.ses that targets the queue: {SETUP_FIX}",
                )
            )
            return
        route.types |= wanted & delivered
        route.via.append(f"{label} via EventBridge bus {bus}")

    # permissions ----------------------------------------------------------------------------------

    def _permissions(self) -> None:
        probes = permission_probes(self.target, self.clients, self.wiring)
        for action in sorted(actions_for(self.target) | doctor_actions(self.target)):
            probe = probes.get(action)
            if probe is None:
                continue
            try:
                probe()
            except ClientError as exc:
                if denied(exc):
                    self.report.add(
                        False,
                        f"permission {action}",
                        f"denied: {_why(exc)}",
                        f"add {action} to sesmon's policy: {POLICY_COMMAND}",
                    )
                    continue
            self.report.add(True, f"permission {action}", "allowed")

    # DNS ------------------------------------------------------------------------------------------

    def _dns(self) -> None:
        from sesmon.identity_health import (  # noqa: PLC0415 - only doctor's DNS section needs it
            ChecksIncompleteError,
            IdentityHealthComponent,
        )
        from sesmon.targets import TargetDirectory  # noqa: PLC0415

        component = IdentityHealthComponent(
            self.config, {self.target.name: self.clients}, TargetDirectory(self.config.targets)
        )
        # Each poll keeps what it got before raising "incomplete": the checks below report it.
        with contextlib.suppress(ChecksIncompleteError):
            component.poll_identities(self.target.name)
        with contextlib.suppress(ChecksIncompleteError):
            component.poll_dns(self.target.name, 0.0)
        view = component.views()[0]
        if not view.dns:
            self.report.add(True, "dns", "no verified domain identity to check")
        for domain in view.dns:
            for result in domain.results:
                answered = result.status is not Status.ERROR
                self.report.add(
                    result.status is Status.OK,
                    f"dns {result.check.value} {result.domain}",
                    result.reason,
                    "publish the record SES shows for the identity (SES console → Identities)"
                    if answered
                    else "DNS gave no answer: check dns.nameservers and that they are reachable",
                )


def permission_probes(
    target: TargetConfig, clients: AwsClients, wiring: Wiring
) -> dict[str, Callable[[], Any]]:
    """IAM action → a harmless call that needs it. ReceiveMessage uses a zero visibility timeout, so
    a message it happens to receive is visible again at once (its receive count goes up by one)."""
    assert target.sqs is not None
    url = target.sqs.queue_url

    def some_set() -> str:
        names = clients.client("sesv2").list_configuration_sets(PageSize=1).get("ConfigurationSets", [])
        return str(names[0]) if names else (wiring.configuration_sets or ("sesmon-doctor-probe",))[0]

    def identity() -> None:
        found = clients.client("sesv2").list_email_identities(PageSize=1).get("EmailIdentities", [])
        name = found[0]["IdentityName"] if found else "sesmon-doctor-probe.invalid"
        _allow_missing(lambda: clients.client("sesv2").get_email_identity(EmailIdentity=name))

    def metric_data() -> None:
        from datetime import UTC, datetime, timedelta  # noqa: PLC0415

        end = datetime.now(tz=UTC)
        clients.client("cloudwatch").get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "probe",
                    "MetricStat": {
                        "Metric": {"Namespace": "AWS/SES", "MetricName": "Send"},
                        "Period": 300,
                        "Stat": "Sum",
                    },
                }
            ],
            StartTime=end - timedelta(minutes=10),
            EndTime=end,
        )

    return {
        "sqs:ReceiveMessage": lambda: clients.client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=0, VisibilityTimeout=0
        ),
        # A receipt handle that cannot exist: allowed calls fail with ReceiptHandleIsInvalid.
        "sqs:DeleteMessage": lambda: _allow_missing(
            lambda: clients.client("sqs").delete_message(QueueUrl=url, ReceiptHandle="sesmon-doctor-probe")
        ),
        "sqs:GetQueueAttributes": lambda: clients.client("sqs").get_queue_attributes(
            QueueUrl=url, AttributeNames=["QueueArn"]
        ),
        "cloudwatch:GetMetricData": metric_data,
        "ses:GetAccount": lambda: clients.client("sesv2").get_account(),
        "ses:ListConfigurationSets": lambda: clients.client("sesv2").list_configuration_sets(PageSize=1),
        "ses:GetConfigurationSet": lambda: _allow_missing(
            lambda: clients.client("sesv2").get_configuration_set(ConfigurationSetName=some_set())
        ),
        "ses:GetConfigurationSetEventDestinations": lambda: _allow_missing(
            lambda: clients.client("sesv2").get_configuration_set_event_destinations(
                ConfigurationSetName=some_set()
            )
        ),
        "ses:ListEmailIdentities": lambda: clients.client("sesv2").list_email_identities(PageSize=1),
        "ses:GetEmailIdentity": identity,
    }


def _allow_missing(call: Callable[[], Any]) -> None:
    """Run ``call``; an error other than a denial means the permission was there."""
    try:
        call()
    except ClientError as exc:
        if denied(exc):
            raise


def _json(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def render_text(reports: Iterable[Report]) -> str:
    """The checklist: ✓ or ✗ per check, the fix under each failure."""
    lines: list[str] = []
    for report in reports:
        lines.append(f"target {report.target}:")
        for check in report.checks:
            lines.append(f"  {'✓' if check.ok else '✗'} {check.check}: {check.detail}")
            if check.fix:
                lines.append(f"      fix: {check.fix}")
    return "\n".join(lines) + "\n"


def render_json(reports: Sequence[Report]) -> str:
    """The checklist as JSON: ``{"ok": bool, "targets": [{"target", "ok", "checks": [...]}]}``."""
    return (
        json.dumps(
            {
                "ok": all(r.ok for r in reports),
                "targets": [
                    {"target": r.target, "ok": r.ok, "checks": [asdict(c) for c in r.checks]} for r in reports
                ],
            },
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
