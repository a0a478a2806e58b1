"""The demo's DNS server over UDP on loopback, checked by sesmon's own DNS authentication checks."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sesmon.demo.dns_server import DemoDns, ses_zone
from sesmon.demo.middleware import dkim_tokens
from sesmon.dnsauth import DomainIdentity, Status, plan_checks, run_plan
from sesmon.sources.dns import DnsLookups, DomainResolver, make_resolver


@pytest.fixture
def server() -> Iterator[DemoDns]:
    dns = DemoDns(ses_zone("mail.example.com", "bounce.mail.example.com", "us-east-1")).start()
    yield dns
    dns.stop()


def test_every_check_passes_for_the_demo_domain(server: DemoDns) -> None:
    lookups = DnsLookups(make_resolver([server.address]), timeout=2.0)
    identity = DomainIdentity(
        "mail.example.com",
        dkim_tokens=tuple(dkim_tokens("mail.example.com")),
        mail_from_domain="bounce.mail.example.com",
    )
    results = []
    for plan in plan_checks([identity]):
        resolver = DomainResolver(lookups, time.monotonic() + 5, time.monotonic)
        results.extend(run_plan(plan, resolver, "us-east-1"))
    assert {(r.domain, r.check.value) for r in results} == {
        ("mail.example.com", "spf"),
        ("mail.example.com", "dmarc"),
        ("mail.example.com", "dkim"),
        ("bounce.mail.example.com", "spf"),
        ("bounce.mail.example.com", "mail_from_mx"),
    }
    assert all(r.status is Status.OK for r in results), results
