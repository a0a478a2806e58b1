"""SES v2 identities of one target: verification, DKIM and MAIL FROM state, paced per operation."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from sesmon.dnsauth import DomainIdentity
from sesmon.sources.discovery import RateLimiter

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import IdentityInfoTypeDef

# SES v2 IdentityType → the ``identity_type`` label (lowercase, like every other label value).
IDENTITY_TYPES = {"EMAIL_ADDRESS": "email_address", "DOMAIN": "domain", "MANAGED_DOMAIN": "managed_domain"}
DKIM_STATUSES = ("SUCCESS", "PENDING", "FAILED", "TEMPORARY_FAILURE", "NOT_STARTED")
MAIL_FROM_STATUSES = ("SUCCESS", "PENDING", "FAILED", "TEMPORARY_FAILURE")
UNKNOWN_STATUS = "unknown"
# ListEmailIdentities returns at most 1000 identities per page.
PAGE_SIZE = 1000
# The SES management API throttles at about one request per second per operation; staying at that
# rate keeps the identity refresh from eating into the sending application's own API budget.
MIN_CALL_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class IdentityInfo:
    """One SES identity as sesmon reports it; statuses are spelled as SES spells them."""

    name: str
    identity_type: str
    verified: bool
    verification_status: str
    sending_enabled: bool
    dkim_status: str
    dkim_signing_enabled: bool
    dkim_tokens: tuple[str, ...]
    dkim_origin: str
    mail_from_domain: str | None
    mail_from_status: str | None

    @property
    def is_domain(self) -> bool:
        """True for a domain identity (the only kind whose DNS sesmon checks)."""
        return self.identity_type == "domain"

    def domain_identity(self) -> DomainIdentity:
        """What the DNS checks need to know about this domain identity."""
        return DomainIdentity(
            domain=self.name,
            dkim_tokens=self.dkim_tokens,
            dkim_external=self.dkim_origin == "EXTERNAL",
            mail_from_domain=self.mail_from_domain,
        )


def state(value: object, known: tuple[str, ...]) -> str:
    """``value`` when it is one of the ``known`` states, else ``unknown`` (for the state-set metrics)."""
    return value if isinstance(value, str) and value in known else UNKNOWN_STATUS


def identity_from_responses(listed: Mapping[str, Any], detail: Mapping[str, Any]) -> IdentityInfo:
    """A ListEmailIdentities entry and its GetEmailIdentity response, reduced to what sesmon exports."""
    dkim = detail.get("DkimAttributes") or {}
    mail_from = detail.get("MailFromAttributes") or {}
    kind = str(detail.get("IdentityType") or listed.get("IdentityType") or "")
    return IdentityInfo(
        name=str(listed["IdentityName"]),
        identity_type=IDENTITY_TYPES.get(kind, kind.lower() or UNKNOWN_STATUS),
        verified=bool(detail.get("VerifiedForSendingStatus", False)),
        verification_status=str(detail.get("VerificationStatus") or listed.get("VerificationStatus") or ""),
        # An identity SES lists without the flag is one it lets send (the API default).
        sending_enabled=bool(listed.get("SendingEnabled", True)),
        dkim_status=state(dkim.get("Status"), DKIM_STATUSES),
        dkim_signing_enabled=bool(dkim.get("SigningEnabled", False)),
        dkim_tokens=tuple(str(t) for t in dkim.get("Tokens") or ()),
        dkim_origin=str(dkim.get("SigningAttributesOrigin") or "AWS_SES"),
        mail_from_domain=str(mail_from["MailFromDomain"]) if mail_from.get("MailFromDomain") else None,
        mail_from_status=(
            state(mail_from.get("MailFromDomainStatus"), MAIL_FROM_STATUSES)
            if mail_from.get("MailFromDomain")
            else None
        ),
    )


class OperationPacer:
    """One rate limiter per API operation, so each operation stays at or below one call per second."""

    def __init__(
        self,
        interval: float = MIN_CALL_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._limiters: dict[str, RateLimiter] = {}

    def wait(self, operation: str) -> None:
        """Block until ``operation`` may be called again, and claim the call."""
        limiter = self._limiters.get(operation)
        if limiter is None:
            limiter = RateLimiter(self._interval, self._monotonic, self._sleep)
            self._limiters[operation] = limiter
        limiter.wait()


class IdentitiesSource:
    """Lists a target's identities (paged) and reads each one; raises on AWS errors."""

    def __init__(
        self, sesv2: Callable[[], SESV2Client], pacer: OperationPacer, page_size: int = PAGE_SIZE
    ) -> None:
        self._sesv2 = sesv2
        self._pacer = pacer
        self._page_size = page_size

    def poll(self) -> tuple[IdentityInfo, ...]:
        """Every identity of the target, sorted by name."""
        client = self._sesv2()
        listed: list[IdentityInfoTypeDef] = []
        token: str | None = None
        while True:
            self._pacer.wait("ListEmailIdentities")
            args: dict[str, Any] = {"PageSize": self._page_size}
            if token:
                args["NextToken"] = token
            page = client.list_email_identities(**args)
            listed.extend(page.get("EmailIdentities", []))
            token = page.get("NextToken")
            if not token:
                break
        infos: list[IdentityInfo] = []
        for entry in sorted(listed, key=lambda e: str(e.get("IdentityName", ""))):
            if not entry.get("IdentityName"):
                continue
            self._pacer.wait("GetEmailIdentity")
            try:
                detail = client.get_email_identity(EmailIdentity=entry["IdentityName"])
            except ClientError as exc:
                # Deleted between the list and the get: simply no longer there.
                if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                    continue
                raise
            infos.append(identity_from_responses(entry, detail))
        return tuple(infos)
