"""SPF, DMARC, DKIM and MAIL FROM checks over an in-memory resolver."""

from __future__ import annotations

import re

import pytest

from sesmon.dnsauth import (
    Check,
    CheckResult,
    DnsLookupError,
    DomainIdentity,
    DomainPlan,
    Status,
    check_dkim,
    check_dmarc,
    check_mail_from_mx,
    check_spf,
    parse_dmarc,
    plan_checks,
    run_plan,
    spf_records,
)

AMAZONSES = "v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 -all"


class FakeResolver:
    """Records by (name, type); names listed in ``failing`` raise like a timed-out lookup."""

    def __init__(self, records: dict[tuple[str, str], list[object]], failing: frozenset[str] = frozenset()):
        self.records = records
        self.failing = failing
        self.queries: list[tuple[str, str]] = []

    def _get(self, name: str, rdtype: str) -> list[object]:
        self.queries.append((name, rdtype))
        if name in self.failing:
            raise DnsLookupError(f"{rdtype} {name}: no answer")
        return self.records.get((name, rdtype), [])

    def txt(self, name: str) -> list[str]:
        return [str(r) for r in self._get(name, "TXT")]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return [r for r in self._get(name, "MX") if isinstance(r, tuple)]

    def cname(self, name: str) -> str | None:
        found = self._get(name, "CNAME")
        return str(found[0]) if found else None


def _spf(
    records: dict[str, list[str]], domain: str = "bounce.example.com", require_ses: bool = True
) -> CheckResult:
    zone: dict[tuple[str, str], list[object]] = {("amazonses.com", "TXT"): [AMAZONSES]}
    zone.update({(name, "TXT"): list(txt) for name, txt in records.items()})
    return check_spf(domain, FakeResolver(zone), require_ses=require_ses)


def test_spf_records_are_selected_by_version_tag() -> None:
    assert spf_records(
        ["v=spf1 -all", "V=SPF1 include:x.example ~all", "v=spf10 -all", "google-site=1", "v=spf1"]
    ) == [
        "v=spf1 -all",
        "V=SPF1 include:x.example ~all",
        "v=spf1",
    ]


def test_spf_with_ses_include_passes() -> None:
    result = _spf({"bounce.example.com": ["v=spf1 include:amazonses.com ~all", "unrelated=1"]})
    assert result.status is Status.OK
    assert result.reason == "1 record, 1 DNS lookups, includes amazonses.com"


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        ({"bounce.example.com": ["something else"]}, "no SPF record (v=spf1)"),
        (
            {"bounce.example.com": ["v=spf1 include:amazonses.com -all", "v=spf1 -all"]},
            "2 SPF records: permerror",
        ),
        (
            {"bounce.example.com": ["v=spf1 mx -all"]},
            "does not include amazonses.com (SES sends as this domain)",
        ),
        (
            {"bounce.example.com": ["v=spf1 include:amazonses.com include:gone.example -all"]},
            "include:gone.example has no SPF record (permerror)",
        ),
        (
            {"bounce.example.com": ["v=spf1 include:amazonses.com foo:bar -all"]},
            "bounce.example.com: unknown mechanism 'foo'",
        ),
        (
            {
                "bounce.example.com": ["v=spf1 include:loop.example -all"],
                "loop.example": ["v=spf1 include:bounce.example.com"],
            },
            "include:bounce.example.com loops back into the policy",
        ),
    ],
)
def test_broken_spf_fails_with_reason(records: dict[str, list[str]], reason: str) -> None:
    result = _spf(records)
    assert (result.status, result.reason) == (Status.FAIL, reason)


def test_spf_lookups_are_counted_through_include_and_redirect() -> None:
    records = {
        # No "all" mechanism here, so the redirect applies and is followed.
        "example.com": ["v=spf1 include:amazonses.com a mx include:_spf.example.com redirect=_r.example.com"],
        "_spf.example.com": ["v=spf1 exists:%{i}.x.example.com ptr ip4:192.0.2.1 -all"],
        "_r.example.com": ["v=spf1 a:mail.example.com mx:mail.example.com -all"],
    }
    # include(1) a(2) mx(3) include(4) → exists(5) ptr(6); redirect(7) → a(8) mx(9)
    result = _spf(records, domain="example.com")
    assert result.status is Status.OK
    assert result.reason == "1 record, 9 DNS lookups, includes amazonses.com"


def test_redirect_is_ignored_when_the_record_has_all() -> None:
    records = {"example.com": ["v=spf1 include:amazonses.com -all redirect=missing.example"]}
    assert _spf(records, domain="example.com").reason == "1 record, 1 DNS lookups, includes amazonses.com"


def test_more_than_ten_lookups_fail() -> None:
    chain = {f"l{i}.example": [f"v=spf1 a include:l{i + 1}.example -all"] for i in range(6)}
    chain["l6.example"] = ["v=spf1 -all"]
    chain["example.com"] = ["v=spf1 include:amazonses.com include:l0.example -all"]
    result = _spf(chain, domain="example.com")
    assert result.status is Status.FAIL
    assert result.reason.startswith("more than 10 DNS lookups")


def test_exactly_ten_lookups_pass() -> None:
    records = {
        "example.com": [
            "v=spf1 include:amazonses.com a mx ptr a:x.example a:y.example mx:z.example "
            "exists:e.example a:w.example a:v.example -all"
        ]
    }
    assert _spf(records, domain="example.com").reason == "1 record, 10 DNS lookups, includes amazonses.com"


def test_nested_ses_include_counts_and_identity_domain_needs_no_ses() -> None:
    records = {
        "example.com": ["v=spf1 include:_spf.example.com -all"],
        "_spf.example.com": ["v=spf1 include:amazonses.com"],
    }
    assert _spf(records, domain="example.com").status is Status.OK
    plain = {"example.com": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    assert _spf(plain, domain="example.com", require_ses=False).reason == "1 record, 0 DNS lookups"
    assert _spf(plain, domain="example.com", require_ses=True).status is Status.FAIL


@pytest.mark.parametrize(
    ("record", "policy"),
    [
        ("v=DMARC1; p=none; rua=mailto:d@example.com", "none"),
        ("v=DMARC1;p=Quarantine;pct=50", "quarantine"),
        ("v=DMARC1; p=reject; sp=none; adkim=s; aspf=r; fo=1; ri=86400; unknowntag=x;", "reject"),
    ],
)
def test_valid_dmarc_reports_policy(record: str, policy: str) -> None:
    resolver = FakeResolver({("_dmarc.example.com", "TXT"): ["other", record]})
    result = check_dmarc("example.com", resolver)
    assert (result.status, result.policy) == (Status.OK, policy)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ("v=DMARC1 p=reject", "must start with v=DMARC1"),
        ("v=DMARC1; p=block", "p=block is not none, quarantine or reject"),
        ("v=DMARC1; rua=mailto:x@example.com", "no p= policy tag"),
        ("v=DMARC1; p=none; pct=150", "pct=150 is not 0-100"),
        ("v=DMARC1; p=none; adkim=x", "adkim=x is not r or s"),
        ("v=DMARC1; p=none; rua=d@example.com", "rua holds 'd@example.com', not a URI such as mailto:"),
        ("v=DMARC1; p=none; p=reject", "tag p appears twice"),
        ("v=DMARC1; p=none; garbage", "'garbage' is not tag=value"),
    ],
)
def test_malformed_dmarc_fails(record: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
        parse_dmarc(record)
    result = check_dmarc("example.com", FakeResolver({("_dmarc.example.com", "TXT"): [record]}))
    assert (result.status, result.reason, result.policy) == (
        Status.FAIL,
        f"malformed DMARC record: {problem}",
        None,
    )


def test_missing_and_duplicate_dmarc() -> None:
    assert check_dmarc("example.com", FakeResolver({})).reason == "no DMARC record at _dmarc.example.com"
    two = FakeResolver({("_dmarc.example.com", "TXT"): ["v=DMARC1; p=none", "v=DMARC1; p=reject"]})
    assert check_dmarc("example.com", two).reason == "2 DMARC records; none applies"


def test_subdomain_inherits_the_parent_policy_using_sp() -> None:
    resolver = FakeResolver({("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject; sp=quarantine"]})
    result = check_dmarc("mail.eu.example.com", resolver)
    assert (result.status, result.policy) == (Status.OK, "quarantine")
    assert result.reason == "p=quarantine (inherited from _dmarc.example.com)"
    # The walk stops below the top-level domain.
    assert ("_dmarc.com", "TXT") not in resolver.queries


def test_dkim_cnames() -> None:
    tokens = ("tok1", "tok2")
    good: dict[tuple[str, str], list[object]] = {
        (f"{t}._domainkey.example.com", "CNAME"): [f"{t}.dkim.amazonses.com."] for t in tokens
    }
    assert check_dkim("example.com", tokens, FakeResolver(dict(good))).status is Status.OK
    missing = dict(good)
    del missing[("tok2._domainkey.example.com", "CNAME")]
    assert (
        check_dkim("example.com", tokens, FakeResolver(missing)).reason
        == "no CNAME at tok2._domainkey.example.com"
    )
    elsewhere: dict[tuple[str, str], list[object]] = {
        **good,
        ("tok1._domainkey.example.com", "CNAME"): ["tok1.dkim.other.example"],
    }
    result = check_dkim("example.com", tokens, FakeResolver(elsewhere))
    assert (
        result.reason
        == "tok1._domainkey.example.com points at tok1.dkim.other.example, not tok1.dkim.amazonses.com"
    )
    assert (
        check_dkim("example.com", (), FakeResolver(good)).reason
        == "no DKIM tokens: DKIM is not set up in SES"
    )


def test_byodkim_selector_needs_a_public_key() -> None:
    ok = FakeResolver({("sel._domainkey.example.com", "TXT"): ["v=DKIM1; k=rsa; p=MIIBIjANBg"]})
    assert check_dkim("example.com", ("sel",), ok, external=True).status is Status.OK
    revoked = FakeResolver({("sel._domainkey.example.com", "TXT"): ["v=DKIM1; p="]})
    assert check_dkim("example.com", ("sel",), revoked, external=True).status is Status.FAIL


def test_mail_from_mx() -> None:
    good = FakeResolver({("bounce.example.com", "MX"): [(10, "feedback-smtp.eu-west-1.amazonses.com")]})
    assert check_mail_from_mx("bounce.example.com", "eu-west-1", good).status is Status.OK
    assert check_mail_from_mx("bounce.example.com", "us-east-1", good).reason == (
        "MX points at feedback-smtp.eu-west-1.amazonses.com, not feedback-smtp.us-east-1.amazonses.com"
    )
    none = check_mail_from_mx("bounce.example.com", "eu-west-1", FakeResolver({}))
    assert none.reason == "no MX record (needs feedback-smtp.eu-west-1.amazonses.com)"


def test_plans_merge_identities_and_mail_from_domains() -> None:
    plans = plan_checks(
        [
            DomainIdentity("Example.com.", ("B", "a"), mail_from_domain="bounce.example.com"),
            DomainIdentity("other.example"),
        ]
    )
    assert [p.domain for p in plans] == ["bounce.example.com", "example.com", "other.example"]
    assert plans[0] == DomainPlan("bounce.example.com", spf=True, spf_requires_ses=True, mail_from_mx=True)
    assert plans[1] == DomainPlan("example.com", spf=True, dmarc=True, dkim=True, dkim_tokens=("a", "b"))


def test_lookup_failure_makes_only_that_check_inconclusive() -> None:
    resolver = FakeResolver(
        {("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject"]}, failing=frozenset({"example.com"})
    )
    plan = DomainPlan("example.com", spf=True, dmarc=True)
    spf, dmarc = run_plan(plan, resolver, "us-east-1")
    assert (spf.check, spf.status, spf.conclusive) == (Check.SPF, Status.ERROR, False)
    assert spf.reason == "DNS lookup failed: TXT example.com: no answer"
    assert (dmarc.status, dmarc.policy) == (Status.OK, "reject")
