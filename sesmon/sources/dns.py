"""DNS authentication checks over dnspython: configured resolvers, bounded time, results cached."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver
from dns.rdtypes.ANY.CNAME import CNAME
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT

from sesmon.config import DnsConfig
from sesmon.dnsauth import CheckResult, DnsLookupError, DomainPlan, normalize, run_plan

# A domain's checks make at most a dozen queries or so (SPF includes dominate); with a healthy resolver
# each takes milliseconds, so this many per-query timeouts is a generous bound for all of them.
DOMAIN_BUDGET_TIMEOUTS = 3
# EDNS buffer size of the 2020 DNS flag day: large TXT sets come over UDP without fragmenting, and
# anything larger is retried over TCP by dnspython.
EDNS_PAYLOAD = 1232

Records = list[str] | list[tuple[int, str]]


def parse_nameserver(item: str) -> tuple[str, int]:
    """``IP`` or ``IP:PORT`` (IPv4) → (address, port); an IPv6 address has no port here."""
    if item.count(":") == 1:
        host, _, port = item.partition(":")
        return host, int(port)
    return item, 53


def make_resolver(nameservers: Sequence[str]) -> dns.resolver.Resolver:
    """A dnspython resolver for ``nameservers``, or the system's (/etc/resolv.conf) when empty."""
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(n)) for n in nameservers]
    else:
        resolver = dns.resolver.Resolver()
    resolver.use_edns(0, 0, EDNS_PAYLOAD)
    return resolver


class DnsLookups:
    """Queries through one dnspython resolver, memoised for one checking run.

    A name that several domains share (``amazonses.com`` and common SPF includes) is asked once per run.
    """

    def __init__(self, resolver: dns.resolver.Resolver, timeout: float) -> None:
        self._resolver = resolver
        self._timeout = timeout
        self._memo: dict[tuple[str, str], Records | DnsLookupError] = {}

    def query(self, name: str, rdtype: str, lifetime: float) -> Records:
        """Records of ``rdtype`` at ``name`` (empty when the name or type does not exist)."""
        key = (normalize(name), rdtype)
        cached = self._memo.get(key)
        if cached is None:
            try:
                cached = self._resolve(key[0], rdtype, min(lifetime, self._timeout))
            except DnsLookupError as exc:
                cached = exc
            self._memo[key] = cached
        if isinstance(cached, DnsLookupError):
            raise cached
        return cached

    def _resolve(self, name: str, rdtype: str, lifetime: float) -> Records:
        try:
            answer = self._resolver.resolve(
                name, rdtype, search=False, raise_on_no_answer=False, lifetime=lifetime
            )
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.Timeout:
            raise DnsLookupError(f"{rdtype} {name}: no answer within {lifetime:g}s") from None
        except dns.resolver.NoNameservers:
            raise DnsLookupError(f"{rdtype} {name}: server failure (SERVFAIL or refused)") from None
        except dns.exception.DNSException as exc:
            raise DnsLookupError(f"{rdtype} {name}: {type(exc).__name__}") from None
        if answer.rrset is None:
            return []
        if rdtype == "TXT":
            return [
                b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset if isinstance(r, TXT)
            ]
        if rdtype == "MX":
            return [
                (r.preference, normalize(r.exchange.to_text())) for r in answer.rrset if isinstance(r, MX)
            ]
        return [normalize(r.target.to_text()) for r in answer.rrset if isinstance(r, CNAME)]


class DomainResolver:
    """The ``dnsauth.Resolver`` for one domain's checks, within a deadline.

    After one timeout the rest of the domain's lookups fail at once: a server that did not answer one
    query rarely answers the next, and the job should not spend a timeout on each.
    """

    def __init__(self, lookups: DnsLookups, deadline: float, monotonic: Callable[[], float]) -> None:
        self._lookups = lookups
        self._deadline = deadline
        self._monotonic = monotonic
        self._gave_up: str | None = None

    def _query(self, name: str, rdtype: str) -> Records:
        if self._gave_up is not None:
            raise DnsLookupError(self._gave_up)
        remaining = self._deadline - self._monotonic()
        if remaining <= 0:
            self._gave_up = "time budget for the domain spent"
            raise DnsLookupError(self._gave_up)
        try:
            return self._lookups.query(name, rdtype, remaining)
        except DnsLookupError as exc:
            self._gave_up = f"skipped after: {exc}"
            raise

    def txt(self, name: str) -> list[str]:
        return [r for r in self._query(name, "TXT") if isinstance(r, str)]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return [r for r in self._query(name, "MX") if isinstance(r, tuple)]

    def cname(self, name: str) -> str | None:
        targets = [r for r in self._query(name, "CNAME") if isinstance(r, str)]
        return targets[0] if targets else None


@dataclass(frozen=True, slots=True)
class DomainResult:
    """The newest checks of one domain, and the last conclusive result of each check.

    Metrics and alerts read ``settled``: a resolver outage says nothing about the domain, so it marks
    the DNS source down instead of flipping every check to failed.
    """

    plan: DomainPlan
    checked_at: float
    results: tuple[CheckResult, ...]
    settled: tuple[CheckResult, ...]

    @property
    def inconclusive(self) -> tuple[CheckResult, ...]:
        """Checks of the newest run that DNS left undetermined."""
        return tuple(r for r in self.results if not r.conclusive)


class DnsSource:
    """Checks one target's domains; each result is kept for ``dns.interval`` before it is re-checked.

    ``poll`` is called often (a cheap tick) and checks only the domains that are due: new or changed
    plans, results older than the interval, and checks that were inconclusive last time.
    """

    def __init__(
        self,
        config: DnsConfig,
        region: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        resolver_factory: Callable[[Sequence[str]], dns.resolver.Resolver] = make_resolver,
    ) -> None:
        self._config = config
        self._region = region
        self._monotonic = monotonic
        self._resolver_factory = resolver_factory
        self._results: dict[str, DomainResult] = {}

    def due(self, plans: Sequence[DomainPlan], now: float) -> list[DomainPlan]:
        """The plans whose results are missing, stale, changed or inconclusive."""
        due: list[DomainPlan] = []
        for plan in plans:
            old = self._results.get(plan.domain)
            if (
                old is None
                or old.plan != plan
                or now - old.checked_at >= self._config.interval
                or old.inconclusive
            ):
                due.append(plan)
        return due

    def poll(self, plans: Sequence[DomainPlan], now: float) -> dict[str, DomainResult]:
        """Check the due domains and return every current result (domains no longer planned drop)."""
        wanted = {p.domain for p in plans}
        self._results = {d: r for d, r in self._results.items() if d in wanted}
        due = self.due(plans, now)
        if due:
            lookups = DnsLookups(self._resolver_factory(self._config.nameservers), self._config.timeout)
            for plan in due:
                budget = self._config.timeout * DOMAIN_BUDGET_TIMEOUTS
                resolver = DomainResolver(lookups, self._monotonic() + budget, self._monotonic)
                results = tuple(run_plan(plan, resolver, self._region))
                self._results[plan.domain] = DomainResult(
                    plan, now, results, _settle(self._results.get(plan.domain), results)
                )
        return dict(self._results)


def _settle(old: DomainResult | None, results: tuple[CheckResult, ...]) -> tuple[CheckResult, ...]:
    # An inconclusive check keeps its last conclusive result, if it ever had one.
    previous = {r.check: r for r in old.settled} if old is not None else {}
    settled: list[CheckResult] = []
    for result in results:
        if result.conclusive:
            settled.append(result)
        elif result.check in previous:
            settled.append(previous[result.check])
    return tuple(settled)
