"""``sesmon setup --format cloudformation``: the wiring as one CloudFormation template (pure, JSON)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from sesmon.wiring import DLQ_RETENTION, Wiring

# SES v2 event type → the spelling AWS::SES::ConfigurationSetEventDestination takes.
_CFN_EVENT_TYPES = {
    "SEND": "send",
    "REJECT": "reject",
    "BOUNCE": "bounce",
    "COMPLAINT": "complaint",
    "DELIVERY": "delivery",
    "OPEN": "open",
    "CLICK": "click",
    "RENDERING_FAILURE": "renderingFailure",
    "DELIVERY_DELAY": "deliveryDelay",
    "SUBSCRIPTION": "subscription",
}


def _logical(*parts: str) -> str:
    """A logical id (alphanumeric only) from name parts, each capitalised."""
    return "".join(re.sub(r"[^A-Za-z0-9]", "", p[:1].upper() + p[1:]) for p in parts)


def _arn(resource: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, "Arn"]}


def resources(wiring: Wiring) -> dict[str, dict[str, Any]]:
    """The resources of one target's event path."""
    prefix = _logical(wiring.target)
    dlq, queue, policy = f"{prefix}DeadLetterQueue", f"{prefix}Queue", f"{prefix}QueuePolicy"
    out: dict[str, dict[str, Any]] = {
        dlq: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"QueueName": wiring.dlq_name, "MessageRetentionPeriod": DLQ_RETENTION},
        },
        queue: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": wiring.queue_name,
                "MessageRetentionPeriod": wiring.retention,
                "VisibilityTimeout": wiring.visibility_timeout,
                "ReceiveMessageWaitTimeSeconds": 20,
                "RedrivePolicy": {
                    "deadLetterTargetArn": _arn(dlq),
                    "maxReceiveCount": wiring.max_receive_count,
                },
            },
        },
    }
    if wiring.via == "sns":
        source = f"{prefix}Topic"
        source_arn: dict[str, Any] = {"Ref": source}
        out[source] = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": wiring.topic_name}}
        out[f"{prefix}Subscription"] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": source},
                "Protocol": "sqs",
                "Endpoint": _arn(queue),
                "RawMessageDelivery": wiring.raw_delivery,
            },
        }
        destination: dict[str, Any] = {"SnsDestination": {"TopicARN": {"Ref": source}}}
    else:
        source = f"{prefix}Rule"
        source_arn = _arn(source)
        out[source] = {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": wiring.rule_name,
                "EventBusName": wiring.event_bus,
                "Description": "SES email events to sesmon's queue",
                "EventPattern": wiring.event_pattern(),
                "State": "ENABLED",
                "Targets": [{"Id": "sesmon-queue", "Arn": _arn(queue)}],
            },
        }
        destination = {"EventBridgeDestination": {"EventBusArn": wiring.bus_arn}}
    statement = wiring.queue_policy()["Statement"][0]
    out[policy] = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": queue}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        **statement,
                        "Resource": _arn(queue),
                        "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
                    }
                ],
            },
        },
    }
    for name in wiring.configuration_sets:
        set_id = _logical(prefix, name, "ConfigurationSet")
        set_name: Any = name
        if wiring.create_configuration_sets:
            out[set_id] = {
                "Type": "AWS::SES::ConfigurationSet",
                "Properties": {"Name": name, "ReputationOptions": {"ReputationMetricsEnabled": True}},
            }
            set_name = {"Ref": set_id}
        out[_logical(prefix, name, "EventDestination")] = {
            "Type": "AWS::SES::ConfigurationSetEventDestination",
            "Properties": {
                "ConfigurationSetName": set_name,
                "EventDestination": {
                    "Name": wiring.destination_name,
                    "Enabled": True,
                    "MatchingEventTypes": [_CFN_EVENT_TYPES[t] for t in wiring.event_types],
                    **destination,
                },
            },
        }
    return out


def template(wirings: Sequence[Wiring]) -> dict[str, Any]:
    """One template for every target (deploy it once per account and region it names)."""
    merged: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for wiring in wirings:
        merged.update(resources(wiring))
        queue = f"{_logical(wiring.target)}Queue"
        outputs[f"{queue}Url"] = {
            "Description": f"sqs.queue_url of target {wiring.target}",
            "Value": {"Ref": queue},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "sesmon: SES event publishing to an SQS queue with a dead-letter queue "
        "(generated by `sesmon setup --format cloudformation`)",
        "Resources": merged,
        "Outputs": outputs,
    }


def render(wirings: Sequence[Wiring]) -> str:
    """The template as JSON text."""
    return json.dumps(template(wirings), indent=2) + "\n"
