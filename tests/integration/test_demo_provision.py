"""The demo's embedded AWS: provisioning through the real APIs, SNS→SQS delivery, CloudWatch, outages."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from sesmon.demo.middleware import AccountState
from sesmon.demo.moto_server import REGION, EmbeddedAws
from sesmon.demo.provision import CONFIGURATION_SETS, DOMAIN, EVENT_TYPES, Provisioned, provision
from sesmon.demo.simulator import DEFAULT_HISTORY, reputation, reputation_datums
from sesmon.demo.traffic import SNS_SUBJECT, Rates, Tally, demo_profiles, plan_message
from sesmon.events import parse_message
from sesmon.model import EventType, SesEvent


class Switch:
    def __init__(self) -> None:
        self.on = False

    def __call__(self) -> bool:
        return self.on


@pytest.fixture(scope="module")
def outage() -> Switch:
    return Switch()


@pytest.fixture(scope="module")
def aws(outage: Switch) -> Iterator[EmbeddedAws]:
    server = EmbeddedAws(account=AccountState(sent_last_24_hours=lambda: 42), outage=outage).start()
    # moto's backends are per process; start from a clean slate whatever ran before.
    httpx.post(f"{server.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    yield server
    httpx.post(f"{server.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()
    server.stop()


@pytest.fixture(scope="module")
def provisioned(aws: EmbeddedAws) -> Provisioned:
    return provision(aws.sesv2(), aws.sns(), aws.sqs())


def _client(aws: EmbeddedAws, service: str) -> object:
    # A plain client, like the daemon's: no demo marker in its User-Agent.
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=aws.endpoint_url,
        region_name=REGION,
        config=BotoConfig(retries={"mode": "standard", "max_attempts": 1}),
    )


def test_identity_is_verified_with_dkim_and_mail_from(aws: EmbeddedAws, provisioned: Provisioned) -> None:
    sesv2 = aws.sesv2()
    assert [i["IdentityName"] for i in sesv2.list_email_identities()["EmailIdentities"]] == [DOMAIN]
    identity = sesv2.get_email_identity(EmailIdentity=provisioned.domain)
    assert identity["VerifiedForSendingStatus"] is True
    assert identity["DkimAttributes"]["Status"] == "SUCCESS"
    assert len(identity["DkimAttributes"]["Tokens"]) == 3
    assert identity["MailFromAttributes"]["MailFromDomainStatus"] == "SUCCESS"


def test_configuration_sets_have_reputation_metrics_and_sns_destinations(
    aws: EmbeddedAws, provisioned: Provisioned
) -> None:
    sesv2 = aws.sesv2()
    assert sorted(sesv2.list_configuration_sets()["ConfigurationSets"]) == sorted(CONFIGURATION_SETS)
    for name in CONFIGURATION_SETS:
        details = sesv2.get_configuration_set(ConfigurationSetName=name)
        assert details["ReputationOptions"]["ReputationMetricsEnabled"] is True
        assert details["SendingOptions"]["SendingEnabled"] is True
        [destination] = sesv2.get_configuration_set_event_destinations(ConfigurationSetName=name)[
            "EventDestinations"
        ]
        assert destination["Enabled"] is True
        assert set(destination["MatchingEventTypes"]) == set(EVENT_TYPES)
        assert destination["SnsDestination"]["TopicArn"] == provisioned.topic_arn


def test_get_account_reports_health_and_quota(aws: EmbeddedAws, provisioned: Provisioned) -> None:
    account = aws.sesv2().get_account()
    assert account["EnforcementStatus"] == "HEALTHY"
    assert account["ProductionAccessEnabled"] is True
    assert account["SendQuota"]["SentLast24Hours"] == 42.0
    assert provisioned.domain == DOMAIN


def test_queue_has_a_dlq_redrive_and_a_policy_for_the_topic(
    aws: EmbeddedAws, provisioned: Provisioned
) -> None:
    attributes = aws.sqs().get_queue_attributes(QueueUrl=provisioned.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == provisioned.dlq_arn
    assert int(redrive["maxReceiveCount"]) == 5
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == provisioned.topic_arn
    subscription = aws.sns().get_subscription_attributes(SubscriptionArn=provisioned.subscription_arn)
    assert subscription["Attributes"]["RawMessageDelivery"] == "false"
    assert subscription["Attributes"]["Endpoint"] == provisioned.queue_arn


def test_published_events_arrive_in_sqs_as_sns_envelopes_sesmon_parses(
    aws: EmbeddedAws, provisioned: Provisioned
) -> None:
    marketing = demo_profiles()[1]
    events = plan_message(random.Random(4), marketing, Rates(hard_bounce=1.0), time.time())
    aws.sns().publish_batch(
        TopicArn=provisioned.topic_arn,
        PublishBatchRequestEntries=[
            {"Id": str(i), "Message": json.dumps(e.record), "Subject": SNS_SUBJECT}
            for i, e in enumerate(events)
        ],
    )
    bodies: list[str] = []
    deadline = time.monotonic() + 10
    while len(bodies) < len(events) and time.monotonic() < deadline:
        received = aws.sqs().receive_message(
            QueueUrl=provisioned.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        bodies.extend(m["Body"] for m in received.get("Messages", []))
    assert len(bodies) == len(events)
    envelope = json.loads(bodies[0])
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == provisioned.topic_arn
    parsed = [parse_message(b) for b in bodies]
    assert all(isinstance(p, SesEvent) and p.configuration_set == "marketing" for p in parsed)
    kinds = {p.event_type for p in parsed if isinstance(p, SesEvent)}
    assert kinds == {EventType.SEND, EventType.BOUNCE}


def test_cloudwatch_account_series_is_not_mixed_with_set_series(aws: EmbeddedAws) -> None:
    tally = Tally(sent={"marketing": 1000}, bounced={"marketing": 80}, complained={"marketing": 0})
    now = time.time()
    aws.cloudwatch().put_metric_data(
        Namespace="AWS/SES",
        MetricData=reputation_datums(tally, DEFAULT_HISTORY, list(CONFIGURATION_SETS), now),
    )
    queries = [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SES",
                    "MetricName": "Reputation.BounceRate",
                    "Dimensions": [{"Name": "ses:configuration-set", "Value": name}] if name else [],
                },
                "Period": 300,
                "Stat": "Average",
            },
        }
        for i, name in enumerate((None, "marketing"))
    ]
    # A plain client, as the daemon uses: the exact-dimension fix applies to every caller of this server.
    cloudwatch = _client(aws, "cloudwatch")
    results = cloudwatch.get_metric_data(  # type: ignore[attr-defined]
        MetricDataQueries=queries,
        StartTime=datetime.now(tz=UTC) - timedelta(minutes=10),
        EndTime=datetime.now(tz=UTC) + timedelta(minutes=5),
    )["MetricDataResults"]
    values = {r["Id"]: r["Values"][0] for r in results}
    assert values["q0"] == pytest.approx(reputation(tally, DEFAULT_HISTORY, None)[0])
    assert values["q1"] == pytest.approx(reputation(tally, DEFAULT_HISTORY, "marketing")[0])
    assert values["q0"] != values["q1"]


def test_outage_fails_plain_clients_only(aws: EmbeddedAws, provisioned: Provisioned, outage: Switch) -> None:
    plain = _client(aws, "sesv2")
    outage.on = True
    try:
        with pytest.raises(ClientError) as error:
            plain.get_account()  # type: ignore[attr-defined]
        assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert aws.sesv2().get_account()["SendingEnabled"] is True
        aws.sns().publish(TopicArn=provisioned.topic_arn, Message="{}")
    finally:
        outage.on = False
    assert plain.get_account()["SendingEnabled"] is True  # type: ignore[attr-defined]
