"""Email DNS authentication checks (SPF, DMARC, DKIM, MAIL FROM MX) over an injected resolver."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
SES_SPF_INCLUDE = "amazonses.com"
DMARC_POLICIES = ("none", "quarantine", "reject")
# SPF includes nest; real-world chains are a few levels deep, and the lookup limit stops loops anyway.
_MAX_SPF_DEPTH = 12


class Check(StrEnum):
    """The DNS checks, valued as the ``check`` metric label."""

    SPF = "spf"
    DMARC = "dmarc"
    DKIM = "dkim"
    MAIL_FROM_MX = "mail_from_mx"


class Status(StrEnum):
    """Outcome of one check: passed, failed, or not determined because DNS did not answer."""

    OK = "ok"
    FAIL = "fail"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one domain with a short human reason; ``policy`` is set for a valid DMARC record."""

    domain: str
    check: Check
    status: Status
    reason: str
    policy: str | None = None

    @property
    def conclusive(self) -> bool:
        """True when DNS answered, so the result says something about the domain."""
        return self.status is not Status.ERROR


class DnsLookupError(Exception):
    """DNS gave no usable answer (timeout, SERVFAIL, refused): the record's existence is unknown."""


class Resolver(Protocol):
    """The lookups the checks need. A missing name or record type is an empty answer, not an error;
    anything that leaves the answer unknown raises :class:`DnsLookupError`."""

    def txt(self, name: str) -> list[str]:
        """TXT records at ``name``, each with its character-strings joined (RFC 7208 §3.3)."""
        ...

    def mx(self, name: str) -> list[tuple[int, str]]:
        """(preference, exchange) pairs at ``name``; exchanges lowercase without the trailing dot."""
        ...

    def cname(self, name: str) -> str | None:
        """The CNAME target of ``name`` (lowercase, no trailing dot), or None."""
        ...


# -- what to check ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainIdentity:
    """What an SES domain identity tells the checks: its DKIM tokens and custom MAIL FROM domain.

    ``dkim_external`` marks Bring-Your-Own-DKIM, whose single token is a selector with a TXT key
    rather than an Easy DKIM CNAME.
    """

    domain: str
    dkim_tokens: tuple[str, ...] = ()
    dkim_external: bool = False
    mail_from_domain: str | None = None


@dataclass(frozen=True, slots=True)
class DomainPlan:
    """Every check due for one domain; identities sharing a domain merge into one plan."""

    domain: str
    spf: bool = False
    spf_requires_ses: bool = False
    dmarc: bool = False
    dkim: bool = False
    dkim_tokens: tuple[str, ...] = ()
    dkim_external: bool = False
    mail_from_mx: bool = False


def plan_checks(identities: Iterable[DomainIdentity]) -> list[DomainPlan]:
    """Plans for every identity domain (SPF, DMARC, DKIM) and MAIL FROM domain (SPF with the SES
    include, since SES is the envelope sender there, and the feedback MX), sorted by domain."""
    plans: dict[str, DomainPlan] = {}
    for ident in identities:
        domain = normalize(ident.domain)
        old = plans.get(domain, DomainPlan(domain=domain))
        plans[domain] = replace(
            old,
            spf=True,
            dmarc=True,
            dkim=True,
            dkim_tokens=tuple(sorted({*old.dkim_tokens, *(t.lower() for t in ident.dkim_tokens)})),
            dkim_external=old.dkim_external or ident.dkim_external,
        )
        if ident.mail_from_domain:
            mail_from = normalize(ident.mail_from_domain)
            old = plans.get(mail_from, DomainPlan(domain=mail_from))
            plans[mail_from] = replace(old, spf=True, spf_requires_ses=True, mail_from_mx=True)
    return [plans[d] for d in sorted(plans)]


def run_plan(plan: DomainPlan, resolver: Resolver, region: str) -> list[CheckResult]:
    """Run the plan's checks; a lookup failure makes only the affected check an ERROR."""
    checks: list[tuple[Check, _CheckFn]] = []
    if plan.spf:
        checks.append(
            (Check.SPF, lambda: check_spf(plan.domain, resolver, require_ses=plan.spf_requires_ses))
        )
    if plan.dmarc:
        checks.append((Check.DMARC, lambda: check_dmarc(plan.domain, resolver)))
    if plan.dkim:
        checks.append(
            (Check.DKIM, lambda: check_dkim(plan.domain, plan.dkim_tokens, resolver, plan.dkim_external))
        )
    if plan.mail_from_mx:
        checks.append((Check.MAIL_FROM_MX, lambda: check_mail_from_mx(plan.domain, region, resolver)))
    results: list[CheckResult] = []
    for check, run in checks:
        try:
            results.append(run())
        except DnsLookupError as exc:
            results.append(CheckResult(plan.domain, check, Status.ERROR, f"DNS lookup failed: {exc}"))
    return results


class _CheckFn(Protocol):
    def __call__(self) -> CheckResult: ...


def normalize(name: str) -> str:
    """A DNS name lowercase without the trailing dot."""
    return name.strip().rstrip(".").lower()


# -- SPF -------------------------------------------------------------------------------------------

_SPF_VERSION = re.compile(r"^v=spf1(\s|$)", re.IGNORECASE)
_LOOKUP_MECHANISMS = frozenset({"a", "mx", "ptr", "exists", "include"})
_OTHER_MECHANISMS = frozenset({"all", "ip4", "ip6"})
_TERM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9_.-]*)(?:([:=/])(.*))?$", re.IGNORECASE)


class _SpfPermError(Exception):
    """The policy is broken in a way receivers treat as a permanent error (RFC 7208 §2.6.7)."""


@dataclass
class _SpfWalk:
    lookups: int = 0
    includes_ses: bool = False
    visited: set[str] = field(default_factory=set)


def spf_records(txt: Iterable[str]) -> list[str]:
    """The SPF records among TXT records (RFC 7208 §4.5: ``v=spf1`` then a space or the end)."""
    return [r.strip() for r in txt if _SPF_VERSION.match(r.strip())]


def check_spf(domain: str, resolver: Resolver, *, require_ses: bool) -> CheckResult:
    """Exactly one SPF record, at most 10 DNS-querying terms counted through include and redirect,
    and, where SES is the envelope sender, ``include:amazonses.com`` somewhere in the policy."""
    domain = normalize(domain)
    records = spf_records(resolver.txt(domain))
    if not records:
        return CheckResult(domain, Check.SPF, Status.FAIL, "no SPF record (v=spf1)")
    if len(records) > 1:
        return CheckResult(domain, Check.SPF, Status.FAIL, f"{len(records)} SPF records: permerror")
    walk = _SpfWalk(visited={domain})
    try:
        _walk_spf(records[0], domain, resolver, walk, depth=0)
    except _SpfPermError as exc:
        return CheckResult(domain, Check.SPF, Status.FAIL, str(exc))
    if walk.lookups > SPF_LOOKUP_LIMIT:
        return CheckResult(
            domain,
            Check.SPF,
            Status.FAIL,
            f"more than {SPF_LOOKUP_LIMIT} DNS lookups (include, a, mx, ptr, exists, redirect): permerror",
        )
    if require_ses and not walk.includes_ses:
        return CheckResult(
            domain, Check.SPF, Status.FAIL, f"does not include {SES_SPF_INCLUDE} (SES sends as this domain)"
        )
    suffix = f", includes {SES_SPF_INCLUDE}" if walk.includes_ses else ""
    return CheckResult(domain, Check.SPF, Status.OK, f"1 record, {walk.lookups} DNS lookups{suffix}")


def _walk_spf(record: str, domain: str, resolver: Resolver, walk: _SpfWalk, depth: int) -> None:
    terms = record.split()[1:]
    parsed = [_parse_term(term, domain) for term in terms]
    has_all = any(kind == "all" for kind, _, _ in parsed)
    redirect: str | None = None
    for kind, arg, is_modifier in parsed:
        if is_modifier:
            # RFC 7208 §6.1: redirect is ignored when the record has an "all" mechanism.
            if kind == "redirect" and not has_all:
                if redirect is not None:
                    raise _SpfPermError(f"{domain}: more than one redirect modifier")
                redirect = arg
            continue
        if kind in _LOOKUP_MECHANISMS:
            walk.lookups += 1
            if walk.lookups > SPF_LOOKUP_LIMIT:
                return  # already over the limit: stop querying
        if kind == "include":
            _follow(arg, "include", resolver, walk, depth)
    if redirect is not None:
        walk.lookups += 1
        if walk.lookups <= SPF_LOOKUP_LIMIT:
            _follow(redirect, "redirect", resolver, walk, depth)


def _parse_term(term: str, domain: str) -> tuple[str, str, bool]:
    """(mechanism or modifier name, argument, is_modifier); raises on unknown mechanisms."""
    match = _TERM.match(term)
    if match is None:
        raise _SpfPermError(f"{domain}: malformed term {term[:40]!r}")
    qualifier, name, sep, arg = match.groups()
    name = name.lower()
    if sep == "=":
        if qualifier:
            raise _SpfPermError(f"{domain}: malformed term {term[:40]!r}")
        return name, arg or "", True  # unknown modifiers are ignored (RFC 7208 §6)
    if name not in _LOOKUP_MECHANISMS and name not in _OTHER_MECHANISMS:
        raise _SpfPermError(f"{domain}: unknown mechanism {name!r}")
    if name in ("include", "exists") and (sep != ":" or not arg):
        raise _SpfPermError(f"{domain}: {name} needs a domain")
    return name, arg or "", False


def _follow(target: str, how: str, resolver: Resolver, walk: _SpfWalk, depth: int) -> None:
    if "%" in target:
        return  # a macro expands per message; its lookup is counted but cannot be followed here
    target = normalize(target)
    if target == SES_SPF_INCLUDE:
        walk.includes_ses = True
    if target in walk.visited or depth >= _MAX_SPF_DEPTH:
        raise _SpfPermError(f"{how}:{target} loops back into the policy")
    walk.visited.add(target)
    records = spf_records(resolver.txt(target))
    if len(records) != 1:
        found = "no SPF record" if not records else f"{len(records)} SPF records"
        raise _SpfPermError(f"{how}:{target} has {found} (permerror)")
    _walk_spf(records[0], target, resolver, walk, depth + 1)
    walk.visited.discard(target)  # the same include twice is fine; only a cycle is an error


# -- DMARC -----------------------------------------------------------------------------------------

_DMARC_VERSION = re.compile(r"^\s*v\s*=\s*DMARC1\b", re.IGNORECASE)
_TAG = re.compile(r"^([A-Za-z][A-Za-z0-9]*)\s*=\s*(.*)$", re.DOTALL)


def check_dmarc(domain: str, resolver: Resolver) -> CheckResult:
    """A valid ``v=DMARC1`` record at ``_dmarc.<domain>``, or else at the nearest parent (the DMARCbis
    tree walk, which finds the organizational domain's record without a public-suffix list)."""
    domain = normalize(domain)
    labels = domain.split(".")
    for index in range(len(labels) - 1):
        owner = ".".join(labels[index:])
        records = [r for r in resolver.txt(f"_dmarc.{owner}") if _DMARC_VERSION.match(r)]
        if not records:
            continue
        where = "" if owner == domain else f" (inherited from _dmarc.{owner})"
        if len(records) > 1:
            return CheckResult(
                domain, Check.DMARC, Status.FAIL, f"{len(records)} DMARC records{where}; none applies"
            )
        try:
            tags = parse_dmarc(records[0])
        except ValueError as exc:
            return CheckResult(domain, Check.DMARC, Status.FAIL, f"malformed DMARC record{where}: {exc}")
        policy = tags["p"] if owner == domain else tags.get("sp", tags["p"])
        note = " (monitoring only)" if policy == "none" else ""
        return CheckResult(domain, Check.DMARC, Status.OK, f"p={policy}{note}{where}", policy=policy)
    return CheckResult(domain, Check.DMARC, Status.FAIL, f"no DMARC record at _dmarc.{domain}")


def parse_dmarc(record: str) -> dict[str, str]:
    """Tags of a DMARC record (RFC 7489 §6.3), policies lowercased; raises ValueError when malformed."""
    tags: dict[str, str] = {}
    parts = [p.strip() for p in record.strip().split(";")]
    for position, part in enumerate(p for p in parts if p):
        match = _TAG.match(part)
        if match is None:
            raise ValueError(f"{part[:40]!r} is not tag=value")
        name, value = match.group(1).lower(), match.group(2).strip()
        if position == 0 and (name != "v" or value != "DMARC1"):
            raise ValueError("must start with v=DMARC1")
        if name in tags:
            raise ValueError(f"tag {name} appears twice")
        tags[name] = value
    if "p" not in tags:
        raise ValueError("no p= policy tag")
    for name in ("p", "sp"):
        if name in tags:
            tags[name] = tags[name].lower()
            if tags[name] not in DMARC_POLICIES:
                raise ValueError(f"{name}={tags[name][:20]} is not none, quarantine or reject")
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        raise ValueError(f"pct={tags['pct'][:20]} is not 0-100")
    for name in ("adkim", "aspf"):
        if name in tags and tags[name].lower() not in ("r", "s"):
            raise ValueError(f"{name}={tags[name][:20]} is not r or s")
    if "ri" in tags and not tags["ri"].isdigit():
        raise ValueError(f"ri={tags['ri'][:20]} is not a number of seconds")
    for name in ("rua", "ruf"):
        for uri in filter(None, (u.strip() for u in tags.get(name, "").split(","))):
            if ":" not in uri:
                raise ValueError(f"{name} holds {uri[:40]!r}, not a URI such as mailto:")
    return tags


# -- DKIM ------------------------------------------------------------------------------------------


def dkim_cname_target(token: str) -> str:
    """Where Easy DKIM's selector CNAME must point."""
    return f"{token.lower()}.dkim.amazonses.com"


def check_dkim(domain: str, tokens: Iterable[str], resolver: Resolver, external: bool = False) -> CheckResult:
    """Every ``<token>._domainkey.<domain>`` is a CNAME to ``<token>.dkim.amazonses.com`` (Easy DKIM),
    or for BYODKIM the selector publishes a TXT public key."""
    domain = normalize(domain)
    tokens = tuple(tokens)
    if not tokens:
        return CheckResult(domain, Check.DKIM, Status.FAIL, "no DKIM tokens: DKIM is not set up in SES")
    problems: list[str] = []
    for token in tokens:
        name = f"{token.lower()}._domainkey.{domain}"
        if external:
            keys = [r for r in resolver.txt(name) if re.search(r"(^|;)\s*p\s*=\s*[A-Za-z0-9+/]", r)]
            if not keys:
                problems.append(f"no DKIM public key (TXT p=) at {name}")
            continue
        target = resolver.cname(name)
        expected = dkim_cname_target(token)
        if target is None:
            problems.append(f"no CNAME at {name}")
        elif normalize(target) != expected:
            problems.append(f"{name} points at {normalize(target)}, not {expected}")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return CheckResult(domain, Check.DKIM, Status.FAIL, problems[0] + more)
    kind = "selector key published" if external else "CNAMEs point at amazonses.com"
    return CheckResult(domain, Check.DKIM, Status.OK, f"{len(tokens)} {kind}")


# -- MAIL FROM -------------------------------------------------------------------------------------


def feedback_endpoint(region: str) -> str:
    """SES's bounce/complaint feedback host for ``region``: the MX a custom MAIL FROM domain needs."""
    return f"feedback-smtp.{region}.amazonses.com"


def check_mail_from_mx(domain: str, region: str, resolver: Resolver) -> CheckResult:
    """An MX record of the MAIL FROM domain points at SES's feedback endpoint for the region."""
    domain = normalize(domain)
    expected = feedback_endpoint(region)
    exchanges = [normalize(host) for _, host in sorted(resolver.mx(domain))]
    if not exchanges:
        return CheckResult(domain, Check.MAIL_FROM_MX, Status.FAIL, f"no MX record (needs {expected})")
    if expected in exchanges:
        return CheckResult(domain, Check.MAIL_FROM_MX, Status.OK, f"MX {expected}")
    return CheckResult(
        domain, Check.MAIL_FROM_MX, Status.FAIL, f"MX points at {exchanges[0]}, not {expected}"
    )
