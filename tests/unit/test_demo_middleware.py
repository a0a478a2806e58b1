"""The demo middleware's SES v2 answers, parsed by botocore against the real SES v2 service model."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

import botocore.session
import pytest
from botocore.parsers import create_parser

from sesmon.demo.middleware import DEMO_AGENT_MARK, AccountState, DemoAwsMiddleware, dkim_tokens

AUTH = "AWS4-HMAC-SHA256 Credential=demo/20261127/eu-west-1/ses/aws4_request, SignedHeaders=host, Signature=x"
MODEL = botocore.session.get_session().get_service_model("sesv2")


class FakeMoto:
    """Stands in for moto: one configuration set, one identity, and it records what reached it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        self.seen.append((method, path))
        if path == "/v2/email/configuration-sets/marketing" and method in ("GET", "DELETE"):
            body: dict[str, Any] = {
                "ConfigurationSetName": "marketing",
                "TrackingOptions": {},
                "ReputationOptions": {"ReputationMetricsEnabled": True},
                "SendingOptions": {"SendingEnabled": {"SendingEnabled": True}},
                "Tags": [],
            }
            return _reply(start_response, "200 OK", body if method == "GET" else {})
        if path == "/v2/email/identities/mail.example.com" and method == "GET":
            return _reply(
                start_response,
                "200 OK",
                {
                    "IdentityType": "DOMAIN",
                    "VerifiedForSendingStatus": False,
                    "VerificationStatus": "SUCCESS",
                    "DkimAttributes": {
                        "SigningEnabled": True,
                        "Status": "SUCCESS",
                        "SigningAttributesOrigin": "AWS_SES",
                        "NextSigningKeyLength": "RSA_2048_BIT",
                        "LastKeyGenerationTimestamp": "2026-11-27 22:42:30.143000+00:00",
                    },
                    "Policies": {},
                },
            )
        return _reply(start_response, "404 NOT FOUND", {"__type": "NotFoundException", "message": path})


def _reply(start_response: Any, status: str, body: dict[str, Any]) -> list[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def call(
    app: DemoAwsMiddleware,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    agent: str = "Boto3/1.40",
    region: str = "eu-west-1",
) -> tuple[int, dict[str, str], bytes]:
    raw = json.dumps(body).encode() if body is not None else b""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_AUTHORIZATION": AUTH.replace("eu-west-1", region),
        "HTTP_USER_AGENT": agent,
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    setup_testing_defaults(environ)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return None

    chunks = b"".join(app(environ, start_response))
    return int(captured["status"].split()[0]), dict(captured["headers"]), chunks


def parse(operation: str, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What boto3 would hand the caller for this HTTP response."""
    shape = MODEL.operation_model(operation).output_shape
    assert shape is not None
    parsed: dict[str, Any] = create_parser("rest-json").parse(
        {"status_code": status, "headers": headers, "body": body}, shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


@pytest.fixture
def moto() -> FakeMoto:
    return FakeMoto()


@pytest.fixture
def app(moto: FakeMoto) -> DemoAwsMiddleware:
    return DemoAwsMiddleware(
        moto, AccountState(enforcement_status="PROBATION", sent_last_24_hours=lambda: 1234)
    )


def test_get_account_answers_from_the_demo_state(app: DemoAwsMiddleware, moto: FakeMoto) -> None:
    parsed = parse("GetAccount", *call(app, "GET", "/v2/email/account"))
    assert parsed["EnforcementStatus"] == "PROBATION"
    assert parsed["ProductionAccessEnabled"] is True
    assert parsed["SendingEnabled"] is True
    assert parsed["SendQuota"] == {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 1234.0}
    assert parsed["Details"]["ReviewDetails"]["Status"] == "GRANTED"
    assert moto.seen == []  # moto has no GetAccount: never asked


def test_event_destinations_round_trip(app: DemoAwsMiddleware) -> None:
    path = "/v2/email/configuration-sets/marketing/event-destinations"
    spec = {
        "Enabled": True,
        "MatchingEventTypes": ["SEND", "BOUNCE", "COMPLAINT"],
        "SnsDestination": {"TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses"},
    }
    status, _, _ = call(app, "POST", path, {"EventDestinationName": "to-sns", "EventDestination": spec})
    assert status == 200
    parsed = parse("GetConfigurationSetEventDestinations", *call(app, "GET", path))
    assert parsed["EventDestinations"] == [{"Name": "to-sns", **spec}]

    again = call(app, "POST", path, {"EventDestinationName": "to-sns", "EventDestination": spec})
    assert again[0] == 400
    assert again[1]["x-amzn-ErrorType"] == "AlreadyExistsException"

    status, _, _ = call(app, "DELETE", f"{path}/to-sns")
    assert status == 200
    assert parse("GetConfigurationSetEventDestinations", *call(app, "GET", path))["EventDestinations"] == []


def test_event_destinations_of_an_unknown_set_are_not_found(app: DemoAwsMiddleware) -> None:
    status, headers, body = call(app, "GET", "/v2/email/configuration-sets/nope/event-destinations")
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "NotFoundException"
    assert b"nope" in body


def test_destinations_are_kept_per_region(app: DemoAwsMiddleware) -> None:
    path = "/v2/email/configuration-sets/marketing/event-destinations"
    spec = {"Enabled": True, "MatchingEventTypes": ["SEND"], "SnsDestination": {"TopicArn": "arn:x"}}
    call(app, "POST", path, {"EventDestinationName": "d", "EventDestination": spec})
    assert json.loads(call(app, "GET", path)[2])["EventDestinations"]
    assert json.loads(call(app, "GET", path, region="us-west-2")[2])["EventDestinations"] == []


def test_configuration_set_sending_options_become_a_boolean(app: DemoAwsMiddleware) -> None:
    parsed = parse("GetConfigurationSet", *call(app, "GET", "/v2/email/configuration-sets/marketing"))
    assert parsed["SendingOptions"] == {"SendingEnabled": True}
    assert parsed["ReputationOptions"]["ReputationMetricsEnabled"] is True
    assert "TrackingOptions" not in parsed


def test_identity_is_verified_with_dkim_tokens_and_mail_from(app: DemoAwsMiddleware) -> None:
    body = {"MailFromDomain": "bounce.mail.example.com", "BehaviorOnMxFailure": "USE_DEFAULT_VALUE"}
    assert call(app, "PUT", "/v2/email/identities/mail.example.com/mail-from", body)[0] == 200
    parsed = parse("GetEmailIdentity", *call(app, "GET", "/v2/email/identities/mail.example.com"))
    assert parsed["VerifiedForSendingStatus"] is True
    assert parsed["DkimAttributes"]["Tokens"] == dkim_tokens("mail.example.com")
    assert parsed["DkimAttributes"]["CurrentSigningKeyLength"] == "RSA_2048_BIT"
    assert parsed["DkimAttributes"]["LastKeyGenerationTimestamp"].year == 2026
    assert parsed["MailFromAttributes"] == {
        "MailFromDomain": "bounce.mail.example.com",
        "MailFromDomainStatus": "SUCCESS",
        "BehaviorOnMxFailure": "USE_DEFAULT_VALUE",
    }


def test_unknown_identity_errors_pass_through(app: DemoAwsMiddleware) -> None:
    status, _, _ = call(app, "GET", "/v2/email/identities/other.example.com")
    assert status == 404
    assert (
        call(app, "PUT", "/v2/email/identities/other.example.com/mail-from", {"MailFromDomain": "x"})[0]
        == 404
    )


def test_everything_else_goes_to_moto(app: DemoAwsMiddleware, moto: FakeMoto) -> None:
    call(app, "POST", "/v2/email/list-configuration-sets", {})
    call(app, "POST", "/", {})
    assert ("POST", "/v2/email/list-configuration-sets") in moto.seen
    assert ("POST", "/") in moto.seen


def test_outage_fails_the_monitor_but_not_the_demo_itself(moto: FakeMoto) -> None:
    down = {"now": True}
    app = DemoAwsMiddleware(moto, outage=lambda: down["now"])
    status, headers, body = call(app, "GET", "/v2/email/account")
    assert status == 503
    assert body.startswith(b"<html>")  # botocore treats an HTML 5xx as a generic, retryable error
    assert headers["Retry-After"]
    status, _, _ = call(app, "GET", "/v2/email/account", agent=f"Boto3/1.40 {DEMO_AGENT_MARK}")
    assert status == 200
    down["now"] = False
    assert call(app, "GET", "/v2/email/account")[0] == 200
