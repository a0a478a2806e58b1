"""Provision the demo's SES setup through the AWS APIs, as a team would: an identity and configuration
sets by hand, then the event path (SNS, SQS, DLQ, destinations) by ``sesmon setup``'s own code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sesmon.config import SES_EVENT_TYPES, EventsConfig
from sesmon.provisioning import Provisioner
from sesmon.wiring import build

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

DOMAIN = "mail.example.com"
MAIL_FROM_DOMAIN = f"bounce.{DOMAIN}"
CONFIGURATION_SETS = ("transactional", "marketing")
TOPIC_NAME = "ses-event-publishing"
QUEUE_NAME = "sesmon-ses-events"
DLQ_NAME = "sesmon-ses-events-dlq"
DESTINATION_NAME = "sesmon-sns"
ACCOUNT = "123456789012"  # moto's account for plain credentials
REGION = "us-east-1"
# Every event type SES can publish: sesmon counts them all, and routes are checked per type.
EVENT_TYPES = SES_EVENT_TYPES
# SQS's default retention, and sesmon's default dedup TTL.
RETENTION_SECONDS = 4 * 86400.0


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
    for name in CONFIGURATION_SETS:
        sesv2.create_configuration_set(
            ConfigurationSetName=name,
            ReputationOptions={"ReputationMetricsEnabled": True},
            SendingOptions={"SendingEnabled": True},
            SuppressionOptions={"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            Tags=[{"Key": "stream", "Value": name}],
        )
    # Raw delivery off: bodies arrive as SNS envelopes, the shape most SES setups produce.
    events = EventsConfig(
        via="sns",
        topic_name=TOPIC_NAME,
        raw_delivery=False,
        dlq_name=DLQ_NAME,
        destination_name=DESTINATION_NAME,
        create_configuration_sets=False,
    )
    wiring = build(
        target="demo",
        region=REGION,
        account=ACCOUNT,
        queue_name=QUEUE_NAME,
        events=events,
        configuration_sets=CONFIGURATION_SETS,
        dedup_ttl=RETENTION_SECONDS,
    )
    clients: dict[str, Any] = {"sesv2": sesv2, "sns": sns, "sqs": sqs}
    outcome = Provisioner(wiring, clients.__getitem__, apply=True).run()
    return Provisioned(
        domain=DOMAIN,
        configuration_sets=CONFIGURATION_SETS,
        topic_arn=wiring.topic_arn,
        queue_url=outcome.queue_url,
        queue_arn=wiring.queue_arn,
        dlq_url=outcome.dlq_url,
        dlq_arn=wiring.dlq_arn,
        subscription_arn=outcome.subscription_arn,
    )
