"""Provision the demo's SES setup through the AWS APIs, as a team would: identity, sets, SNS, SQS and DLQ."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.literals import EventTypeType
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

DOMAIN = "mail.example.com"
MAIL_FROM_DOMAIN = f"bounce.{DOMAIN}"
CONFIGURATION_SETS = ("transactional", "marketing")
TOPIC_NAME = "ses-event-publishing"
QUEUE_NAME = "sesmon-ses-events"
DLQ_NAME = "sesmon-ses-events-dlq"
DESTINATION_NAME = "sesmon-sns"
# Every event type SES can publish: sesmon counts them all, and routes are checked per type.
EVENT_TYPES: tuple[EventTypeType, ...] = (
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
)


@dataclass(frozen=True)
class Provisioned:
    """What was created, for the config generator and the traffic simulator."""

    domain: str
    configuration_sets: tuple[str, ...]
    topic_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    subscription_arn: str


def provision(sesv2: SESV2Client, sns: SNSClient, sqs: SQSClient) -> Provisioned:
    """Create the whole setup; each step is the call a team would make against AWS."""
    sesv2.create_email_identity(
        EmailIdentity=DOMAIN,
        DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"},
        Tags=[{"Key": "team", "Value": "messaging"}],
    )
    sesv2.put_email_identity_mail_from_attributes(
        EmailIdentity=DOMAIN, MailFromDomain=MAIL_FROM_DOMAIN, BehaviorOnMxFailure="USE_DEFAULT_VALUE"
    )
    topic_arn = sns.create_topic(Name=TOPIC_NAME, Attributes={"DisplayName": "SES events"})["TopicArn"]

    dlq_url = sqs.create_queue(QueueName=DLQ_NAME, Attributes={"MessageRetentionPeriod": str(14 * 86400)})[
        "QueueUrl"
    ]
    dlq_arn = _queue_arn(sqs, dlq_url)
    queue_url = sqs.create_queue(
        QueueName=QUEUE_NAME,
        Attributes={
            "VisibilityTimeout": "60",
            "MessageRetentionPeriod": str(4 * 86400),
            "ReceiveMessageWaitTimeSeconds": "20",
            # A body that keeps failing moves to the DLQ instead of blocking the queue forever.
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": _queue_policy(queue_arn, topic_arn)})
    # Raw delivery off: bodies arrive as SNS envelopes, the shape most SES setups produce.
    subscription_arn = sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "false"},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]

    for name in CONFIGURATION_SETS:
        sesv2.create_configuration_set(
            ConfigurationSetName=name,
            ReputationOptions={"ReputationMetricsEnabled": True},
            SendingOptions={"SendingEnabled": True},
            SuppressionOptions={"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            Tags=[{"Key": "stream", "Value": name}],
        )
        sesv2.create_configuration_set_event_destination(
            ConfigurationSetName=name,
            EventDestinationName=DESTINATION_NAME,
            EventDestination={
                "Enabled": True,
                "MatchingEventTypes": list(EVENT_TYPES),
                "SnsDestination": {"TopicArn": topic_arn},
            },
        )
    return Provisioned(
        domain=DOMAIN,
        configuration_sets=CONFIGURATION_SETS,
        topic_arn=topic_arn,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        subscription_arn=subscription_arn,
    )


def _queue_arn(sqs: SQSClient, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _queue_policy(queue_arn: str, topic_arn: str) -> str:
    """Allow only this SNS topic to send to the queue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowSesEventTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
    )
