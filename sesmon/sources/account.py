"""SES account state from SES v2 GetAccount: enforcement, sandbox, sending, send quota."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sesmon.sources.discovery import Catalog

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

# The enforcement states AWS documents; any other string is exported too, as its own state.
KNOWN_ENFORCEMENT_STATUSES = ("HEALTHY", "PROBATION", "SHUTDOWN")
HEALTHY = "HEALTHY"


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """One GetAccount answer plus the configuration sets known at the time."""

    polled_at: float
    enforcement_status: str
    production_access: bool
    sending_enabled: bool
    max_24h: float
    sent_last_24h: float
    max_rate: float
    catalog: Catalog

    @property
    def sandbox(self) -> bool:
        """Without production access an account can send only to verified addresses."""
        return not self.production_access

    @property
    def quota_usage(self) -> float | None:
        """Sent in the last 24 h as a fraction of the 24 h quota (None when the quota is unlimited)."""
        # SES reports -1 for an unlimited quota; 0 would make the ratio meaningless.
        if self.max_24h <= 0:
            return None
        return self.sent_last_24h / self.max_24h


def snapshot_from_response(response: Mapping[str, Any], now: float, catalog: Catalog) -> AccountSnapshot:
    """A GetAccount (SES v2) response reduced to what we export."""
    quota = response.get("SendQuota") or {}
    return AccountSnapshot(
        polled_at=now,
        # An account under no review has reported HEALTHY; absence is not a reason to alarm.
        enforcement_status=str(response.get("EnforcementStatus") or HEALTHY).upper(),
        production_access=bool(response.get("ProductionAccessEnabled", False)),
        sending_enabled=bool(response.get("SendingEnabled", False)),
        max_24h=float(quota.get("Max24HourSend", 0.0)),
        sent_last_24h=float(quota.get("SentLast24Hours", 0.0)),
        max_rate=float(quota.get("MaxSendRate", 0.0)),
        catalog=catalog,
    )


def enforcement_states(seen: set[str] | frozenset[str], current: str) -> dict[str, float]:
    """The state set: every documented status, every status seen before, the current one at 1."""
    states = dict.fromkeys((*KNOWN_ENFORCEMENT_STATUSES, *sorted(seen)), 0.0)
    states[current] = 1.0
    return states


@dataclass
class AccountPoller:
    """Reads one target's account state; every call goes through the target's SES v2 client."""

    sesv2: Callable[[], SESV2Client]

    def poll(self, now: float, catalog: Catalog) -> AccountSnapshot:
        """Call GetAccount; raises on AWS errors."""
        return snapshot_from_response(self.sesv2().get_account(), now, catalog)
