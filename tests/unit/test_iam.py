"""The IAM policy builder: exactly the enabled features' actions, scoped to their resources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sesmon import cli
from sesmon.config import Config
from sesmon.iam import (
    ACTIONS,
    FEATURE_ENABLED,
    FEATURE_OPERATIONS,
    build_policy,
    configuration_set_arns,
    queue_arn,
)

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/ses-events"
ROLE = "arn:aws:iam::210987654321:role/sesmon"


def policy_actions(policy: dict[str, Any]) -> set[str]:
    """Every action a policy document allows."""
    actions: set[str] = set()
    for statement in policy["Statement"]:
        value = statement["Action"]
        actions.update([value] if isinstance(value, str) else value)
    return actions


def config(*targets: dict[str, Any]) -> Config:
    return Config.model_validate({"targets": list(targets)})


def statements_for(policy: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in policy["Statement"] if action in s["Action"]]


def test_every_feature_operation_maps_to_an_action_entry() -> None:
    assert set(FEATURE_OPERATIONS) == set(FEATURE_ENABLED)
    for ops in FEATURE_OPERATIONS.values():
        for op in ops:
            assert op in ACTIONS, op


def test_all_disabled_needs_no_permission() -> None:
    off = {"enabled": False}
    policy = build_policy(
        config({"name": "a", "region": "us-east-1", "cloudwatch": off, "account": off, "identities": off})
    )
    assert policy == {"Version": "2012-10-17", "Statement": []}


def test_sqs_only_is_scoped_to_the_queue_arn() -> None:
    off = {"enabled": False}
    policy = build_policy(
        config(
            {
                "name": "a",
                "region": "eu-west-1",
                "sqs": {"queue_url": QUEUE},
                "cloudwatch": off,
                "account": off,
                "identities": off,
            }
        ),
        doctor=False,
    )
    assert policy_actions(policy) == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    (statement,) = policy["Statement"]
    assert statement["Resource"] == "arn:aws:sqs:eu-west-1:123456789012:ses-events"


def test_cloudwatch_only() -> None:
    off = {"enabled": False}
    policy = build_policy(config({"name": "a", "region": "us-east-1", "account": off, "identities": off}))
    assert policy_actions(policy) == {
        "cloudwatch:GetMetricData",
        "ses:ListConfigurationSets",
        "ses:GetConfigurationSet",
    }
    (metric_data,) = statements_for(policy, "cloudwatch:GetMetricData")
    assert metric_data["Resource"] == "*"
    (get_set,) = statements_for(policy, "ses:GetConfigurationSet")
    # No role and no queue: the account is unknown, so the ARN wildcards it (region still pinned).
    assert get_set["Resource"] == "arn:aws:ses:us-east-1:*:configuration-set/*"


def test_role_adds_assume_role_on_that_role_and_names_the_account() -> None:
    policy = build_policy(
        config(
            {
                "name": "a",
                "region": "eu-west-1",
                "role_arn": ROLE,
                "configuration_sets": ["marketing-*", "tx[0-9]"],
                "identities": {"enabled": False},
            }
        )
    )
    (assume,) = statements_for(policy, "sts:AssumeRole")
    assert assume["Resource"] == ROLE
    assert assume["Action"] == ["sts:AssumeRole"]
    (get_set,) = statements_for(policy, "ses:GetConfigurationSet")
    # fnmatch classes are not IAM syntax: that pattern widens to "*".
    assert get_set["Resource"] == [
        "arn:aws:ses:eu-west-1:210987654321:configuration-set/*",
        "arn:aws:ses:eu-west-1:210987654321:configuration-set/marketing-*",
    ]
    assert "ses:GetAccount" in policy_actions(policy)
    assert "sts:GetCallerIdentity" not in policy_actions(policy)  # needs no permission


def test_statements_merge_across_targets_and_are_deterministic() -> None:
    cfg = config(
        {"name": "a", "region": "us-east-1", "sqs": {"queue_url": QUEUE}},
        {"name": "b", "region": "eu-west-1"},
    )
    policy = build_policy(cfg)
    assert build_policy(cfg) == policy
    star = [s for s in policy["Statement"] if s["Resource"] == "*"]
    assert len(star) == 1
    assert "cloudwatch:GetMetricData" in star[0]["Action"]
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(set(sids)) == len(sids)
    assert all(sid.isalnum() for sid in sids)


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-1", "aws")]
)
def test_partitions(region: str, partition: str) -> None:
    target = config({"name": "a", "region": region, "sqs": {"queue_url": QUEUE}}).targets[0]
    assert queue_arn(target).startswith(f"arn:{partition}:sqs:{region}:123456789012:")
    assert configuration_set_arns(target)[0].startswith(f"arn:{partition}:ses:{region}:")


def test_cli_prints_the_policy_and_rejects_bad_config(tmp_path: Path, capsys: Any) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(f"targets:\n  - name: a\n    region: eu-west-1\n    sqs:\n      queue_url: {QUEUE}\n")
    assert cli.main(["iam-policy", "--config", str(good)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == build_policy(
        Config.model_validate(
            {"targets": [{"name": "a", "region": "eu-west-1", "sqs": {"queue_url": QUEUE}}]}
        )
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: []\n")
    assert cli.main(["iam-policy", "--config", str(bad)]) == 2


def test_checked_in_policy_matches_the_example_config(capsys: Any) -> None:
    root = Path(__file__).resolve().parents[2]
    example = root / "config.example.yaml"
    if not example.exists():
        pytest.skip("no config.example.yaml")
    assert cli.main(["iam-policy", "--config", str(example)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(
        (root / "deploy" / "iam-policy.json").read_text()
    )


def test_write_permissions_only_when_an_action_is_configured() -> None:
    target = {"name": "a", "region": "eu-west-1", "sqs": {"queue_url": QUEUE}}
    plain = build_policy(config(target))
    assert not {a for a in policy_actions(plain) if a.startswith("ses:Put")}
    rule = {"name": "Spike", "signal": "bounce_rate", "window": "1h", "critical": 0.1}
    acting = Config.model_validate(
        {
            "targets": [target],
            "alerts": {
                "actions": {"configuration_sets": ["marketing*"], "allow_account_pause": True},
                "rules": [{**rule, "actions": ["pause_configuration_set", "pause_account"]}],
            },
        }
    )
    policy = build_policy(acting)
    (sets,) = statements_for(policy, "ses:PutConfigurationSetSendingOptions")
    assert sets["Resource"] == "arn:aws:ses:eu-west-1:123456789012:configuration-set/marketing*"
    (account,) = statements_for(policy, "ses:PutAccountSendingAttributes")
    assert account["Resource"] == "*"


def test_doctor_reads_are_in_the_policy_and_setup_writes_are_apart(tmp_path: Path, capsys: Any) -> None:
    target = {"name": "a", "region": "eu-west-1", "sqs": {"queue_url": QUEUE}, "configuration_sets": ["tx"]}
    cfg = config(target)
    actions = policy_actions(build_policy(cfg))
    assert {
        "sns:ListSubscriptionsByTopic",
        "events:ListRules",
        "sqs:GetQueueUrl",
        "ses:GetAccount",
    } <= actions
    assert not any(a.startswith(("sns:Create", "sqs:Create", "sqs:Set", "events:Put")) for a in actions)
    setup = build_policy(cfg, setup=True)
    written = policy_actions(setup)
    assert {"sqs:CreateQueue", "sqs:SetQueueAttributes", "sns:CreateTopic", "sns:Subscribe"} <= written
    assert "ses:CreateConfigurationSetEventDestination" in written
    assert not any(a.startswith("events:") for a in written)  # the SNS route needs no EventBridge
    by_action = {a: s["Resource"] for s in setup["Statement"] for a in s["Action"]}
    assert by_action["sns:Subscribe"] == "arn:aws:sns:eu-west-1:123456789012:sesmon-ses-events"
    assert by_action["ses:CreateConfigurationSetEventDestination"] == (
        "arn:aws:ses:eu-west-1:123456789012:configuration-set/tx"
    )
    bridge = config({**target, "events": {"via": "eventbridge"}})
    assert "events:PutTargets" in policy_actions(build_policy(bridge, setup=True))
    path = tmp_path / "sesmon.yaml"
    path.write_text(json.dumps({"targets": [target]}))
    assert cli.main(["iam-policy", "--setup", "--config", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == setup
