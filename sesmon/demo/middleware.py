"""WSGI middleware around moto's server: the SES v2 calls moto lacks or gets wrong, and simulated outages.

SES v2 is a REST-JSON API. moto (5.x) has no GetAccount, no configuration-set event destinations
(Create/Get/Update/Delete), no PutConfigurationSetReputationOptions, no
PutEmailIdentityMailFromAttributes and none of the sending switches (PutConfigurationSetSendingOptions,
PutAccountSendingAttributes), and it publishes no configuration-set events for what SendEmail
sends; it reports every SES v2 identity
as not verified for sending, omits Easy DKIM tokens, and garbles a configuration set's SendingOptions.
This middleware answers those calls the way SES does, from the demo's provisioned state (configuration
sets and identities are looked up in moto itself, so the two never disagree), and passes every other
request to moto untouched. The daemon talks to it like to AWS: it has no special cases for the demo.

Past 400 lines on purpose: every SES v2 answer moto lacks is small and reads the same moto
state, and keeping them together shows in one place everything the demo fills in.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

# Requests carrying this in their User-Agent are the demo's own (SES itself, the simulator); an
# outage spares them, because in the story it is the monitoring path to AWS that fails, not SES.
DEMO_AGENT_MARK = "sesmon-demo-internal"

_ACCOUNT = re.compile(r"^/v2/email/account$")
_CONFIG_SET = re.compile(r"^/v2/email/configuration-sets/(?P<name>[^/]+)$")
_DESTINATIONS = re.compile(r"^/v2/email/configuration-sets/(?P<name>[^/]+)/event-destinations$")
_DESTINATION = re.compile(
    r"^/v2/email/configuration-sets/(?P<name>[^/]+)/event-destinations/(?P<dest>[^/]+)$"
)
_REPUTATION = re.compile(r"^/v2/email/configuration-sets/(?P<name>[^/]+)/reputation-options$")
_OUTBOUND = re.compile(r"^/v2/email/outbound-emails$")
_SENDING = re.compile(r"^/v2/email/configuration-sets/(?P<name>[^/]+)/sending$")
_ACCOUNT_SENDING = re.compile(r"^/v2/email/account/sending$")
_IDENTITY = re.compile(r"^/v2/email/identities/(?P<name>[^/]+)$")
_MAIL_FROM = re.compile(r"^/v2/email/identities/(?P<name>[^/]+)/mail-from$")
_SCOPE = re.compile(r"Credential=(?P<key>[^/]+)/\d{8}/(?P<region>[a-z0-9-]+)/")

_OUTAGE_PAGE = b"<html><body><h1>503 Service Unavailable</h1></body></html>"


@dataclass
class AccountState:
    """What GetAccount reports; the demo's scenario and simulator update it while it runs."""

    enforcement_status: str = "HEALTHY"
    sending_enabled: bool = True
    production_access_enabled: bool = True
    max_24_hour_send: float = 50000.0
    max_send_rate: float = 14.0
    sent_last_24_hours: Callable[[], float] = lambda: 0.0

    def get_account(self) -> dict[str, Any]:
        """The GetAccount response body, shaped as SES v2 returns it."""
        return {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": self.enforcement_status,
            "ProductionAccessEnabled": self.production_access_enabled,
            "SendingEnabled": self.sending_enabled,
            "SendQuota": {
                "Max24HourSend": self.max_24_hour_send,
                "MaxSendRate": self.max_send_rate,
                "SentLast24Hours": float(self.sent_last_24_hours()),
            },
            "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
            "Details": {
                "MailType": "MARKETING",
                "WebsiteURL": "https://www.example.com",
                "ContactLanguage": "EN",
                "UseCaseDescription": "Order notifications and a monthly newsletter to opted-in customers.",
                "AdditionalContactEmailAddresses": ["postmaster@example.com"],
                "ReviewDetails": {"Status": "GRANTED", "CaseId": "1234567890"},
            },
            "VdmAttributes": {
                "VdmEnabled": "DISABLED",
                "DashboardAttributes": {"EngagementMetrics": "DISABLED"},
                "GuardianAttributes": {"OptimizedSharedDelivery": "DISABLED"},
            },
        }


@dataclass
class _Store:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # (region, configuration set) → event destinations in SES v2's shape, in creation order
    destinations: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # (region, identity) → MailFromAttributes
    mail_from: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # (region, configuration set) → ReputationMetricsEnabled set after creation
    reputation: dict[tuple[str, str], bool] = field(default_factory=dict)


@dataclass
class _Reply:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def code(self) -> int:
        return int(self.status.split(" ", 1)[0])


class DemoAwsMiddleware:
    """moto's WSGI app with the SES v2 gaps filled; while ``outage()`` holds, it fails like AWS down."""

    def __init__(
        self,
        app: WSGIApplication,
        account: AccountState | None = None,
        outage: Callable[[], bool] = lambda: False,
    ) -> None:
        self.app = app
        self.account = account or AccountState()
        self.outage = outage
        self._store = _Store()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if (
            self.outage()
            and DEMO_AGENT_MARK not in environ.get("HTTP_USER_AGENT", "")
            and not path.startswith("/moto-api")
        ):
            # An empty or HTML body with a 5xx is what a failing load balancer returns; every botocore
            # protocol parses it as a generic, retryable ServiceUnavailable.
            start_response("503 Service Unavailable", [("Content-Type", "text/html"), ("Retry-After", "5")])
            return [_OUTAGE_PAGE]
        if not path.startswith("/v2/email/"):
            return self.app(environ, start_response)
        region = _region(environ)
        reply = self._sesv2(environ, method, path, region)
        if reply is None:
            return self.app(environ, start_response)
        start_response(reply.status, reply.headers)
        return [reply.body]

    # -- SES v2 ------------------------------------------------------------------------------------

    def _sesv2(self, environ: WSGIEnvironment, method: str, path: str, region: str) -> _Reply | None:
        if _ACCOUNT.match(path) and method == "GET":
            return _json(200, self.account.get_account())
        if _ACCOUNT_SENDING.match(path) and method == "PUT":
            self.account.sending_enabled = bool(_read_json(environ).get("SendingEnabled", False))
            return _json(200, {})
        if (match := _SENDING.match(path)) and method == "PUT":
            return self._put_sending(environ, region, unquote(match["name"]))
        if _OUTBOUND.match(path) and method == "POST":
            return self._send_email(environ, region)
        if match := _DESTINATIONS.match(path):
            name = unquote(match["name"])
            if method == "GET":
                return self._get_destinations(environ, region, name)
            if method == "POST":
                return self._create_destination(environ, region, name)
        if (match := _DESTINATION.match(path)) and method in ("PUT", "DELETE"):
            return self._change_destination(
                environ, method, region, unquote(match["name"]), unquote(match["dest"])
            )
        if (match := _REPUTATION.match(path)) and method == "PUT":
            return self._put_reputation(environ, region, unquote(match["name"]))
        if (match := _CONFIG_SET.match(path)) and method == "GET":
            return self._get_configuration_set(environ, region, unquote(match["name"]))
        if (match := _CONFIG_SET.match(path)) and method == "DELETE":
            reply = self._forward(environ)
            if reply.code == 200:
                with self._store.lock:
                    self._store.destinations.pop((region, unquote(match["name"])), None)
                    self._store.reputation.pop((region, unquote(match["name"])), None)
            return reply
        if (match := _MAIL_FROM.match(path)) and method == "PUT":
            return self._put_mail_from(environ, region, unquote(match["name"]))
        if (match := _IDENTITY.match(path)) and method == "GET":
            return self._get_identity(environ, region, unquote(match["name"]))
        return None

    def _configuration_set_exists(self, environ: WSGIEnvironment, name: str) -> bool:
        probe = _sub_environ(environ, "GET", f"/v2/email/configuration-sets/{quote(name, safe='')}")
        return self._forward(probe).code == 200

    def _get_destinations(self, environ: WSGIEnvironment, region: str, name: str) -> _Reply:
        if not self._configuration_set_exists(environ, name):
            return _not_found(f"Configuration set <{name}> does not exist.")
        with self._store.lock:
            found = [dict(d) for d in self._store.destinations.get((region, name), [])]
        return _json(200, {"EventDestinations": found})

    def _create_destination(self, environ: WSGIEnvironment, region: str, name: str) -> _Reply:
        body = _read_json(environ)
        dest_name = body.get("EventDestinationName")
        spec = body.get("EventDestination")
        if not isinstance(dest_name, str) or not isinstance(spec, dict):
            return _error(
                400, "BadRequestException", "EventDestinationName and EventDestination are required."
            )
        if not self._configuration_set_exists(environ, name):
            return _not_found(f"Configuration set <{name}> does not exist.")
        destination = {"Name": dest_name, "Enabled": bool(spec.get("Enabled", False))}
        destination["MatchingEventTypes"] = list(spec.get("MatchingEventTypes", []))
        for key in (
            "SnsDestination",
            "CloudWatchDestination",
            "KinesisFirehoseDestination",
            "EventBridgeDestination",
            "PinpointDestination",
        ):
            if key in spec:
                destination[key] = spec[key]
        with self._store.lock:
            existing = self._store.destinations.setdefault((region, name), [])
            if any(d["Name"] == dest_name for d in existing):
                return _error(400, "AlreadyExistsException", f"Event destination {dest_name} already exists.")
            existing.append(destination)
        return _json(200, {})

    def _change_destination(
        self, environ: WSGIEnvironment, method: str, region: str, name: str, dest_name: str
    ) -> _Reply:
        body = _read_json(environ) if method == "PUT" else {}
        with self._store.lock:
            existing = self._store.destinations.get((region, name), [])
            index = next((i for i, d in enumerate(existing) if d["Name"] == dest_name), None)
            if index is None:
                return _not_found(f"Event destination {dest_name} does not exist.")
            if method == "DELETE":
                existing.pop(index)
            else:
                spec = body.get("EventDestination", {})
                existing[index] = {"Name": dest_name, **{k: v for k, v in spec.items() if k != "Name"}}
        return _json(200, {})

    def _put_reputation(self, environ: WSGIEnvironment, region: str, name: str) -> _Reply:
        body = _read_json(environ)
        if not self._configuration_set_exists(environ, name):
            return _not_found(f"Configuration set <{name}> does not exist.")
        with self._store.lock:
            self._store.reputation[(region, name)] = bool(body.get("ReputationMetricsEnabled", False))
        return _json(200, {})

    def _get_configuration_set(self, environ: WSGIEnvironment, region: str, name: str) -> _Reply:
        reply = self._forward(environ)
        if reply.code != 200:
            return reply
        data = json.loads(reply.body)
        with self._store.lock:
            reputation = self._store.reputation.get((region, name))
        if reputation is not None:
            options = data.get("ReputationOptions") or {}
            data["ReputationOptions"] = {**options, "ReputationMetricsEnabled": reputation}
        # moto nests the request's SendingOptions object inside itself; SES answers a plain boolean,
        # and a set created without SendingOptions is enabled.
        sending = data.get("SendingOptions", {}).get("SendingEnabled", True)
        while isinstance(sending, dict):
            sending = sending.get("SendingEnabled", True)
        data["SendingOptions"] = {"SendingEnabled": bool(sending)}
        for key in ("TrackingOptions", "DeliveryOptions", "SuppressionOptions", "VdmOptions"):
            if not data.get(key):
                data.pop(key, None)  # SES omits unset option groups rather than returning {}
        return _json(200, data)

    def _put_sending(self, environ: WSGIEnvironment, region: str, name: str) -> _Reply:
        enabled = bool(_read_json(environ).get("SendingEnabled", False))
        if not self._configuration_set_exists(environ, name):
            return _not_found(f"Configuration set <{name}> does not exist.")
        # The flag is moto's own (the model GetConfigurationSet reads), so it flips in moto itself.
        from moto.iam.models import get_account_id_from  # noqa: PLC0415 - moto is the demo's AWS
        from moto.ses.models import ses_backends  # noqa: PLC0415

        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        account = get_account_id_from(scope["key"] if scope else "")
        ses_backends[account][region].config_sets[name].enabled = {"SendingEnabled": enabled}
        return _json(200, {})

    def _send_email(self, environ: WSGIEnvironment, region: str) -> _Reply | None:
        body = _read_json(environ)
        cs = body.get("ConfigurationSetName")
        to = list((body.get("Destination") or {}).get("ToAddresses") or [])
        if not isinstance(cs, str) or not to or not all(a.endswith("@simulator.amazonses.com") for a in to):
            return None  # moto's own SendEmail; only mailbox-simulator messages get events here
        if not self.sending_enabled(cs, region):
            return _error(400, "SendingPausedException", f"Sending is paused for configuration set {cs}.")
        environ["wsgi.input"] = io.BytesIO(json.dumps(body).encode())  # read above: hand moto a fresh copy
        reply = self._forward(environ)
        if reply.code != 200:
            return reply
        message_id = str(json.loads(reply.body)["MessageId"])
        source = str(body.get("FromEmailAddress", ""))
        self._publish_events(region, cs, message_id, source, to)
        return reply

    def _publish_events(self, region: str, cs: str, message_id: str, source: str, to: list[str]) -> None:
        # What SES does for a message through a set: publish its events to the set's destinations.
        from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: PLC0415 - moto is the demo's AWS
        from moto.sns.models import sns_backends  # noqa: PLC0415

        from sesmon.demo.ses_outbound import send_and_delivery  # noqa: PLC0415
        from sesmon.demo.traffic import SNS_SUBJECT  # noqa: PLC0415

        with self._store.lock:
            destinations = [dict(d) for d in self._store.destinations.get((region, cs), [])]
        records = send_and_delivery(
            message_id, cs, source, to, time.time(), account_id=DEFAULT_ACCOUNT_ID, region=region
        )
        for destination in destinations:
            topic = (destination.get("SnsDestination") or {}).get("TopicArn")
            if not destination.get("Enabled") or not topic:
                continue
            wanted = {str(t).upper() for t in destination.get("MatchingEventTypes", [])}
            for record in records:
                if str(record["eventType"]).upper() in wanted:
                    sns_backends[DEFAULT_ACCOUNT_ID][region].publish(
                        json.dumps(record), arn=topic, subject=SNS_SUBJECT
                    )

    def sending_enabled(self, name: str, region: str = "us-east-1") -> bool:
        """Whether configuration set ``name`` may send (the simulator asks before each message)."""
        from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: PLC0415
        from moto.ses.models import ses_backends  # noqa: PLC0415

        found = ses_backends[DEFAULT_ACCOUNT_ID][region].config_sets.get(name)
        sending = found.enabled if found is not None else True
        while isinstance(sending, dict):
            sending = sending.get("SendingEnabled", True)
        return bool(sending)

    def _put_mail_from(self, environ: WSGIEnvironment, region: str, identity: str) -> _Reply:
        body = _read_json(environ)
        probe = self._forward(
            _sub_environ(environ, "GET", f"/v2/email/identities/{quote(identity, safe='')}")
        )
        if probe.code != 200:
            return _not_found(f"Email identity {identity} does not exist.")
        domain = body.get("MailFromDomain")
        with self._store.lock:
            if domain:
                self._store.mail_from[(region, identity)] = {
                    "MailFromDomain": domain,
                    # SES verifies the MX record asynchronously; in the demo the DNS is already right.
                    "MailFromDomainStatus": "SUCCESS",
                    "BehaviorOnMxFailure": body.get("BehaviorOnMxFailure", "USE_DEFAULT_VALUE"),
                }
            else:
                self._store.mail_from.pop((region, identity), None)
        return _json(200, {})

    def _get_identity(self, environ: WSGIEnvironment, region: str, identity: str) -> _Reply:
        reply = self._forward(environ)
        if reply.code != 200:
            return reply
        data = json.loads(reply.body)
        # moto never marks an SES v2 identity verified for sending even when its verification succeeded.
        data["VerifiedForSendingStatus"] = data.get("VerificationStatus") == "SUCCESS"
        dkim = data.get("DkimAttributes") or {}
        if dkim.get("SigningEnabled") and dkim.get("SigningAttributesOrigin", "AWS_SES") == "AWS_SES":
            dkim.setdefault("Tokens", dkim_tokens(identity))
            dkim["CurrentSigningKeyLength"] = dkim.get("NextSigningKeyLength", "RSA_2048_BIT")
        stamp = dkim.get("LastKeyGenerationTimestamp")
        if isinstance(stamp, str):
            # REST-JSON timestamps are epoch seconds; moto writes a Python datetime's str().
            try:
                dkim["LastKeyGenerationTimestamp"] = datetime.fromisoformat(stamp).timestamp()
            except ValueError:
                del dkim["LastKeyGenerationTimestamp"]
        data["DkimAttributes"] = dkim
        with self._store.lock:
            mail_from = self._store.mail_from.get((region, identity))
        if mail_from is not None:
            data["MailFromAttributes"] = dict(mail_from)
        if not data.get("Tags"):
            data["Tags"] = []
        data.setdefault("Policies", {})
        return _json(200, data)

    def _forward(self, environ: WSGIEnvironment) -> _Reply:
        captured: dict[str, Any] = {}

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            del exc_info
            captured["status"], captured["headers"] = status, headers
            return lambda _chunk: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return _Reply(captured["status"], list(captured["headers"]), body)


def dkim_tokens(identity: str) -> list[str]:
    """Three stable Easy DKIM tokens for ``identity`` (SES publishes them as CNAMEs)."""
    return [hashlib.sha256(f"{identity}/{i}".encode()).hexdigest()[:32] for i in range(3)]


def _region(environ: WSGIEnvironment) -> str:
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match["region"] if match else "us-east-1"


def _sub_environ(environ: WSGIEnvironment, method: str, path: str) -> WSGIEnvironment:
    # Same headers (moto routes by the signed credential scope), no body.
    sub = dict(environ)
    sub.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        RAW_URI=path,  # moto routes by the raw request URI when the server provides one
        REQUEST_URI=path,
        QUERY_STRING="",
        CONTENT_LENGTH="0",
    )
    sub["wsgi.input"] = io.BytesIO(b"")
    sub.pop("CONTENT_TYPE", None)
    return sub


def _read_json(environ: WSGIEnvironment) -> dict[str, Any]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json(code: int, payload: dict[str, Any], extra: list[tuple[str, str]] | None = None) -> _Reply:
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found"}
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", str(uuid.uuid4())),
        *(extra or []),
    ]
    return _Reply(f"{code} {reasons.get(code, 'Error')}", headers, json.dumps(payload).encode())


def _error(code: int, error_type: str, message: str) -> _Reply:
    # REST-JSON errors name their type in x-amzn-ErrorType; botocore reads the code from there.
    return _json(code, {"message": message}, [("x-amzn-ErrorType", error_type)])


def _not_found(message: str) -> _Reply:
    return _error(404, "NotFoundException", message)
