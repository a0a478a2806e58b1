"""Every AWS operation the daemon actually calls is allowed by ``sesmon iam-policy`` for its config."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from sesmon import cli
from sesmon.config import Config
from sesmon.config_loader import load_config
from sesmon.daemon import Daemon
from sesmon.iam import ACTIONS
from sesmon.sources.aws import ApiCallCounter, AwsClients
from tests.conftest import FIXTURES
from tests.integration.test_cloudwatch_account import account_response, create_sets, stub_get_account

ROLE_ACCOUNT = "111111111111"
ROLE_ARN = f"arn:aws:iam::{ROLE_ACCOUNT}:role/sesmon-read"


def _queue(endpoint: str, region: str, name: str, role_arn: str | None = None) -> str:
    target: dict[str, Any] = {"name": "seed", "region": region, "endpoint_url": endpoint}
    if role_arn:
        target["role_arn"] = role_arn
    config = Config.model_validate({"targets": [target]})
    clients = AwsClients(config.targets[0], ApiCallCounter())
    url = clients.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    # One real SES event per queue, so receiving, counting and deleting all happen.
    body = (FIXTURES / "ses-events" / "ep-send.sns.json").read_text()
    clients.client("sqs").send_message(QueueUrl=url, MessageBody=body)
    create_sets(clients, {f"{name}-sends": True})
    return str(url)


def _write_config(tmp_path: Path, endpoint: str) -> Path:
    east_url = _queue(endpoint, "us-east-1", "events-east")
    west_url = _queue(endpoint, "eu-west-1", "events-west")
    role_url = _queue(endpoint, "us-east-1", "events-role", ROLE_ARN)
    sqs = {"receivers": 1, "wait_time_seconds": 1, "visibility_timeout_seconds": 30}
    raw: dict[str, Any] = {
        "targets": [
            {"name": "east", "region": "us-east-1", "sqs": {"queue_url": east_url, **sqs}},
            {"name": "west", "region": "eu-west-1", "sqs": {"queue_url": west_url, **sqs}},
            {
                "name": "role",
                "region": "us-east-1",
                "role_arn": ROLE_ARN,
                "external_id": "ext-id-1234",
                "sqs": {"queue_url": role_url, **sqs},
            },
        ],
        "dns": {"enabled": False},  # DNS is not AWS; it needs no IAM permission
        "state": {"path": str(tmp_path / "state.db")},
        "server": {"listen": "127.0.0.1:0"},
    }
    for target in raw["targets"]:
        target["endpoint_url"] = endpoint
    path = tmp_path / "sesmon.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_calls_made_are_a_subset_of_the_policy(tmp_path: Path, moto_server: Any, capsys: Any) -> None:
    path = _write_config(tmp_path, moto_server.endpoint_url)
    assert cli.main(["iam-policy", "--config", str(path)]) == 0
    policy = json.loads(capsys.readouterr().out)

    daemon = Daemon(load_config(path))
    for clients in daemon.context.aws.values():
        stub_get_account(clients, account_response)  # moto has no SES v2 GetAccount; see the stub
    daemon.start()
    try:
        # Every source of every target: first polls done and each queue's event deleted.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = not daemon.pending()
            deleted = {
                target
                for (target, service, op), n in daemon.api_calls.by_target().items()
                if (service, op) == ("sqs", "DeleteMessageBatch") and n
            }
            if done and deleted == {"east", "west", "role"}:
                break
            time.sleep(0.1)
    finally:
        daemon.request_stop()
        daemon.shutdown()

    called = set(daemon.api_calls.snapshot())
    # Not vacuous: each source really ran.
    for op in [
        ("cloudwatch", "GetMetricData"),
        ("sesv2", "GetAccount"),
        ("sesv2", "GetConfigurationSet"),
        ("sqs", "ReceiveMessage"),
        ("sqs", "DeleteMessageBatch"),
        ("sts", "AssumeRole"),
        ("sts", "GetCallerIdentity"),
        ("sesv2", "ListEmailIdentities"),
    ]:
        assert op in called, op

    allowed: dict[str, list[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        for action in statement["Action"]:
            allowed.setdefault(action, []).extend([resources] if isinstance(resources, str) else resources)
    # Operations absent from the table are missing too; only mapped-to-None ones need no permission.
    needed = {op: ACTIONS.get(op, f"(no IAM mapping for {op})") for op in called}
    missing = {op: action for op, action in needed.items() if action is not None and action not in allowed}
    assert not missing, f"called but not allowed by the policy: {missing}"
    assert allowed["sts:AssumeRole"] == [ROLE_ARN]
    queue_arns = set(allowed["sqs:ReceiveMessage"])
    assert queue_arns == {
        "arn:aws:sqs:us-east-1:123456789012:events-east",
        "arn:aws:sqs:eu-west-1:123456789012:events-west",
        f"arn:aws:sqs:us-east-1:{ROLE_ACCOUNT}:events-role",
    }
