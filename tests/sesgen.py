"""Synthetic SES event-publishing messages as SQS bodies (SNS-wrapped), with what each should count.

Each generated event carries its expected labels and recipient counts, computed here from what the
generator chose (never by sesmon's own code), so tests can compare sesmon's counters to an
independent expectation. Payloads follow AWS's documented event-publishing examples.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
SIMULATOR = "simulator.amazonses.com"
RANDOM = "<random>"  # not a valid configuration-set name, so it can mean "pick one"

# Recipient domains and the provider group each belongs to under the default provider map.
DOMAINS: dict[str, str] = {
    "gmail.com": "gmail",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "yahoo.com": "yahoo",
    "icloud.com": "apple",
    "example.net": "other",
    "corp.example.org": "other",
}

# Event mix, roughly like real traffic: mostly sends and deliveries.
WEIGHTS: dict[str, int] = {
    "Send": 40,
    "Delivery": 30,
    "Bounce": 8,
    "Complaint": 3,
    "DeliveryDelay": 3,
    "Reject": 2,
    "Rendering Failure": 1,
    "Open": 8,
    "Click": 3,
    "Subscription": 2,
}
LABELS = {
    "Send": "send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "DeliveryDelay": "delivery_delay",
    "Reject": "reject",
    "Rendering Failure": "rendering_failure",
    "Open": "open",
    "Click": "click",
    "Subscription": "subscription",
}
RECIPIENT_SCOPED = {
    "send",
    "delivery",
    "bounce",
    "complaint",
    "delivery_delay",
    "reject",
    "rendering_failure",
}
BOUNCES = (
    ("Permanent", "General"),
    ("Permanent", "NoEmail"),
    ("Permanent", "OnAccountSuppressionList"),
    ("Transient", "MailboxFull"),
    ("Transient", "General"),
    ("Undetermined", "Undetermined"),
)
FEEDBACK = ("abuse", "not-spam", "fraud", None)
DELAYS = ("MailboxFull", "SpamDetected", "TransientCommunicationFailure", "InternalFailure")


def iso(timestamp: float) -> str:
    """SES's timestamp format: ``2026-10-05T14:02:03.000Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Generated:
    """One SQS body and what sesmon should make of it."""

    body: str
    event_type: str  # the event_type label value
    configuration_set: str | None
    recipients: tuple[str, ...]  # normalised addresses of the event's scope
    rate_recipients: int
    timestamp: float
    bounce: tuple[str, str] | None = None
    complaint: tuple[str, str] | None = None  # (feedback_type, complaint_subtype) label values
    delay_type: str | None = None


@dataclass
class SesEventGenerator:
    """Deterministic (seeded) generator of SNS-wrapped SES event-publishing bodies."""

    seed: int = 1
    configuration_sets: Sequence[str | None] = ("transactional", "marketing", None)
    start: float = 1_790_000_000.0
    spread: float = 1800.0  # event timestamps fall in [start, start + spread)
    simulator_share: float = 0.05
    # When set, events arrive in time order like a live stream: the n-th is stamped about
    # start + n * step (a few seconds of jitter) instead of anywhere in the spread.
    step: float | None = None
    rng: random.Random = field(init=False)
    count: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- helpers ---------------------------------------------------------------------------------

    def _address(self) -> str:
        if self.rng.random() < self.simulator_share:
            return f"{self.rng.choice(('success', 'bounce', 'complaint'))}@{SIMULATOR}"
        domain = self.rng.choice(list(DOMAINS))
        return f"user{self.rng.randrange(1_000_000)}@{domain}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _mail(self, at: float, destination: Sequence[str], cs: str | None) -> dict[str, Any]:
        message_id = f"0100019a{self.rng.getrandbits(32):08x}-{self._uuid()}-000000"
        tags: dict[str, list[str]] = {
            "ses:operation": ["SendEmail"],
            "ses:source-ip": ["203.0.113.10"],
            "ses:from-domain": ["mail.example.com"],
        }
        if cs is not None:
            tags["ses:configuration-set"] = [cs]
        # Some destinations carry a display name, as SES passes them through from the send call.
        shown = [f'"User" <{a.upper()}>' if self.rng.random() < 0.1 else a for a in destination]
        return {
            "timestamp": iso(at),
            "source": "Example Shop <no-reply@mail.example.com>",
            "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT_ID}:identity/mail.example.com",
            "sendingAccountId": ACCOUNT_ID,
            "messageId": message_id,
            "destination": shown,
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": "Example Shop <no-reply@mail.example.com>"},
                {"name": "To", "value": ", ".join(shown)},
                {"name": "Subject", "value": "Your order"},
            ],
            "commonHeaders": {
                "from": ["Example Shop <no-reply@mail.example.com>"],
                "to": shown,
                "messageId": message_id,
                "subject": "Your order",
            },
            "tags": tags,
        }

    def _wrap(self, record: dict[str, Any], at: float) -> str:
        envelope = {
            "Type": "Notification",
            "MessageId": self._uuid(),
            "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:ses-events",
            "Subject": "Amazon SES Email Event Notification",
            "Message": orjson.dumps(record).decode(),
            "Timestamp": iso(at + 0.4),
            "SignatureVersion": "1",
            "Signature": "EXAMPLE" + "a" * 80 + "==",
            "SigningCertURL": f"https://sns.{REGION}.amazonaws.com/SimpleNotificationService-0000.pem",
            "UnsubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
        }
        return orjson.dumps(envelope, option=orjson.OPT_INDENT_2).decode()

    # -- events ----------------------------------------------------------------------------------

    def event(self, name: str | None = None, configuration_set: str | None = RANDOM) -> Generated:
        """One event of type ``name`` (SES spelling; random by WEIGHTS when None) in
        ``configuration_set`` (one of ``configuration_sets`` at random by default)."""
        rng = self.rng
        if name is None:
            name = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        cs = rng.choice(list(self.configuration_sets)) if configuration_set == RANDOM else configuration_set
        # Whole milliseconds, as SES stamps them, so the expected time is exact.
        offset = (
            rng.random() * self.spread if self.step is None else self.count * self.step + rng.random() * 3
        )
        self.count += 1
        at = round(self.start + offset, 3)
        label = LABELS[name]
        destination = [self._address() for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 4))]
        mail = self._mail(at - 1.5, destination, cs)
        record: dict[str, Any] = {"eventType": name, "mail": mail}
        scope = [a.lower() for a in destination]
        rate = 0
        bounce = complaint = None
        delay = None
        if name == "Send":
            record["send"] = {}
            at = round(at - 1.5, 3)  # Send is stamped at mail time
            rate = sum(1 for a in scope if not a.endswith(SIMULATOR))
        elif name == "Reject":
            record["reject"] = {"reason": "Bad content"}
            at = round(at - 1.5, 3)
        elif name == "Rendering Failure":
            record["failure"] = {"errorMessage": "Attribute 'name' is not present", "templateName": "Welcome"}
            at = round(at - 1.5, 3)
        elif name == "Delivery":
            scope = scope[: rng.randint(1, len(scope))]
            record["delivery"] = {
                "timestamp": iso(at),
                "processingTimeMillis": 1379,
                "recipients": scope,
                "smtpResponse": "250 ok",
                "reportingMTA": "a8-70.smtp-out.amazonses.com",
            }
        elif name == "Bounce":
            scope = scope[: rng.randint(1, len(scope))]
            bounce = rng.choice(BOUNCES)
            record["bounce"] = {
                "feedbackId": f"0100019a{rng.getrandbits(32):08x}-{self._uuid()}-000000",
                "bounceType": bounce[0],
                "bounceSubType": bounce[1],
                "bouncedRecipients": [
                    {"emailAddress": a, "action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550"}
                    for a in scope
                ],
                "timestamp": iso(at),
                "reportingMTA": "dns; a48-112.smtp-out.amazonses.com",
            }
            if bounce[0] == "Permanent" and bounce[1] != "OnAccountSuppressionList":
                rate = sum(1 for a in scope if not a.endswith(SIMULATOR))
        elif name == "Complaint":
            scope = scope[:1]
            feedback = rng.choice(FEEDBACK)
            subtype = "OnAccountSuppressionList" if rng.random() < 0.1 else None
            own: dict[str, Any] = {
                "feedbackId": f"0100019a{rng.getrandbits(32):08x}-{self._uuid()}-000000",
                "complaintSubType": subtype,
                "complainedRecipients": [{"emailAddress": a} for a in scope],
                "timestamp": iso(at),
                "userAgent": "Yahoo!-Mail-Feedback/2.0",
                "arrivalDate": iso(at - 10),
            }
            if feedback is not None:
                own["complaintFeedbackType"] = feedback
            record["complaint"] = own
            complaint = (feedback or "none", subtype or "none")
            if feedback != "not-spam" and subtype is None:
                rate = sum(1 for a in scope if not a.endswith(SIMULATOR))
        elif name == "DeliveryDelay":
            delay = rng.choice(DELAYS)
            record["deliveryDelay"] = {
                "timestamp": iso(at),
                "delayType": delay,
                "expirationTime": iso(at + 86400),
                "delayedRecipients": [
                    {"emailAddress": a, "status": "4.2.2", "diagnosticCode": "smtp; 452"} for a in scope
                ],
            }
        elif name == "Open":
            record["open"] = {"ipAddress": "192.0.2.1", "timestamp": iso(at), "userAgent": "Mozilla/5.0"}
        elif name == "Click":
            record["click"] = {
                "ipAddress": "192.0.2.1",
                "timestamp": iso(at),
                "userAgent": "Mozilla/5.0",
                "link": "https://www.example.com/offers",
                "linkTags": {"campaign": ["autumn"]},
            }
        elif name == "Subscription":
            record["subscription"] = {
                "contactList": "Newsletter",
                "timestamp": iso(at),
                "source": "UnsubscribeHeader",
                "newTopicPreferences": {"unsubscribeAll": True},
                "oldTopicPreferences": {"unsubscribeAll": False},
            }
        return Generated(
            body=self._wrap(record, at),
            event_type=label,
            configuration_set=cs,
            recipients=tuple(scope),
            rate_recipients=rate,
            timestamp=at,
            bounce=bounce,
            complaint=complaint,
            delay_type=delay,
        )

    def malformed(self) -> tuple[str, str]:
        """A body sesmon must count as invalid, and the reason it should give."""
        kind = self.rng.randrange(5)
        if kind == 0:
            return f"<html><body>502 Bad Gateway {self.rng.randrange(10**6)}</body></html>", "not_json"
        if kind == 1:
            full = self.event().body
            return full[: len(full) // 2], "truncated"
        if kind == 2:
            return orjson.dumps([1, 2, 3]).decode(), "not_object"
        if kind == 3:
            record = {"eventType": "Quarantine", "mail": self._mail(self.start, ["a@example.net"], None)}
            return self._wrap(record, self.start), "unknown_event_type"
        record = {"eventType": "Bounce", "mail": self._mail(self.start, ["a@example.net"], None)}
        return self._wrap(record, self.start), "missing_recipients"


def expected_counters(events: Iterable[Generated]) -> dict[tuple[str, ...], int]:
    """The counters sesmon should report for ``events`` counted once each (default provider map, no
    configuration-set folding), keyed like ``sesmon.counting`` keys."""
    out: Counter[tuple[str, ...]] = Counter()
    for e in events:
        cs = e.configuration_set or "(none)"
        out["events", cs, e.event_type] += 1
        if e.event_type not in RECIPIENT_SCOPED:
            continue
        out["recipients", cs, e.event_type] += len(e.recipients)
        for address in e.recipients:
            out["providers", cs, DOMAINS.get(address.rpartition("@")[2], "other"), e.event_type] += 1
        if e.bounce is not None:
            out["bounces", cs, *e.bounce] += len(e.recipients)
        if e.complaint is not None:
            out["complaints", cs, *e.complaint] += len(e.recipients)
        if e.delay_type is not None:
            out["delays", cs, e.delay_type] += len(e.recipients)
    return dict(out)


def expected_rates(events: Iterable[Generated]) -> dict[str, dict[str, int]]:
    """Per configuration set: AWS-comparable ``sent``, ``bounced`` and ``complained`` recipients."""
    out: dict[str, dict[str, int]] = {}
    for e in events:
        cs = e.configuration_set or "(none)"
        row = out.setdefault(cs, {"sent": 0, "bounced": 0, "complained": 0})
        if e.event_type == "send":
            row["sent"] += e.rate_recipients
        elif e.event_type == "bounce":
            row["bounced"] += e.rate_recipients
        elif e.event_type == "complaint":
            row["complained"] += e.rate_recipients
    return out
