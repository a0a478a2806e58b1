"""`sesmon setup` and `sesmon doctor` against moto's server: build the path, count events, break it.

moto (5.x) lacks a few SES v2 calls (GetAccount, configuration-set event destinations): the demo's
middleware (sesmon/demo/middleware.py) answers exactly those in front of moto's server, and every
other call reaches moto unchanged. moto enforces no IAM permissions, so the missing-permission case
stubs one AccessDenied answer on the doctor's client (see ``deny``).
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from sesmon import cli
from sesmon.batch import Message
from sesmon.config import Config
from sesmon.demo.moto_server import EmbeddedAws
from sesmon.doctor import Doctor, Report
from sesmon.ingest import TargetIngest
from sesmon.provisioning import Provisioner
from sesmon.sources.aws import ApiCallCounter, AwsClients, Service
from sesmon.state.sqlite import SqliteState
from sesmon.wiring import wiring_for
from tests.embedded_aws import fresh_embedded_aws
from tests.sesgen import SesEventGenerator

ACCOUNT = "123456789012"  # moto's account for plain credentials
SETS = ("transactional", "marketing")


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with fresh_embedded_aws() as server:
        yield server


def make_config(aws: EmbeddedAws, tmp_path: Path, via: str = "sns") -> Config:
    return Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "endpoint_url": aws.endpoint_url,
                    "sqs": {"queue_url": f"{aws.endpoint_url}/{ACCOUNT}/sesmon-events"},
                    "configuration_sets": list(SETS),
                    "events": {"via": via},
                }
            ],
            "dns": {"enabled": False},
            "state": {"path": str(tmp_path / "state.db")},
        }
    )


def clients_of(config: Config) -> AwsClients:
    return AwsClients(config.targets[0], ApiCallCounter())


def setup(config: Config, *, apply: bool = True) -> Any:
    clients = clients_of(config)
    return Provisioner(wiring_for(config.targets[0], config), clients.client, apply=apply).run()


def doctor(config: Config, clients: AwsClients | None = None) -> Report:
    target = config.targets[0]
    # No pacing: moto has no rate limit (the CLI tests below keep SES's one call a second).
    return Doctor(target, config, clients or clients_of(config), pace=lambda: None).run()


def failing(report: Report) -> dict[str, tuple[str, str]]:
    return {c.check: (c.detail, c.fix) for c in report.checks if not c.ok}


def test_setup_plans_builds_the_whole_path_and_then_has_nothing_to_do(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    config = make_config(aws, tmp_path)
    plan = setup(config, apply=False)
    assert plan.changes == len(plan.steps)  # nothing exists yet
    sqs, sns, sesv2 = aws.sqs(), aws.sns(), aws.sesv2()
    assert sqs.list_queues().get("QueueUrls", []) == []  # the plan changed nothing

    applied = setup(config)
    assert applied.changes == plan.changes
    wiring = wiring_for(config.targets[0], config)
    attributes = sqs.get_queue_attributes(QueueUrl=applied.queue_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == wiring.dlq_arn
    assert json.loads(attributes["Policy"]) == wiring.queue_policy()
    assert int(attributes["MessageRetentionPeriod"]) == int(config.state.dedup_ttl)
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=wiring.topic_arn)["Subscriptions"]
    assert [s["Endpoint"] for s in subscriptions] == [wiring.queue_arn]
    for name in SETS:
        info = sesv2.get_configuration_set(ConfigurationSetName=name)
        assert info["ReputationOptions"]["ReputationMetricsEnabled"] is True
        (destination,) = sesv2.get_configuration_set_event_destinations(ConfigurationSetName=name)[
            "EventDestinations"
        ]
        assert destination["SnsDestination"]["TopicArn"] == wiring.topic_arn
        assert set(destination["MatchingEventTypes"]) == set(wiring.event_types)

    again = setup(config)
    assert again.changes == 0
    assert {s.action for s in again.steps} == {"unchanged"}


def test_cli_setup_says_when_there_is_nothing_to_change(
    aws: EmbeddedAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sesmon.yaml"
    config = make_config(aws, tmp_path)
    path.write_text(json.dumps(config.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    assert cli.main(["setup", "--config", str(path), "--apply"]) == 0
    assert "Applied" in capsys.readouterr().out
    assert cli.main(["setup", "--config", str(path), "--apply"]) == 0
    assert "Nothing to change" in capsys.readouterr().out
    assert cli.main(["doctor", "--config", str(path)]) == 0
    assert "✗" not in capsys.readouterr().out


def test_events_published_to_the_topic_arrive_and_are_counted(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path)
    outcome = setup(config)
    wiring = wiring_for(config.targets[0], config)
    gen = SesEventGenerator(seed=3, simulator_share=0.0)
    events = [gen.event("Send", "transactional") for _ in range(5)] + [gen.event("Bounce", "marketing")]
    sns = aws.sns()
    for event in events:
        # What SES publishes to the topic: the record itself; SNS wraps it on the way to the queue.
        record = json.loads(json.loads(event.body)["Message"])
        sns.publish(TopicArn=wiring.topic_arn, Message=json.dumps(record))
    store = SqliteState(config.state.path)
    try:
        ingest = TargetIngest(config.targets[0], config, store)
        ingest.restore(gen.start + 3600)
        sqs = aws.sqs()
        received: list[Message] = []
        for _ in range(30):  # SNS → SQS delivery is asynchronous in moto too: wait for every message
            if len(received) >= len(events):
                break
            page = sqs.receive_message(QueueUrl=outcome.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            received += [Message(m["MessageId"], m["Body"]) for m in page.get("Messages", [])]
        assert len(received) == len(events)
        ingest.process(received, gen.start + 3600)
        counters = ingest.counters()
    finally:
        store.close()
    assert counters[("events", "transactional", "send")] == 5
    assert counters[("events", "marketing", "bounce")] == 1


def test_doctor_passes_on_what_setup_built(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path)
    setup(config)
    report = doctor(config)
    assert failing(report) == {}
    checks = {c.check: c.detail for c in report.checks}
    assert "caller arn:aws:" in checks["credentials"]
    assert "environment variables" in checks["credentials"]  # the suite's fake credentials
    assert "raw delivery off" in checks["sns subscription"]
    assert "BOUNCE" in checks["configuration set marketing events"]
    assert checks["permission ses:GetAccount"] == "allowed"


def test_doctor_names_a_missing_subscription(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path)
    outcome = setup(config)
    aws.sns().unsubscribe(SubscriptionArn=outcome.subscription_arn)
    bad = failing(doctor(config))
    detail, fix = bad["sns subscription"]
    assert "has no subscription to queue sesmon-events" in detail
    assert "subscribe the queue to the topic" in fix
    assert "configuration set marketing events" in bad


def test_doctor_names_a_policy_that_denies_sns(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path)
    outcome = setup(config)
    wiring = wiring_for(config.targets[0], config)
    policy = wiring.queue_policy()
    policy["Statement"].append(
        {
            "Sid": "NoSns",
            "Effect": "Deny",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:*",
            "Resource": wiring.queue_arn,
        }
    )
    aws.sqs().set_queue_attributes(QueueUrl=outcome.queue_url, Attributes={"Policy": json.dumps(policy)})
    bad = failing(doctor(config))
    detail, fix = bad["queue policy"]
    assert detail.startswith("does not let SNS topic")
    assert "allow sqs:SendMessage to sns.amazonaws.com" in fix


def test_doctor_names_a_destination_without_bounces(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path)
    setup(config)
    wiring = wiring_for(config.targets[0], config)
    spec = wiring.event_destination()
    spec["MatchingEventTypes"] = [t for t in spec["MatchingEventTypes"] if t != "BOUNCE"]
    aws.sesv2().update_configuration_set_event_destination(
        ConfigurationSetName="marketing",
        EventDestinationName=wiring.destination_name,
        EventDestination=cast("Any", spec),
    )
    bad = failing(doctor(config))
    assert list(bad) == ["configuration set marketing events"]
    detail, fix = bad["configuration set marketing events"]
    assert detail.startswith("BOUNCE never reaches the queue")
    assert fix.startswith("publish BOUNCE to a destination")


def test_doctor_names_a_missing_dead_letter_queue(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path)
    outcome = setup(config)
    aws.sqs().set_queue_attributes(QueueUrl=outcome.queue_url, Attributes={"RedrivePolicy": ""})
    bad = failing(doctor(config))
    detail, fix = bad["dead-letter queue"]
    assert detail.startswith("no redrive policy")
    assert "add a DLQ and a redrive policy" in fix


def deny(clients: AwsClients, service: Service, operation: str) -> None:
    """Answer one operation with AWS's AccessDenied: moto grants everything, AWS would not."""
    body = json.dumps({"__type": "AccessDeniedException", "message": "not authorized"}).encode()

    class _Raw:
        def stream(self, **_kwargs: Any) -> Iterator[bytes]:
            yield body

    def answer(request: Any, **_kwargs: Any) -> AWSResponse:
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = "AccessDeniedException"
        return AWSResponse(request.url, 403, headers, _Raw())

    clients.client(service).meta.events.register(
        f"before-send.{service}.{operation}",
        answer,  # type: ignore[arg-type]  # the stubs say None; a before-send hook may answer
    )


def test_doctor_names_a_missing_permission(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path)
    setup(config)
    clients = clients_of(config)
    deny(clients, "sesv2", "GetAccount")
    bad = failing(doctor(config, clients))
    detail, fix = bad["permission ses:GetAccount"]
    assert detail.startswith("denied: AccessDeniedException")
    assert fix == "add ses:GetAccount to sesmon's policy: sesmon iam-policy --config CONFIG"
    # The SES account section could not be read either, and says why.
    assert "could not be checked" in bad["account"][0]


def test_eventbridge_path_passes_and_a_wrong_pattern_is_named(aws: EmbeddedAws, tmp_path: Path) -> None:
    config = make_config(aws, tmp_path, via="eventbridge")
    setup(config)
    assert setup(config).changes == 0
    assert failing(doctor(config)) == {}
    wiring = wiring_for(config.targets[0], config)
    aws_events = AwsClients(config.targets[0], ApiCallCounter()).client("events")
    aws_events.put_rule(
        Name=wiring.rule_name,
        EventBusName=wiring.event_bus,
        EventPattern=json.dumps({"source": ["aws.sns"]}),
        State="ENABLED",
    )
    bad = failing(doctor(config))
    detail, fix = bad["eventbridge rule"]
    assert "pattern matches no SES email event" in detail
    assert "match source aws.ses" in fix
    route_detail, _ = bad["configuration set transactional route"]
    assert "pattern matches no SES email event" in route_detail


@pytest.mark.parametrize("via", ["sns", "eventbridge"])
def test_cloudformation_output_passes_cfn_lint(via: str, tmp_path: Path) -> None:
    config = Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/sesmon-events"},
                    "configuration_sets": list(SETS),
                    "events": {"via": via},
                }
            ]
        }
    )
    out = io.StringIO()
    from sesmon.connect import run_setup  # noqa: PLC0415

    args = cli.build_parser().parse_args(["setup", "--format", "cloudformation"])
    assert run_setup(config, args, out=out) == 0
    path = tmp_path / "template.json"
    path.write_text(out.getvalue())
    template = json.loads(out.getvalue())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {"AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::SES::ConfigurationSetEventDestination"} <= kinds
    result = subprocess.run(
        # The dev extra installs cfn-lint next to this interpreter.
        [str(Path(sys.executable).parent / "cfn-lint"), "--regions", "us-east-1", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_setup_turns_on_reputation_metrics_of_an_existing_set_and_doctor_names_it(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    config = make_config(aws, tmp_path)
    aws.sesv2().create_configuration_set(
        ConfigurationSetName="marketing", ReputationOptions={"ReputationMetricsEnabled": False}
    )
    plan = setup(config, apply=False)
    assert [
        s.detail for s in plan.steps if s.resource == "ses configuration set marketing reputation metrics"
    ] == ["turn on"]
    setup(config)
    aws.sesv2().put_configuration_set_reputation_options(
        ConfigurationSetName="transactional", ReputationMetricsEnabled=False
    )
    bad = failing(doctor(config))
    assert list(bad) == ["configuration set transactional reputation metrics"]
    assert (
        "put-configuration-set-reputation-options"
        in bad["configuration set transactional reputation metrics"][1]
    )
    again = setup(config)
    assert [s.resource for s in again.steps if s.action != "unchanged"] == [
        "ses configuration set transactional reputation metrics"
    ]
    assert failing(doctor(config)) == {}


def test_doctor_json_lists_every_check_and_exits_1_on_a_failure(
    aws: EmbeddedAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sesmon.yaml"
    config = make_config(aws, tmp_path)
    path.write_text(json.dumps(config.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    assert cli.main(["doctor", "--config", str(path), "--output", "json"]) == 1  # nothing set up yet
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    (target,) = report["targets"]
    by_check = {c["check"]: c for c in target["checks"]}
    assert by_check["credentials"]["ok"] is True
    assert by_check["queue"]["ok"] is False
    assert by_check["queue"]["fix"] == "create it: sesmon setup --config CONFIG --apply"


@pytest.mark.parametrize("broken", ["", "no-dmarc", "no-answer"])
def test_doctor_passes_on_the_demo_account_and_checks_dns(
    aws: EmbeddedAws, tmp_path: Path, broken: str
) -> None:
    from sesmon.demo import provision as demo  # noqa: PLC0415
    from sesmon.demo.dns_server import DemoDns, ses_zone  # noqa: PLC0415

    demo.provision(aws.sesv2(), aws.sns(), aws.sqs())
    zone = ses_zone(demo.DOMAIN, demo.MAIL_FROM_DOMAIN, "us-east-1")
    if broken == "no-dmarc":
        zone = {key: value for key, value in zone.items() if not key[0].startswith("_dmarc.")}
    dns = DemoDns(zone).start()
    # A port nothing listens on (bound, then released): no answer comes from there.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        silent = f"127.0.0.1:{probe.getsockname()[1]}"
    nameserver = silent if broken == "no-answer" else dns.address
    try:
        config = Config.model_validate(
            {
                "targets": [
                    {
                        "name": "demo",
                        "region": "us-east-1",
                        "endpoint_url": aws.endpoint_url,
                        "sqs": {"queue_url": f"{aws.endpoint_url}/{ACCOUNT}/{demo.QUEUE_NAME}"},
                        "configuration_sets": list(demo.CONFIGURATION_SETS),
                        "events": {
                            "topic_name": demo.TOPIC_NAME,
                            "dlq_name": demo.DLQ_NAME,
                            "destination_name": demo.DESTINATION_NAME,
                        },
                    }
                ],
                "dns": {"nameservers": [nameserver], "timeout": "1s"},
                "state": {"path": str(tmp_path / "state.db")},
            }
        )
        report = doctor(config)
    finally:
        dns.stop()
    # The demo wires itself through setup's code, so doctor finds its path complete.
    dns_checks = {c.check: c.ok for c in report.checks if c.check.startswith("dns ")}
    assert f"dns dmarc {demo.DOMAIN}" in dns_checks
    if broken == "no-dmarc":
        assert list(failing(report)) == [f"dns dmarc {demo.DOMAIN}"]
    elif broken == "no-answer":
        bad = failing(report)
        assert set(bad) == set(dns_checks)
        assert all(fix.startswith("DNS gave no answer") for _, fix in bad.values())
    else:
        assert failing(report) == {}
    assert setup(config).changes == 0


def test_setup_stops_with_one_line_when_a_set_is_missing_and_may_not_be_created(
    aws: EmbeddedAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(aws, tmp_path)
    data = config.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["targets"][0]["events"] = {"create_configuration_sets": False}
    path = tmp_path / "sesmon.yaml"
    path.write_text(json.dumps(data))
    assert cli.main(["setup", "--config", str(path), "--apply"]) == 1
    captured = capsys.readouterr()
    assert "create    sqs queue sesmon-events" in captured.out  # what was done before it stopped
    assert captured.out.endswith("Stopped: the steps above were applied, the rest not.\n")
    assert captured.err == (
        "sesmon setup: target prod: configuration set transactional does not exist; create it or set "
        "targets.prod.events.create_configuration_sets: true\n"
    )


def test_events_sent_through_eventbridge_arrive_and_count_once_with_the_same_by_sns(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    config = make_config(aws, tmp_path, via="eventbridge")
    outcome = setup(config)
    gen = SesEventGenerator(seed=5, simulator_share=0.0)
    event = gen.event("Bounce", "marketing")
    record = json.loads(json.loads(event.body)["Message"])
    # What SES puts on the bus: an "Email Bounced" event whose detail is the record.
    clients = clients_of(config)
    clients.client("events").put_events(
        Entries=[
            {
                "Source": "aws.ses",
                "DetailType": "Email Bounced",
                "Detail": json.dumps(record),
                "Resources": [f"arn:aws:ses:us-east-1:{ACCOUNT}:configuration-set/marketing"],
                "EventBusName": "default",
            }
        ]
    )
    sqs = aws.sqs()
    bodies: list[str] = []
    for _ in range(30):
        if bodies:
            break
        page = sqs.receive_message(QueueUrl=outcome.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies += [m["Body"] for m in page.get("Messages", [])]
    assert len(bodies) == 1
    assert json.loads(bodies[0])["detail-type"] == "Email Bounced"
    store = SqliteState(config.state.path)
    try:
        ingest = TargetIngest(config.targets[0], config, store)
        ingest.restore(gen.start + 3600)
        # The same bounce also arriving SNS-wrapped (a second route) counts once.
        ingest.process([Message("eb", bodies[0]), Message("sns", event.body)], gen.start + 3600)
        counters = ingest.counters()
    finally:
        store.close()
    assert counters[("events", "marketing", "bounce")] == 1
    assert counters[("sqs", "duplicate")] == 1


def test_setup_names_a_denied_permission_and_the_policy_that_grants_it(
    aws: EmbeddedAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(aws, tmp_path)
    path = tmp_path / "sesmon.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json", by_alias=True, exclude_defaults=True)))
    built = AwsClients.__init__

    def denying(self: AwsClients, *args: Any, **kwargs: Any) -> None:
        built(self, *args, **kwargs)
        deny(self, "sesv2", "GetConfigurationSet")

    monkeypatch.setattr(AwsClients, "__init__", denying)
    assert cli.main(["setup", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    # The SQS and SNS steps before the refusal were planned, and say so.
    assert "create    sqs queue sesmon-events" in captured.out
    assert captured.out.endswith("Stopped: the steps above were planned, the rest not.\n")
    assert captured.err == (
        "sesmon setup: target prod: AWS denied ses:GetConfigurationSet: AccessDeniedException: "
        "not authorized; grant ses:GetConfigurationSet: sesmon iam-policy --setup --config CONFIG "
        "prints the policy\n"
    )
