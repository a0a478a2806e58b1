"""SES identities on moto: paging, pacing, metrics, signals, status page, DNS plans and IAM actions."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError

from sesmon import iam, statuspage
from sesmon.config import Config
from sesmon.config_loader import parse_config
from sesmon.daemon import Daemon
from sesmon.dnsauth import DomainPlan
from sesmon.identity_health import IdentityHealthComponent
from sesmon.metrics import build_registry
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.sources.identities import IdentitiesSource, OperationPacer
from sesmon.targets import TargetDirectory
from tests.unit.test_iam import policy_actions

REGION = "eu-west-1"
BASE = {"target": "prod", "account_id": "123456789012", "region": REGION}
IDENTITIES = ("example.com", "pending.example", "failing.example", "sender@example.com", "odd.example")

# What moto cannot give: it reports every identity as unverified with DKIM NOT_STARTED, no tokens and
# no MAIL FROM attributes, and every identity as sending-enabled. These after-call hooks overwrite
# only those fields in moto's real responses; everything else (paging, errors) is moto's own.
DETAILS: dict[str, dict[str, Any]] = {
    "example.com": {
        "VerifiedForSendingStatus": True,
        "VerificationStatus": "SUCCESS",
        "DkimAttributes": {"SigningEnabled": True, "Status": "SUCCESS", "Tokens": ["t1", "t2", "t3"]},
        "MailFromAttributes": {
            "MailFromDomain": "bounce.example.com",
            "MailFromDomainStatus": "SUCCESS",
            "BehaviorOnMxFailure": "USE_DEFAULT_VALUE",
        },
    },
    "pending.example": {
        "VerifiedForSendingStatus": False,
        "VerificationStatus": "PENDING",
        "DkimAttributes": {"SigningEnabled": True, "Status": "PENDING", "Tokens": ["p1"]},
    },
    "failing.example": {
        "VerifiedForSendingStatus": True,
        "VerificationStatus": "SUCCESS",
        "DkimAttributes": {"SigningEnabled": True, "Status": "TEMPORARY_FAILURE", "Tokens": ["f1"]},
        "MailFromAttributes": {
            "MailFromDomain": "mail.failing.example",
            "MailFromDomainStatus": "FAILED",
            "BehaviorOnMxFailure": "REJECT_MESSAGE",
        },
    },
    "sender@example.com": {
        "VerifiedForSendingStatus": True,
        "VerificationStatus": "SUCCESS",
        "DkimAttributes": {"SigningEnabled": True, "Status": "SUCCESS"},
    },
    "odd.example": {
        "VerifiedForSendingStatus": True,
        "VerificationStatus": "SUCCESS",
        "DkimAttributes": {"SigningEnabled": False, "Status": "A_STATUS_SES_ADDS_LATER"},
    },
}
SENDING_DISABLED = {"failing.example"}
GHOST = "ghost.example"  # listed, then gone before GetEmailIdentity (moto answers NotFoundException)


class FakeClock:
    """Monotonic time that only the pacer's sleeps advance."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _install_moto_gaps(client: Any, calls: list[tuple[str, float]], clock: FakeClock) -> None:
    def before_get(params: dict[str, Any], context: dict[str, Any], **_kwargs: Any) -> None:
        calls.append((params["EmailIdentity"], clock.now))
        context["test_identity"] = params["EmailIdentity"]

    def after_get(parsed: dict[str, Any], context: dict[str, Any], **_kwargs: Any) -> None:
        parsed.update(DETAILS.get(context["test_identity"], {}))

    def after_list(parsed: dict[str, Any], **_kwargs: Any) -> None:
        for entry in parsed.get("EmailIdentities", []):
            if entry["IdentityName"] in SENDING_DISABLED:
                entry["SendingEnabled"] = False
        if "NextToken" not in parsed:
            parsed["EmailIdentities"].append(
                {"IdentityName": GHOST, "IdentityType": "DOMAIN", "SendingEnabled": True}
            )

    client.meta.events.register("before-parameter-build.sesv2.GetEmailIdentity", before_get)
    client.meta.events.register("after-call.sesv2.GetEmailIdentity", after_get)
    client.meta.events.register("after-call.sesv2.ListEmailIdentities", after_list)


def _config(endpoint: str, extra: str = "") -> Config:
    return parse_config(
        f"""
targets:
  - name: prod
    region: {REGION}
    role_arn: arn:aws:iam::123456789012:role/sesmon
    endpoint_url: '{endpoint}'
    {extra}
""",
        {},
    )


@pytest.fixture
def seeded(moto_server: Any) -> str:
    sesv2 = boto3.client("sesv2", region_name=REGION, endpoint_url=moto_server.endpoint_url)
    for name in IDENTITIES:
        sesv2.create_email_identity(EmailIdentity=name)
    return str(moto_server.endpoint_url)


def _clients(config: Config, clock: FakeClock, calls: list[tuple[str, float]]) -> AwsClients:
    # The role ARN only names the account for the labels; moto needs no role.
    clients = AwsClients(config.targets[0].model_copy(update={"role_arn": None}), ApiCallCounter())
    _install_moto_gaps(clients.client("sesv2"), calls, clock)
    return clients


def _component(
    config: Config,
) -> tuple[IdentityHealthComponent, AwsClients, FakeClock, list[tuple[str, float]]]:
    clock = FakeClock()
    calls: list[tuple[str, float]] = []
    clients = _clients(config, clock, calls)
    component = IdentityHealthComponent(
        config,
        {"prod": clients},
        TargetDirectory(config.targets),
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    return component, clients, clock, calls


def test_identities_are_listed_page_by_page_and_read_at_most_once_a_second(seeded: str) -> None:
    clock = FakeClock()
    calls: list[tuple[str, float]] = []
    clients = _clients(_config(seeded), clock, calls)
    pacer = OperationPacer(monotonic=clock.monotonic, sleep=clock.sleep)
    # Small pages, so moto's paging is exercised with a handful of identities.
    source = IdentitiesSource(lambda: clients.client("sesv2"), pacer, page_size=2)

    identities = source.poll()

    assert [i.name for i in identities] == sorted(IDENTITIES)  # the ghost vanished between list and get
    counts = clients.counter.snapshot()
    assert counts[("sesv2", "ListEmailIdentities")] == 3  # 5 identities, pages of 2
    assert counts[("sesv2", "GetEmailIdentity")] == len(IDENTITIES) + 1
    # Each operation is spaced at least a second apart (on the injected clock; nothing really sleeps).
    times = [t for _name, t in calls]
    assert len(times) == len(IDENTITIES) + 1
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    assert sum(clock.sleeps) >= len(IDENTITIES)


def test_identity_metrics_are_state_sets(seeded: str) -> None:
    component, _clients, _clock, _calls = _component(_config(seeded))
    component.poll_identities("prod")
    registry = build_registry(component.collectors())

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {**BASE, **labels})

    assert value("sesmon_identity_verified", identity="example.com", identity_type="domain") == 1.0
    assert value("sesmon_identity_verified", identity="pending.example", identity_type="domain") == 0.0
    assert (
        value("sesmon_identity_verified", identity="sender@example.com", identity_type="email_address") == 1.0
    )
    assert value("sesmon_identity_sending_enabled", identity="failing.example", identity_type="domain") == 0.0
    assert value("sesmon_identity_sending_enabled", identity="example.com", identity_type="domain") == 1.0

    dkim = {
        status: value("sesmon_identity_dkim_status", identity="failing.example", status=status)
        for status in ("SUCCESS", "PENDING", "FAILED", "TEMPORARY_FAILURE", "NOT_STARTED", "unknown")
    }
    assert dkim == {
        "SUCCESS": 0.0,
        "PENDING": 0.0,
        "FAILED": 0.0,
        "TEMPORARY_FAILURE": 1.0,
        "NOT_STARTED": 0.0,
        "unknown": 0.0,
    }
    assert value("sesmon_identity_dkim_status", identity="odd.example", status="unknown") == 1.0
    assert value("sesmon_identity_dkim_status", identity="pending.example", status="PENDING") == 1.0

    assert value("sesmon_identity_mail_from_status", identity="failing.example", status="FAILED") == 1.0
    assert value("sesmon_identity_mail_from_status", identity="failing.example", status="SUCCESS") == 0.0
    assert value("sesmon_identity_mail_from_status", identity="example.com", status="SUCCESS") == 1.0
    # No custom MAIL FROM domain, no series.
    assert value("sesmon_identity_mail_from_status", identity="pending.example", status="SUCCESS") is None


def test_signals_status_page_and_dns_plans(seeded: str) -> None:
    component, _clients, _clock, _calls = _component(_config(seeded))
    assert component.dns_plans("prod") is None  # nothing known before the first poll
    component.poll_identities("prod")

    unverified = {
        o.label("identity"): (o.value, o.detail) for o in component.observe("identity_unverified", None, 0)
    }
    assert unverified["pending.example"] == (1.0, "status=PENDING")
    assert unverified["example.com"] == (0.0, "status=SUCCESS")
    dkim = {
        o.label("identity"): (o.value, o.detail) for o in component.observe("dkim_not_successful", None, 0)
    }
    assert dkim["failing.example"] == (1.0, "status=TEMPORARY_FAILURE")
    assert dkim["sender@example.com"] == (0.0, "status=SUCCESS")
    assert all(o.label("target") == "prod" for o in component.observe("identity_unverified", None, 0))
    assert component.provided_signals() == {
        "identity_unverified",
        "dkim_not_successful",
        "dns_check_failed",
        "event_type_not_routed",
    }

    # Only verified domain identities (and their MAIL FROM domains) are checked in DNS.
    plans = component.dns_plans("prod")
    assert plans == [
        DomainPlan("bounce.example.com", spf=True, spf_requires_ses=True, mail_from_mx=True),
        DomainPlan("example.com", spf=True, dmarc=True, dkim=True, dkim_tokens=("t1", "t2", "t3")),
        DomainPlan("failing.example", spf=True, dmarc=True, dkim=True, dkim_tokens=("f1",)),
        DomainPlan("mail.failing.example", spf=True, spf_requires_ses=True, mail_from_mx=True),
        DomainPlan("odd.example", spf=True, dmarc=True, dkim=True),
    ]

    status = component.status()
    assert status is not None
    (prod,) = status.targets
    assert prod.identities is not None
    pending = next(i for i in prod.identities if i.name == "pending.example")
    assert (pending.verified, pending.verification_status, pending.ok) == (False, "PENDING", False)
    assert prod.routing is not None
    assert (prod.routing.sets_checked, prod.routing.gaps) == (0, ())
    page = statuspage.render_section(status)
    assert "<td>pending.example</td><td>domain</td><td>no (PENDING)</td><td>PENDING</td>" in page
    assert "<td>sender@example.com</td>" in page
    assert "mail.failing.example (FAILED)" in page
    assert "Event routing: every checked event type of 0 sets is routed." in page


def test_a_failed_listing_keeps_the_previous_identities(seeded: str) -> None:
    component, clients, _clock, _calls = _component(_config(seeded))
    component.poll_identities("prod")
    before = component.views()[0].identities
    assert before is not None

    # A network failure moto cannot produce on demand: the listing call fails before it is sent.
    def unreachable(**_kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://email.eu-west-1.amazonaws.com")

    clients.client("sesv2").meta.events.register("before-call.sesv2.ListEmailIdentities", unreachable)
    with pytest.raises(EndpointConnectionError):
        component.poll_identities("prod")
    assert component.views()[0].identities == before


def test_iam_policy_grants_exactly_the_identity_calls(seeded: str) -> None:
    config = _config(seeded)
    component, clients, _clock, _calls = _component(config)
    component.poll_identities("prod")
    expected = iam.operations_for(config.targets[0])
    assert set(clients.counter.snapshot()) <= expected
    actions = policy_actions(iam.build_policy(config))
    assert {
        "ses:ListEmailIdentities",
        "ses:GetEmailIdentity",
        "ses:ListConfigurationSets",
        "ses:GetConfigurationSetEventDestinations",
    } <= actions
    disabled = _config(
        seeded,
        extra="identities: {enabled: false}\n    cloudwatch: {enabled: false}\n    account: {enabled: false}",
    )
    assert "ses:GetEmailIdentity" not in policy_actions(iam.build_policy(disabled))
    assert "ses:GetConfigurationSetEventDestinations" not in policy_actions(iam.build_policy(disabled))


def test_daemon_builds_the_component_only_when_enabled(seeded: str, tmp_path: Path) -> None:
    def names(extra: str) -> list[str]:
        config = parse_config(
            f"""
targets:
  - {{name: prod, region: {REGION}, endpoint_url: '{seeded}', identities: {{enabled: {extra}}}}}
dns: {{enabled: true}}
state: {{path: '{tmp_path / "state.db"}'}}
server: {{listen: '127.0.0.1:0'}}
""",
            {},
        )
        daemon = Daemon(config)
        try:
            return [c.name for c in daemon.components]
        finally:
            daemon.store.close()

    assert "identities" in names("true")
    assert "identities" not in names("false")
