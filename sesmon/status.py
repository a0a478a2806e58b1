"""Typed rows of the status page: what each component reports, as numbers and flags, never as markup (pure).

Components build these from their own state; ``statuspage.py`` is the one place that formats and
escapes them. Rates are fractions 0-1 (``None`` when there is nothing to divide), timestamps are Unix
seconds, and a row's ``ok`` says whether it shows a problem (``None``: no judgement).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One source of one target: its last poll's outcome."""

    source: str
    target: str
    up: bool
    last_error: str | None = None
    last_success: float | None = None
    consecutive_failures: int = 0


@dataclass(frozen=True, slots=True)
class Levels:
    """The thresholds of the alert rules that watch one rate: the lowest warning and critical level."""

    warning: float | None
    critical: float | None
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RateRow:
    """A configuration set's AWS-comparable rates over one window."""

    target: str
    configuration_set: str
    window: str
    sent: int
    events: int
    bounce_ratio: float | None  # None when no rate is known (no event, or no sent recipients)
    complaint_ratio: float | None
    # Where ``sent`` comes from: "events" (Send events counted here) or "cloudwatch" (AWS/SES Send,
    # for a set that publishes no Send events; docs/ARCHITECTURE.md#counting-rules).
    denominator: str = "events"
    # The rules watching each rate over this window (None: no rule does).
    bounce_levels: Levels | None = None
    complaint_levels: Levels | None = None


@dataclass(frozen=True, slots=True)
class RateHistory:
    """A configuration set's rates per ``step`` seconds over the last day, oldest first (None: no sends)."""

    target: str
    configuration_set: str
    step: int
    sent: tuple[int, ...]
    bounce: tuple[float | None, ...]
    complaint: tuple[float | None, ...]
    # The rules watching each rate over any window, for the reference line.
    bounce_levels: Levels | None = None
    complaint_levels: Levels | None = None


@dataclass(frozen=True, slots=True)
class RatesStatus:
    """The ingestion section: one row per target, configuration set and window, windows in order."""

    windows: tuple[str, ...]
    rows: tuple[RateRow, ...]
    history: tuple[RateHistory, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One target's SES account state and CloudWatch account-level reputation."""

    target: str
    account_id: str
    region: str
    enforcement_status: str | None  # None until the account was polled
    sandbox: bool | None
    sending_enabled: bool | None
    quota_usage: float | None
    cloudwatch_bounce_ratio: float | None
    cloudwatch_complaint_ratio: float | None
    ok: bool
    # The rules watching quota usage and the account's CloudWatch rates (None: no rule does).
    quota_levels: Levels | None = None
    cloudwatch_bounce_levels: Levels | None = None
    cloudwatch_complaint_levels: Levels | None = None


@dataclass(frozen=True, slots=True)
class AccountsStatus:
    """The AWS health section."""

    rows: tuple[AccountRow, ...]


@dataclass(frozen=True, slots=True)
class IdentityRow:
    """One SES identity of a target."""

    name: str
    identity_type: str
    verified: bool
    verification_status: str | None
    dkim_status: str
    dkim_signing_enabled: bool
    mail_from_domain: str | None
    mail_from_status: str | None
    sending_enabled: bool

    @property
    def ok(self) -> bool:
        """Verified, DKIM successful, and a custom MAIL FROM (if any) successful."""
        return self.verified and self.dkim_status == "SUCCESS" and self.mail_from_status in (None, "SUCCESS")


@dataclass(frozen=True, slots=True)
class DnsRow:
    """One DNS authentication check of one domain; ``last_*`` keep the last conclusive answer."""

    domain: str
    check: str
    result: str  # "ok", "fail", or "unknown" when DNS did not answer
    reason: str
    last_result: str | None = None
    last_reason: str | None = None

    @property
    def ok(self) -> bool | None:
        """True when the check passed, False when it failed, None when DNS did not answer."""
        return None if self.result == "unknown" else self.result == "ok"


@dataclass(frozen=True, slots=True)
class RoutingGapRow:
    """An event type a configuration set does not publish where sesmon reads it, and why."""

    configuration_set: str
    event_type: str
    why: str


@dataclass(frozen=True, slots=True)
class RoutingStatus:
    """The event-routing self-check of one target: how many sets were checked, and the gaps."""

    sets_checked: int
    dropped: int  # sets over max_configuration_sets, not checked
    gaps: tuple[RoutingGapRow, ...]


@dataclass(frozen=True, slots=True)
class IdentityTargetStatus:
    """Identities, DNS checks and event routing of one target; ``None`` where not polled yet."""

    target: str
    identities: tuple[IdentityRow, ...] | None
    dns: tuple[DnsRow, ...]
    routing: RoutingStatus | None


@dataclass(frozen=True, slots=True)
class IdentitiesStatus:
    """The identity health section."""

    targets: tuple[IdentityTargetStatus, ...]


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One firing alert."""

    rule: str
    severity: str
    labels: Labels
    value: float
    since: float
    signal: str = ""  # the rule's signal: a rate's value is a fraction, a condition's is 1


@dataclass(frozen=True, slots=True)
class SinkRow:
    """One notification sink's delivery counts."""

    name: str
    type: str
    pending: int
    delivered: int
    failed_attempts: int
    given_up: int


@dataclass(frozen=True, slots=True)
class PausedRow:
    """A configuration set (or, with ``configuration_set`` empty, an account) sesmon has paused."""

    target: str
    configuration_set: str
    since: float
    rule: str


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One decision an alert transition led to, as one line (``text``) and its result."""

    at: float
    result: str  # done, dry_run, refused, failed, pending
    text: str


@dataclass(frozen=True, slots=True)
class ActionsStatus:
    """Guarded actions: the mode, what is paused now, the latest decisions (newest first)."""

    mode: str
    paused: tuple[PausedRow, ...]
    recent: tuple[ActionRow, ...]


@dataclass(frozen=True, slots=True)
class AlertsStatus:
    """The alerting section."""

    firing: tuple[AlertRow, ...]
    sinks: tuple[SinkRow, ...]
    actions: ActionsStatus | None = None  # None when no rule has actions


@dataclass(frozen=True, slots=True)
class CanaryRow:
    """The pipeline canary of one configuration set: its latest probe and round trip."""

    target: str
    configuration_set: str
    ok: bool | None  # None until a probe concluded
    last_roundtrip: float | None
    last_success: float | None
    sent: int
    detail: str


@dataclass(frozen=True, slots=True)
class CanaryStatus:
    """The canary section: simulator traffic, shown apart from the rates it never counts in."""

    rows: tuple[CanaryRow, ...]


# What a component may report; statuspage renders each kind.
Section = RatesStatus | AccountsStatus | IdentitiesStatus | AlertsStatus | CanaryStatus


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The whole status page as data: readiness, sources, then each component's section by name."""

    version: str
    pending: tuple[str, ...]
    sources: tuple[SourceRow, ...]
    sections: Sequence[tuple[str, Section]] = field(default_factory=tuple)
    taken_at: float | None = None  # when these rows were read (Unix seconds)
