"""Simulated SES sending (pure): event-publishing records shaped exactly as SES emits them, from an RNG.

One module on purpose, although it passes 400 lines: each SES record shape (send, delivery, bounce,
complaint, delay, engagement, feedback notification) is a short builder, and they share the mail
object, the RNG and the recipient plan that are defined here.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sesmon.events.addresses import SIMULATOR_DOMAIN, is_simulator

SNS_SUBJECT = "Amazon SES Email Event Notification"
SOURCE_IP = "203.0.113.10"
OUTGOING_IPS = ("54.240.8.21", "54.240.8.22", "54.240.8.57", "23.251.226.4")

# Recipient domains weighted roughly like a consumer list: mostly the big mailbox providers.
RECIPIENT_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.34),
    ("outlook.com", 0.08),
    ("hotmail.com", 0.07),
    ("live.com", 0.02),
    ("yahoo.com", 0.09),
    ("aol.com", 0.02),
    ("icloud.com", 0.07),
    ("me.com", 0.02),
    ("proton.me", 0.03),
    ("gmx.de", 0.03),
    ("comcast.net", 0.02),
    ("orange.fr", 0.02),
    ("northwind-traders.com", 0.07),
    ("contoso.org", 0.06),
    ("fabrikam.io", 0.06),
)
_FIRST = ("alex", "sam", "maria", "li", "noah", "emma", "omar", "julia", "ken", "priya", "lucas", "zoe")
_LAST = ("smith", "garcia", "chen", "muller", "rossi", "kowalski", "okafor", "tanaka", "silva", "nguyen")
_USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 "
    "Mobile Safari/537.36",
)
_FBL_AGENTS = ("Yahoo!-Mail-Feedback/2.0", "Hotmail FBL", "AOL SComp", "ReturnPathFBL")


@dataclass(frozen=True, slots=True)
class Rates:
    """Outcome probabilities: per recipient unless noted."""

    hard_bounce: float = 0.005  # Permanent General/NoEmail
    suppressed: float = 0.001  # Permanent OnAccountSuppressionList (AWS excludes it from the rate)
    soft_bounce: float = 0.004  # Transient (mailbox full, general, content rejected)
    delay: float = 0.005  # a DeliveryDelay before the delivery succeeds
    complaint: float = 0.0001  # of delivered recipients, feedback type abuse/fraud/other
    not_spam: float = 0.0  # of delivered recipients, feedback type not-spam (excluded by AWS)
    open: float = 0.25  # of delivered recipients
    click: float = 0.2  # of opens
    reject: float = 0.0005  # per message (virus detected)
    rendering_failure: float = 0.0  # per message (templated sends only)
    simulator: float = 0.0  # per message: sent to the SES mailbox simulator instead


@dataclass(frozen=True, slots=True)
class SetProfile:
    """How one configuration set sends: volume, sender, subjects and its healthy outcome rates."""

    name: str
    messages_per_second: float
    sender: str
    subjects: tuple[str, ...]
    operation: str  # ses:operation tag value
    rates: Rates
    max_recipients: int = 1
    template: str | None = None
    campaign: str | None = None


def demo_profiles(scale: float = 1.0) -> tuple[SetProfile, ...]:
    """The demo's two configuration sets; ``scale`` multiplies their volume."""
    return (
        SetProfile(
            name="transactional",
            messages_per_second=6.0 * scale,
            sender="Example Shop <no-reply@mail.example.com>",
            subjects=("Your order has shipped", "Reset your password", "Your receipt", "Confirm your email"),
            operation="SendEmail",
            max_recipients=2,
            template="OrderUpdate",
            rates=Rates(
                hard_bounce=0.003,
                suppressed=0.001,
                soft_bounce=0.002,
                delay=0.004,
                complaint=0.0,
                open=0.45,
                click=0.3,
                reject=0.0003,
                rendering_failure=0.002,
                simulator=0.01,
            ),
        ),
        SetProfile(
            name="marketing",
            messages_per_second=12.0 * scale,
            sender="Example News <news@mail.example.com>",
            subjects=("October newsletter", "Autumn sale: 20% off", "New arrivals this week"),
            operation="SendBulkEmail",
            campaign="autumn-2026",
            rates=Rates(
                hard_bounce=0.006,
                suppressed=0.002,
                soft_bounce=0.006,
                delay=0.008,
                complaint=0.0001,
                not_spam=0.0001,
                open=0.22,
                click=0.12,
                reject=0.0005,
            ),
        ),
    )


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """One SES event-publishing record due at ``due`` (epoch seconds), plus what it adds to AWS's rates."""

    due: float
    configuration_set: str
    record: dict[str, Any]
    rate_sent: int = 0  # recipients AWS counts as sent (simulator excluded)
    rate_bounced: int = 0  # hard bounces AWS counts
    rate_complained: int = 0  # complaints AWS counts

    @property
    def event_type(self) -> str:
        """The record's SES ``eventType``."""
        return str(self.record["eventType"])


def iso(timestamp: float) -> str:
    """SES's timestamp format: ISO 8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def ses_id(rng: random.Random, timestamp: float) -> str:
    """An SES message or feedback id: millisecond time in hex, a UUID, a sequence suffix."""
    return f"0100{int(timestamp * 1000):012x}-{uuid.UUID(int=rng.getrandbits(128), version=4)}-000000"


def recipient(rng: random.Random) -> str:
    """A plausible recipient address on a weighted mix of mailbox providers."""
    domains = [d for d, _ in RECIPIENT_DOMAINS]
    weights = [w for _, w in RECIPIENT_DOMAINS]
    domain = rng.choices(domains, weights)[0]
    local = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randrange(1, 999)}"
    return f"{local}@{domain}"


@dataclass
class _Message:
    profile: SetProfile
    sent_at: float
    message_id: str
    destination: list[str]
    subject: str
    account_id: str
    region: str

    def mail(
        self, *, with_source_arn: bool = True, extra_tags: Mapping[str, list[str]] | None = None
    ) -> dict[str, Any]:
        sender = self.profile.sender
        tags: dict[str, list[str]] = {
            "ses:source-tls-version": ["TLSv1.3"],
            "ses:operation": [self.profile.operation],
            "ses:configuration-set": [self.profile.name],
            "ses:source-ip": [SOURCE_IP],
            "ses:from-domain": ["mail.example.com"],
            "ses:caller-identity": ["sesmon-demo-sender"],
        }
        if self.profile.campaign:
            tags["campaign"] = [self.profile.campaign]
        tags.update(extra_tags or {})
        mail: dict[str, Any] = {
            "timestamp": iso(self.sent_at),
            "source": sender,
            "sourceArn": f"arn:aws:ses:{self.region}:{self.account_id}:identity/mail.example.com",
            "sendingAccountId": self.account_id,
            "messageId": self.message_id,
            "destination": list(self.destination),
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": sender},
                {"name": "To", "value": ", ".join(self.destination)},
                {"name": "Subject", "value": self.subject},
                {"name": "MIME-Version", "value": "1.0"},
                {"name": "Content-Type", "value": 'multipart/alternative; boundary="----=_Part_1_0.1"'},
            ],
            "commonHeaders": {
                "from": [sender],
                "to": list(self.destination),
                "messageId": self.message_id,
                "subject": self.subject,
            },
            "tags": tags,
        }
        if not with_source_arn:
            # Open and Click records omit sourceArn, as SES sends them.
            del mail["sourceArn"]
        return mail


def plan_message(
    rng: random.Random,
    profile: SetProfile,
    rates: Rates,
    sent_at: float,
    *,
    account_id: str = "123456789012",
    region: str = "us-east-1",
) -> list[PlannedEvent]:
    """Every event SES would publish for one message sent at ``sent_at``, each with its due time."""
    if rng.random() < rates.simulator:
        # Teams check their pipeline with the mailbox simulator; AWS leaves these out of the rates.
        kind = rng.choice(("success", "success", "bounce", "complaint", "suppressionlist"))
        destination = [f"{kind}@{SIMULATOR_DOMAIN}"]
    else:
        count = (
            1
            if profile.max_recipients <= 1 or rng.random() < 0.85
            else rng.randint(2, profile.max_recipients)
        )
        destination = [recipient(rng) for _ in range(count)]
    message = _Message(
        profile=profile,
        sent_at=sent_at,
        message_id=ses_id(rng, sent_at),
        destination=destination,
        subject=rng.choice(profile.subjects),
        account_id=account_id,
        region=region,
    )
    counted = sum(1 for a in destination if not is_simulator(a))
    name = profile.name
    if rng.random() < rates.reject:
        reject = {"eventType": "Reject", "mail": message.mail(), "reject": {"reason": "Bad content"}}
        return [PlannedEvent(sent_at + 0.05, name, reject)]
    if profile.template and rng.random() < rates.rendering_failure:
        failure = {
            "eventType": "Rendering Failure",
            "mail": message.mail(),
            "failure": {
                "errorMessage": "Attribute 'firstName' is not present in the rendering data.",
                "templateName": profile.template,
            },
        }
        return [PlannedEvent(sent_at + 0.05, name, failure)]
    events = [
        PlannedEvent(
            sent_at, name, {"eventType": "Send", "mail": message.mail(), "send": {}}, rate_sent=counted
        )
    ]
    for address in destination:
        events.extend(_recipient_outcome(rng, message, rates, address))
    return events


def _recipient_outcome(
    rng: random.Random, message: _Message, rates: Rates, address: str
) -> list[PlannedEvent]:
    if is_simulator(address):
        kind = address.split("@", 1)[0]
        if kind == "bounce":
            return [_bounce(rng, message, address, "Permanent", "General", counts=False)]
        if kind == "suppressionlist":
            return [_bounce(rng, message, address, "Permanent", "OnAccountSuppressionList", counts=False)]
        delivered = _delivery(rng, message, address)
        if kind == "complaint":
            return [delivered, _complaint(rng, message, address, delivered.due, "abuse", counts=False)]
        return [delivered]
    draw = rng.random()
    if draw < rates.hard_bounce:
        return [_bounce(rng, message, address, "Permanent", rng.choice(("General", "General", "NoEmail")))]
    draw -= rates.hard_bounce
    if draw < rates.suppressed:
        return [_bounce(rng, message, address, "Permanent", "OnAccountSuppressionList", counts=False)]
    draw -= rates.suppressed
    if draw < rates.soft_bounce:
        subtype = rng.choice(("MailboxFull", "General", "ContentRejected"))
        return [_bounce(rng, message, address, "Transient", subtype, counts=False)]
    events: list[PlannedEvent] = []
    after = message.sent_at
    if rng.random() < rates.delay:
        delay = _delay(rng, message, address)
        events.append(delay)
        after = delay.due
    delivered = _delivery(rng, message, address, after)
    events.append(delivered)
    outcome = rng.random()
    if outcome < rates.complaint:
        feedback = rng.choice(("abuse", "abuse", "abuse", "fraud", "other"))
        events.append(_complaint(rng, message, address, delivered.due, feedback))
    elif outcome < rates.complaint + rates.not_spam:
        events.append(_complaint(rng, message, address, delivered.due, "not-spam", counts=False))
    if rng.random() < rates.open:
        opened = _engagement(rng, message, "Open", delivered.due + rng.uniform(1.5, 8.0))
        events.append(opened)
        if rng.random() < rates.click:
            events.append(_engagement(rng, message, "Click", opened.due + rng.uniform(0.5, 4.0)))
    return events


_BOUNCE_DSN: dict[str, tuple[str, str]] = {
    "General": ("5.1.1", "smtp; 550 5.1.1 Recipient address rejected: User unknown"),
    "NoEmail": ("5.1.2", "smtp; 550 5.1.2 Host unknown (Domain name not found)"),
    "OnAccountSuppressionList": (
        "5.1.1",
        "Amazon SES did not send the message to this address because it is on the suppression list "
        "for your account.",
    ),
    "MailboxFull": ("5.2.2", "smtp; 552 5.2.2 Mailbox full"),
    "ContentRejected": ("5.7.1", "smtp; 554 5.7.1 Message rejected due to content"),
}


def _bounce(
    rng: random.Random,
    message: _Message,
    address: str,
    bounce_type: str,
    subtype: str,
    *,
    counts: bool = True,
) -> PlannedEvent:
    at = message.sent_at + rng.uniform(0.5, 3.0)
    status, diagnostic = _BOUNCE_DSN.get(subtype, ("4.0.0", "smtp; 450 4.0.0 Temporary failure"))
    if bounce_type == "Transient" and subtype == "General":
        status, diagnostic = "4.4.7", "smtp; 451 4.4.7 Delivery expired"
    bounced = {"emailAddress": address, "action": "failed", "status": status, "diagnosticCode": diagnostic}
    bounce: dict[str, Any] = {
        "feedbackId": ses_id(rng, at),
        "bounceType": bounce_type,
        "bounceSubType": subtype,
        "bouncedRecipients": [bounced],
        "timestamp": iso(at),
    }
    if subtype == "OnAccountSuppressionList":
        # SES itself refuses these: no remote MTA was involved.
        bounce["reportingMTA"] = "dns; amazonses.com"
    else:
        bounce["reportingMTA"] = "dns; a48-112.smtp-out.amazonses.com"
        bounce["remoteMtaIp"] = f"198.51.100.{rng.randrange(2, 250)}"
    record = {"eventType": "Bounce", "bounce": bounce, "mail": message.mail()}
    return PlannedEvent(
        at, message.profile.name, record, rate_bounced=1 if counts and bounce_type == "Permanent" else 0
    )


def _delivery(
    rng: random.Random, message: _Message, address: str, after: float | None = None
) -> PlannedEvent:
    start = message.sent_at if after is None else after
    at = start + rng.uniform(0.3, 2.5)
    outgoing = rng.choice(OUTGOING_IPS)
    record = {
        "eventType": "Delivery",
        "mail": message.mail(
            extra_tags={"ses:outgoing-ip": [outgoing], "ses:outgoing-tls-version": ["TLSv1.3"]}
        ),
        "delivery": {
            "timestamp": iso(at),
            "processingTimeMillis": int((at - message.sent_at) * 1000),
            "recipients": [address],
            "smtpResponse": "250 2.0.0 OK",
            "reportingMTA": "a8-30.smtp-out.amazonses.com",
            "remoteMtaIp": f"198.51.100.{rng.randrange(2, 250)}",
        },
    }
    return PlannedEvent(at, message.profile.name, record)


def _delay(rng: random.Random, message: _Message, address: str) -> PlannedEvent:
    at = message.sent_at + rng.uniform(0.5, 2.0)
    delay_type, status, diagnostic = rng.choice(
        (
            ("TransientCommunicationFailure", "4.4.1", "smtp; 421 4.4.1 Connection timed out"),
            (
                "MailboxFull",
                "4.2.2",
                "smtp; 452 4.2.2 The email account that you tried to reach is over quota",
            ),
            ("SpamDetected", "4.7.0", "smtp; 421 4.7.0 Temporarily rate limited due to spam signals"),
        )
    )
    record = {
        "eventType": "DeliveryDelay",
        "mail": message.mail(),
        "deliveryDelay": {
            "timestamp": iso(at),
            "delayType": delay_type,
            "expirationTime": iso(message.sent_at + 12 * 3600),
            "delayedRecipients": [{"emailAddress": address, "status": status, "diagnosticCode": diagnostic}],
            "reportingMTA": f"198.51.100.{rng.randrange(2, 250)}",
        },
    }
    return PlannedEvent(at, message.profile.name, record)


def _complaint(
    rng: random.Random,
    message: _Message,
    address: str,
    after: float,
    feedback_type: str,
    *,
    counts: bool = True,
) -> PlannedEvent:
    at = after + rng.uniform(1.0, 5.0)
    record = {
        "eventType": "Complaint",
        "complaint": {
            "feedbackId": ses_id(rng, at),
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": iso(at),
            "userAgent": rng.choice(_FBL_AGENTS),
            "complaintFeedbackType": feedback_type,
            "arrivalDate": iso(at - 2.0),
        },
        "mail": message.mail(),
    }
    return PlannedEvent(at, message.profile.name, record, rate_complained=1 if counts else 0)


def _engagement(rng: random.Random, message: _Message, kind: str, at: float) -> PlannedEvent:
    detail: dict[str, Any] = {
        "ipAddress": f"192.0.2.{rng.randrange(2, 250)}",
        "timestamp": iso(at),
        "userAgent": rng.choice(_USER_AGENTS),
    }
    if kind == "Click":
        detail["link"] = "https://www.example.com/offers/autumn?utm_source=" + message.profile.name
        detail["linkTags"] = {"section": ["hero"]}
    record = {"eventType": kind, "mail": message.mail(with_source_arn=False), kind.lower(): detail}
    return PlannedEvent(at, message.profile.name, record)


RatesFor = Callable[[SetProfile, float], Rates]
"""Outcome rates of a configuration set ``elapsed`` seconds after traffic started (the scenario)."""


@dataclass
class Traffic:
    """Mail sent at each profile's steady rate; ``advance`` plans the events of mail sent until ``now``."""

    profiles: Sequence[SetProfile]
    rates_for: RatesFor
    started: float
    seed: int = 7
    account_id: str = "123456789012"
    region: str = "us-east-1"
    # Whether SES lets a configuration set send now (a paused set sends nothing, as in SES).
    sending: Callable[[str], bool] = lambda _name: True
    _last: float = field(init=False)
    _owed: dict[str, float] = field(init=False)
    _rngs: dict[str, random.Random] = field(init=False)

    def __post_init__(self) -> None:
        self._last = self.started
        self._owed = {p.name: 0.0 for p in self.profiles}
        # One generator per set: each set's sequence of outcomes depends on the seed alone, not on
        # how the wall clock happened to slice the run into ticks.
        # A simulation, not cryptography: a seeded, reproducible generator is the point.
        self._rngs = {p.name: random.Random(f"{self.seed}/{p.name}") for p in self.profiles}  # noqa: S311

    def restart(self, now: float) -> None:
        """Start the timeline (and the sending) at ``now``."""
        self.started = self._last = now

    def advance(self, now: float) -> list[PlannedEvent]:
        """Plan the messages due between the previous call and ``now``, evenly spaced."""
        if now <= self._last:
            return []
        span = now - self._last
        planned: list[PlannedEvent] = []
        for profile in self.profiles:
            if not self.sending(profile.name):
                self._owed[profile.name] = 0.0  # SES rejects these sends; nothing is owed on resume
                continue
            owed = self._owed[profile.name] + profile.messages_per_second * span
            count = math.floor(owed)
            self._owed[profile.name] = owed - count
            for index in range(count):
                sent_at = self._last + span * (index + 1) / (count + 1)
                rates = self.rates_for(profile, sent_at - self.started)
                planned.extend(
                    plan_message(
                        self._rngs[profile.name],
                        profile,
                        rates,
                        sent_at,
                        account_id=self.account_id,
                        region=self.region,
                    )
                )
        self._last = now
        return planned


@dataclass
class Tally:
    """AWS-comparable counts of what has been published, per configuration set, for reputation metrics."""

    sent: dict[str, int] = field(default_factory=dict)
    bounced: dict[str, int] = field(default_factory=dict)
    complained: dict[str, int] = field(default_factory=dict)

    def add(self, event: PlannedEvent) -> None:
        """Count one published event."""
        name = event.configuration_set
        self.sent[name] = self.sent.get(name, 0) + event.rate_sent
        self.bounced[name] = self.bounced.get(name, 0) + event.rate_bounced
        self.complained[name] = self.complained.get(name, 0) + event.rate_complained

    def rates(self, name: str | None = None) -> tuple[float, float] | None:
        """(bounce rate, complaint rate) of one set, or of the account when ``name`` is None."""
        names = [name] if name is not None else list(self.sent)
        sent = sum(self.sent.get(n, 0) for n in names)
        if sent == 0:
            return None
        bounced = sum(self.bounced.get(n, 0) for n in names)
        complained = sum(self.complained.get(n, 0) for n in names)
        return bounced / sent, complained / sent


def with_rates(rates: Rates, **changes: float) -> Rates:
    """``rates`` with some probabilities replaced (for scenarios)."""
    return replace(rates, **changes)
