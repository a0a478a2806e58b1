"""Least-privilege IAM policy for exactly the AWS calls a config enables (pure: no AWS access)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sesmon import globs
from sesmon.config import Config, TargetConfig
from sesmon.wiring import account_of, partition, wiring_for

Operation = tuple[str, str]
"""(boto3 service name, API operation name), as the API-call counter records them."""

# Config feature → the API operations that feature's code performs. A new capability adds its
# feature here (and its enable test to FEATURE_ENABLED) together with the code that makes the calls;
# tests check that every call actually made appears in the policy.
FEATURE_OPERATIONS: dict[str, tuple[Operation, ...]] = {
    # Every target: the account id label comes from STS.
    "caller_identity": (("sts", "GetCallerIdentity"),),
    "assume_role": (("sts", "AssumeRole"),),
    "sqs": (
        ("sqs", "ReceiveMessage"),
        ("sqs", "DeleteMessage"),
        ("sqs", "DeleteMessageBatch"),
        ("sqs", "GetQueueAttributes"),
    ),
    "cloudwatch": (
        ("cloudwatch", "GetMetricData"),
        ("sesv2", "ListConfigurationSets"),
        ("sesv2", "GetConfigurationSet"),
    ),
    "account": (
        ("sesv2", "GetAccount"),
        ("sesv2", "ListConfigurationSets"),
        ("sesv2", "GetConfigurationSet"),
    ),
    "identities": (
        ("sesv2", "ListEmailIdentities"),
        ("sesv2", "GetEmailIdentity"),
        ("sesv2", "ListConfigurationSets"),
        ("sesv2", "GetConfigurationSetEventDestinations"),
    ),
}

# When each feature is on for a target.
FEATURE_ENABLED: dict[str, Callable[[TargetConfig], bool]] = {
    "caller_identity": lambda _t: True,
    "assume_role": lambda t: t.role_arn is not None,
    "sqs": lambda t: t.sqs is not None,
    "cloudwatch": lambda t: t.cloudwatch.enabled,
    "account": lambda t: t.account.enabled,
    "identities": lambda t: t.identities.enabled,
}

# API operation → the IAM action that authorises it; None where no permission is needed.
# Batch operations are authorised by their single-message action.
ACTIONS: dict[Operation, str | None] = {
    ("sts", "GetCallerIdentity"): None,
    ("sts", "AssumeRole"): "sts:AssumeRole",
    ("sqs", "ReceiveMessage"): "sqs:ReceiveMessage",
    ("sqs", "DeleteMessage"): "sqs:DeleteMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibility"): "sqs:ChangeMessageVisibility",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sqs", "GetQueueAttributes"): "sqs:GetQueueAttributes",
    ("cloudwatch", "GetMetricData"): "cloudwatch:GetMetricData",
    ("cloudwatch", "GetMetricStatistics"): "cloudwatch:GetMetricStatistics",
    ("sesv2", "GetAccount"): "ses:GetAccount",
    ("sesv2", "ListConfigurationSets"): "ses:ListConfigurationSets",
    ("sesv2", "GetConfigurationSet"): "ses:GetConfigurationSet",
    ("sesv2", "ListEmailIdentities"): "ses:ListEmailIdentities",
    ("sesv2", "GetEmailIdentity"): "ses:GetEmailIdentity",
    ("sesv2", "GetConfigurationSetEventDestinations"): "ses:GetConfigurationSetEventDestinations",
    ("sesv2", "PutConfigurationSetSendingOptions"): "ses:PutConfigurationSetSendingOptions",
    ("sesv2", "PutAccountSendingAttributes"): "ses:PutAccountSendingAttributes",
    # sesmon doctor's reads beyond the daemon's, and sesmon setup's writes.
    ("sqs", "GetQueueUrl"): "sqs:GetQueueUrl",
    ("sqs", "CreateQueue"): "sqs:CreateQueue",
    ("sqs", "SetQueueAttributes"): "sqs:SetQueueAttributes",
    ("sns", "GetTopicAttributes"): "sns:GetTopicAttributes",
    ("sns", "ListSubscriptionsByTopic"): "sns:ListSubscriptionsByTopic",
    ("sns", "GetSubscriptionAttributes"): "sns:GetSubscriptionAttributes",
    ("sns", "CreateTopic"): "sns:CreateTopic",
    ("sns", "Subscribe"): "sns:Subscribe",
    ("sns", "SetSubscriptionAttributes"): "sns:SetSubscriptionAttributes",
    ("events", "ListRules"): "events:ListRules",
    ("events", "DescribeRule"): "events:DescribeRule",
    ("events", "ListTargetsByRule"): "events:ListTargetsByRule",
    ("events", "PutRule"): "events:PutRule",
    ("events", "PutTargets"): "events:PutTargets",
    ("sesv2", "CreateConfigurationSet"): "ses:CreateConfigurationSet",
    ("sesv2", "PutConfigurationSetReputationOptions"): "ses:PutConfigurationSetReputationOptions",
    ("sesv2", "CreateConfigurationSetEventDestination"): "ses:CreateConfigurationSetEventDestination",
    ("sesv2", "UpdateConfigurationSetEventDestination"): "ses:UpdateConfigurationSetEventDestination",
}


def action_of(operation: str) -> str | None:
    """The IAM action authorising an API operation named in an error (botocore's ``operation_name``
    carries no service); None when no service, or more than one, has that operation."""
    found = {action for (_, op), action in ACTIONS.items() if op == operation and action is not None}
    return found.pop() if len(found) == 1 else None


# A rule action (alerts.rules[].actions) → the write operations it makes; `sesmon resume` makes the
# same call as a pause. Granted only when some rule has that action.
ACTION_OPERATIONS: dict[str, tuple[Operation, ...]] = {
    "pause_configuration_set": (("sesv2", "PutConfigurationSetSendingOptions"),),
    "pause_account": (("sesv2", "PutAccountSendingAttributes"),),
}

# `sesmon doctor` (targets with a queue): the daemon's reads plus these, so the read-only policy
# `sesmon iam-policy` prints lets doctor check everything it checks.
DOCTOR_OPERATIONS: tuple[Operation, ...] = (
    ("sts", "GetCallerIdentity"),
    ("sqs", "GetQueueUrl"),
    ("sqs", "GetQueueAttributes"),
    ("sqs", "ReceiveMessage"),
    ("sqs", "DeleteMessage"),
    ("sns", "GetTopicAttributes"),
    ("sns", "ListSubscriptionsByTopic"),
    ("sns", "GetSubscriptionAttributes"),
    ("events", "ListRules"),
    ("events", "ListTargetsByRule"),
    ("cloudwatch", "GetMetricData"),
    ("sesv2", "GetAccount"),
    ("sesv2", "ListConfigurationSets"),
    ("sesv2", "GetConfigurationSet"),
    ("sesv2", "GetConfigurationSetEventDestinations"),
    ("sesv2", "ListEmailIdentities"),
    ("sesv2", "GetEmailIdentity"),
)
# `sesmon setup --apply`: its reads and writes, by route. Printed apart (`iam-policy --setup`), for
# whoever runs setup once, never for the daemon.
SETUP_OPERATIONS: dict[str, tuple[Operation, ...]] = {
    "common": (
        ("sqs", "GetQueueUrl"),
        ("sqs", "GetQueueAttributes"),
        ("sqs", "CreateQueue"),
        ("sqs", "SetQueueAttributes"),
        ("sesv2", "GetConfigurationSet"),
        ("sesv2", "CreateConfigurationSet"),
        ("sesv2", "PutConfigurationSetReputationOptions"),
        ("sesv2", "GetConfigurationSetEventDestinations"),
        ("sesv2", "CreateConfigurationSetEventDestination"),
        ("sesv2", "UpdateConfigurationSetEventDestination"),
    ),
    "sns": (
        ("sns", "GetTopicAttributes"),
        ("sns", "CreateTopic"),
        ("sns", "ListSubscriptionsByTopic"),
        ("sns", "Subscribe"),
        ("sns", "GetSubscriptionAttributes"),
        ("sns", "SetSubscriptionAttributes"),
    ),
    "eventbridge": (
        ("events", "DescribeRule"),
        ("events", "PutRule"),
        ("events", "ListTargetsByRule"),
        ("events", "PutTargets"),
    ),
}


def queue_arn(target: TargetConfig) -> str:
    """The SQS queue ARN from the queue URL (account, name) and the target's region."""
    assert target.sqs is not None
    sqs = target.sqs
    return f"arn:{partition(target.region)}:sqs:{target.region}:{sqs.account_id}:{sqs.queue_name}"


def configuration_set_arns(target: TargetConfig) -> list[str]:
    """ARNs of the configuration sets the config allows sesmon to read."""
    prefix = f"arn:{partition(target.region)}:ses:{target.region}:{account_of(target)}:configuration-set"
    return sorted({f"{prefix}/{globs.as_iam(p)}" for p in target.configuration_sets})


def _identity_arns(target: TargetConfig) -> list[str]:
    return [f"arn:{partition(target.region)}:ses:{target.region}:{account_of(target)}:identity/*"]


def _role(target: TargetConfig) -> list[str]:
    assert target.role_arn is not None
    return [target.role_arn]


# IAM action → the resources it is granted on for a target; actions not listed get "*" (they have
# no resource type, e.g. cloudwatch:GetMetricData, ses:GetAccount, ses:List*).
RESOURCES: dict[str, Callable[[TargetConfig], list[str]]] = {
    "sts:AssumeRole": _role,
    "sqs:ReceiveMessage": lambda t: [queue_arn(t)],
    "sqs:DeleteMessage": lambda t: [queue_arn(t)],
    "sqs:ChangeMessageVisibility": lambda t: [queue_arn(t)],
    "sqs:GetQueueAttributes": lambda t: [queue_arn(t)],
    "ses:GetConfigurationSet": configuration_set_arns,
    "ses:GetConfigurationSetEventDestinations": configuration_set_arns,
    "ses:GetEmailIdentity": _identity_arns,
}


def _setup_resources(config: Config, target: TargetConfig, action: str) -> list[str]:
    """What ``sesmon setup`` touches: the queue and its DLQ, the topic or rule, the wired sets."""
    wiring = wiring_for(target, config)
    service = action.split(":", maxsplit=1)[0]
    if service == "sqs":
        return [wiring.queue_arn, wiring.dlq_arn]
    if service == "sns":
        # Subscribe and the subscription attributes are authorised on the topic.
        return [wiring.topic_arn]
    if service == "events":
        return [wiring.rule_arn]
    return sorted({wiring.configuration_set_arn(n) for n in wiring.configuration_sets}) or ["*"]


def operations_for(target: TargetConfig) -> set[Operation]:
    """Every API operation the target's enabled features may call."""
    return {
        op for feature, ops in FEATURE_OPERATIONS.items() if FEATURE_ENABLED[feature](target) for op in ops
    }


def actions_for(target: TargetConfig) -> set[str]:
    """The IAM actions the target needs."""
    return {a for op in operations_for(target) if (a := ACTIONS[op]) is not None}


def action_operations(config: Config) -> set[Operation]:
    """The write operations the config's rule actions may make."""
    return {op for rule in config.alerts.rules for action in rule.actions for op in ACTION_OPERATIONS[action]}


def _pausable_arns(config: Config, target: TargetConfig) -> list[str]:
    # Only the sets the actions' allow-list names may ever be paused (or resumed).
    prefix = f"arn:{partition(target.region)}:ses:{target.region}:{account_of(target)}:configuration-set"
    return sorted({f"{prefix}/{globs.as_iam(p)}" for p in config.alerts.actions.configuration_sets})


def _action_grants(config: Config, target: TargetConfig) -> list[tuple[tuple[str, ...], str]]:
    grants = []
    for op in sorted(action_operations(config)):
        action = ACTIONS[op]
        assert action is not None
        if op[1] == "PutConfigurationSetSendingOptions":
            arns = _pausable_arns(config, target)
            if arns:
                grants.append((tuple(arns), action))
        else:
            grants.append((("*",), action))
    return grants


def doctor_actions(target: TargetConfig) -> set[str]:
    """The IAM actions ``sesmon doctor`` needs beyond the daemon's (none without a queue)."""
    if target.sqs is None:
        return set()
    return {a for op in DOCTOR_OPERATIONS if (a := ACTIONS[op]) is not None} - actions_for(target)


def setup_actions(target: TargetConfig) -> set[str]:
    """The IAM actions ``sesmon setup --apply`` needs for the target's route (none without a queue)."""
    if target.sqs is None:
        return set()
    ops = (*SETUP_OPERATIONS["common"], *SETUP_OPERATIONS[target.events.via])
    return {a for op in ops if (a := ACTIONS[op]) is not None}


def _doctor_resources(config: Config, target: TargetConfig, action: str) -> list[str]:
    if action == "sqs:GetQueueUrl":
        wiring = wiring_for(target, config)
        return [wiring.queue_arn, wiring.dlq_arn]
    # Event destinations may name any topic or bus: doctor reads whichever they name.
    return RESOURCES[action](target) if action in RESOURCES else ["*"]


def build_policy(config: Config, *, setup: bool = False, doctor: bool = True) -> dict[str, Any]:
    """One policy document covering every target, statements grouped by resource set.

    By default: what ``sesmon run`` and ``sesmon doctor`` need, all reads (plus ``sqs:DeleteMessage``
    for processed messages); ``doctor=False`` leaves doctor's extra reads out. With ``setup``: only
    what ``sesmon setup --apply`` needs, writes included, for the one who wires the account, never
    for the daemon.

    With ``role_arn`` the read actions belong to the role and ``sts:AssumeRole`` to the identity
    sesmon starts as; one document holding both grants each principal no more than it needs.
    """
    grants: dict[tuple[str, ...], set[str]] = {}
    for target in config.targets:
        if setup:
            for action in setup_actions(target):
                grants.setdefault(tuple(_setup_resources(config, target, action)), set()).add(action)
            continue
        for action in actions_for(target):
            resources = tuple(RESOURCES[action](target) if action in RESOURCES else ["*"])
            grants.setdefault(resources, set()).add(action)
        for resources, action in _action_grants(config, target):
            grants.setdefault(resources, set()).add(action)
        for action in doctor_actions(target) if doctor else ():
            grants.setdefault(tuple(_doctor_resources(config, target, action)), set()).add(action)
    statements = []
    for index, (resources, actions) in enumerate(sorted(grants.items(), key=lambda g: sorted(g[1])), 1):
        services = "".join(sorted({a.split(":")[0].capitalize() for a in actions}))
        statements.append(
            {
                "Sid": f"{services}{index}",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": list(resources) if len(resources) > 1 else resources[0],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}
