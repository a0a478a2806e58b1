"""Least-privilege IAM policy for exactly the AWS calls a config enables (pure: no AWS access)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sesmon import globs
from sesmon.config import Config, TargetConfig

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
}


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


def operations_for(target: TargetConfig) -> set[Operation]:
    """Every API operation the target's enabled features may call."""
    return {
        op for feature, ops in FEATURE_OPERATIONS.items() if FEATURE_ENABLED[feature](target) for op in ops
    }


def actions_for(target: TargetConfig) -> set[str]:
    """The IAM actions the target needs."""
    return {a for op in operations_for(target) if (a := ACTIONS[op]) is not None}


def build_policy(config: Config) -> dict[str, Any]:
    """One policy document covering every target, statements grouped by resource set.

    With ``role_arn`` the read actions belong to the role and ``sts:AssumeRole`` to the identity
    sesmon starts as; one document holding both grants each principal no more than it needs.
    """
    grants: dict[tuple[str, ...], set[str]] = {}
    for target in config.targets:
        for action in actions_for(target):
            resources = tuple(RESOURCES[action](target) if action in RESOURCES else ["*"])
            grants.setdefault(resources, set()).add(action)
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
