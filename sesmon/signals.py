"""The contract between capabilities and alert rules: each provider reports observations of signals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# The signal catalogue: the names alert rules may use (docs/ARCHITECTURE.md#signals).
# Rates over a window (an event-window label or ``volume``): a fraction of sent recipients.
WINDOWED_SIGNALS = (
    "bounce_rate",
    "complaint_rate",
    "transient_bounce_rate",
    "delivery_delay_rate",
    "reject_rate",
    "rendering_failure_rate",
)
# Rates judged without a window (CloudWatch reputation, quota use) join them as RATE_SIGNALS.
RATE_SIGNALS = (*WINDOWED_SIGNALS, "cloudwatch_bounce_rate", "cloudwatch_complaint_rate", "quota_usage")
# Conditions: 1.0 while they hold, 0.0 otherwise.
BOOLEAN_SIGNALS = (
    "enforcement_status",
    "account_sending_disabled",
    "configuration_set_sending_disabled",
    "sandbox",
    "identity_unverified",
    "dkim_not_successful",
    "dns_check_failed",
    "event_type_not_routed",
    "no_events",
    "source_down",
    "canary_failed",
)
ALL_SIGNALS = (*RATE_SIGNALS, *BOOLEAN_SIGNALS)


@dataclass(frozen=True, slots=True)
class Observation:
    """One signal's current value for one label set.

    ``labels`` identify the subject (always ``target``; ``configuration_set``, ``identity``, ``domain``,
    ``check``, ``event_type``, ``source`` where they apply) as sorted (name, value) pairs.
    ``value`` is a fraction 0-1 for rate signals and 1.0 (condition holds) or 0.0 for boolean signals.
    ``recipients`` is the volume behind a rate (its denominator) and ``events`` the numerator's count,
    so rules can apply ``min_recipients`` / ``min_events`` guards. ``detail`` is short human text
    (e.g. ``status=PROBATION``) and never holds addresses, message ids or secrets.
    """

    signal: str
    labels: tuple[tuple[str, str], ...]
    value: float
    recipients: int = 0
    events: int = 0
    detail: str = ""

    @staticmethod
    def make_labels(**labels: str) -> tuple[tuple[str, str], ...]:
        """Labels in canonical (sorted) order."""
        return tuple(sorted(labels.items()))

    def label(self, name: str, default: str = "") -> str:
        """The value of label ``name``."""
        return dict(self.labels).get(name, default)


@runtime_checkable
class SignalProvider(Protocol):
    """A capability that can report signals; implemented by components, read by the alert evaluator."""

    def provided_signals(self) -> frozenset[str]:
        """Names of the signals this provider reports (see :data:`ALL_SIGNALS`)."""
        ...

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        """Current observations of ``signal`` over ``window`` (a window label, ``volume`` or None)."""
        ...
