"""DNS authentication checks against a real DNS server on 127.0.0.1 (dnslib, UDP and TCP)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import dns.nameserver
import dns.resolver
import pytest
from dnslib import CNAME, MX, QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from sesmon import statuspage
from sesmon.component import BaseComponent, Job
from sesmon.config import DnsConfig
from sesmon.config_loader import parse_config
from sesmon.daemon import Daemon
from sesmon.dnsauth import Check, DomainIdentity, Status, plan_checks
from sesmon.identity_health import IdentityHealthComponent
from sesmon.metrics import build_registry
from sesmon.metrics.identity import DnsCheckCollector, IdentityTargetView
from sesmon.model import TargetIdentity
from sesmon.sources.dns import DnsSource, make_resolver

REGION = "us-east-1"
FEEDBACK = f"feedback-smtp.{REGION}.amazonses.com"
TOKENS = ("tokena", "tokenb", "tokenc")
# Over the 1232-byte EDNS buffer sesmon advertises, so this answer only comes over TCP.
UDP_LIMIT = 1232
BIG_TXT = [f"site-verification-{i:02d}=" + "x" * 200 for i in range(8)]

Zone = dict[str, list[tuple[str, Any]]]


def _dkim(domain: str, target: Callable[[str], str] = lambda t: f"{t}.dkim.amazonses.com") -> Zone:
    return {f"{t}._domainkey.{domain}": [("CNAME", target(t))] for t in TOKENS}


def _good(domain: str, dmarc: str = "v=DMARC1; p=reject; rua=mailto:dmarc@example.net") -> Zone:
    return {
        domain: [("TXT", "v=spf1 include:amazonses.com -all"), ("TXT", "unrelated-verification=1")],
        f"_dmarc.{domain}": [("TXT", dmarc)],
        f"mail.{domain}": [("TXT", "v=spf1 include:amazonses.com ~all"), ("MX", (10, FEEDBACK))],
        **_dkim(domain),
    }


def _zone() -> Zone:
    zone: Zone = {"amazonses.com": [("TXT", "v=spf1 ip4:199.255.192.0/22 ip4:54.240.0.0/18 -all")]}
    zone.update(_good("good.example"))
    zone["good.example"] += [("TXT", t) for t in BIG_TXT]
    zone.update(_good("pnone.example", dmarc="v=DMARC1; p=none"))

    zone.update(_good("nospf.example"))
    zone["nospf.example"] = [("TXT", "unrelated-verification=1")]

    zone.update(_good("twospf.example"))
    zone["twospf.example"].append(("TXT", "v=spf1 mx -all"))

    zone.update(_good("nosesinclude.example"))
    zone["mail.nosesinclude.example"] = [("TXT", "v=spf1 mx -all"), ("MX", (10, FEEDBACK))]

    zone.update(_good("manylookups.example"))
    zone["manylookups.example"] = [
        ("TXT", "v=spf1 include:_a.manylookups.example include:_b.manylookups.example -all")
    ]
    zone["_a.manylookups.example"] = [("TXT", "v=spf1 a mx ptr a:x.example a:y.example -all")]
    zone["_b.manylookups.example"] = [
        ("TXT", "v=spf1 mx:x.example mx:y.example exists:z.example a:w.example -all")
    ]

    zone.update(_good("nodmarc.example"))
    del zone["_dmarc.nodmarc.example"]

    zone.update(_good("baddmarc.example", dmarc="v=DMARC1; p=discard"))

    zone.update(_good("nodkim.example"))
    del zone[f"{TOKENS[1]}._domainkey.nodkim.example"]

    zone.update(_good("wrongdkim.example"))
    zone.update(_dkim("wrongdkim.example", target=lambda t: f"{t}.dkim.elsewhere.example"))

    zone.update(_good("nomx.example"))
    zone["mail.nomx.example"] = [("TXT", "v=spf1 include:amazonses.com ~all")]
    return zone


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    """Answers from a dict zone; unknown names are NXDOMAIN. Records which protocols were used."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.protocols: list[str] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        self.protocols.append(handler.protocol)
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        entries = self.zone.get(name)
        if entries is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, value in entries:
            if rtype != qtype:
                continue
            if rtype == "TXT":
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
                rdata: Any = TXT(chunks)
            elif rtype == "MX":
                rdata = MX(value[1] + ".", value[0])
            else:
                rdata = CNAME(value + ".")
            reply.add_answer(RR(request.q.qname, getattr(QTYPE, rtype), rdata=rdata, ttl=60))
        if handler.protocol == "udp" and len(reply.pack()) > UDP_LIMIT:
            # Truncate as a real server does: keep the question, drop the answers, set TC so the
            # client asks again over TCP.
            reply = request.reply()
            reply.header.tc = 1
        return reply


class ZoneServer:
    """dnslib serving ``zone`` on 127.0.0.1 over UDP and TCP on one free port."""

    def __init__(self, zone: Zone) -> None:
        self.resolver = ZoneResolver(zone)
        logger = DNSLogger(logf=lambda _s: None)
        for _attempt in range(20):
            udp = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=logger)
            port = udp.server.server_address[1]
            try:
                tcp = DNSServer(self.resolver, address="127.0.0.1", port=port, tcp=True, logger=logger)
            except OSError:
                udp.server.server_close()
                continue
            break
        else:
            raise RuntimeError("no port free for both UDP and TCP")
        self.servers = (udp, tcp)
        self.address = f"127.0.0.1:{port}"
        for server in self.servers:
            server.start_thread()

    def close(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()


class SilentServer:
    """A UDP socket that reads DNS queries and never replies, until released (then SERVFAIL)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.queried = threading.Event()
        self.released = threading.Event()
        self.questions: list[str] = []
        self._pending: list[tuple[bytes, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            with self._lock:
                self.questions.append(str(DNSRecord.parse(data).q.qname).rstrip("."))
                if self.released.is_set():
                    self._servfail(data, addr)
                else:
                    self._pending.append((data, addr))
            self.queried.set()

    def _servfail(self, data: bytes, addr: Any) -> None:
        reply = DNSRecord.parse(data).reply()
        reply.header.rcode = RCODE.SERVFAIL
        self.sock.sendto(reply.pack(), addr)

    def release(self) -> None:
        """Answer every held and future query with SERVFAIL."""
        with self._lock:
            self.released.set()
            for data, addr in self._pending:
                self._servfail(data, addr)
            self._pending.clear()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def zone_server() -> Iterator[ZoneServer]:
    # The zone is read-only, so one server serves the whole module.
    server = ZoneServer(_zone())
    yield server
    server.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.release()
    server.close()


def _identity(domain: str) -> DomainIdentity:
    return DomainIdentity(domain, TOKENS, mail_from_domain=f"mail.{domain}")


def _check(address: str, domains: Sequence[str], timeout: float = 5.0) -> dict[tuple[str, Check], Any]:
    source = DnsSource(DnsConfig.model_validate({"nameservers": [address], "timeout": f"{timeout}s"}), REGION)
    results = source.poll(plan_checks(_identity(d) for d in domains), now=1_000.0)
    return {(r.domain, r.check): r for domain in results.values() for r in domain.results}


def test_a_well_configured_domain_passes_every_check_over_udp_and_tcp(zone_server: ZoneServer) -> None:
    results = _check(zone_server.address, ["good.example"])
    assert {key: r.status for key, r in results.items()} == {
        ("good.example", Check.SPF): Status.OK,
        ("good.example", Check.DMARC): Status.OK,
        ("good.example", Check.DKIM): Status.OK,
        ("mail.good.example", Check.SPF): Status.OK,
        ("mail.good.example", Check.MAIL_FROM_MX): Status.OK,
    }
    assert results["good.example", Check.DMARC].policy == "reject"
    assert results["mail.good.example", Check.SPF].reason == "1 record, 1 DNS lookups, includes amazonses.com"
    assert results["good.example", Check.DKIM].reason == "3 CNAMEs point at amazonses.com"
    # The TXT set of good.example is too big for UDP: it was fetched again over TCP.
    assert "tcp" in zone_server.resolver.protocols
    assert "udp" in zone_server.resolver.protocols


@pytest.mark.parametrize(
    ("domain", "check", "status", "reason"),
    [
        ("nospf.example", Check.SPF, Status.FAIL, "no SPF record (v=spf1)"),
        ("twospf.example", Check.SPF, Status.FAIL, "2 SPF records: permerror"),
        (
            "mail.nosesinclude.example",
            Check.SPF,
            Status.FAIL,
            "does not include amazonses.com (SES sends as this domain)",
        ),
        (
            "manylookups.example",
            Check.SPF,
            Status.FAIL,
            "more than 10 DNS lookups (include, a, mx, ptr, exists, redirect): permerror",
        ),
        ("nodmarc.example", Check.DMARC, Status.FAIL, "no DMARC record at _dmarc.nodmarc.example"),
        (
            "baddmarc.example",
            Check.DMARC,
            Status.FAIL,
            "malformed DMARC record: p=discard is not none, quarantine or reject",
        ),
        ("pnone.example", Check.DMARC, Status.OK, "p=none (monitoring only)"),
        ("good.example", Check.DMARC, Status.OK, "p=reject"),
        ("nodkim.example", Check.DKIM, Status.FAIL, "no CNAME at tokenb._domainkey.nodkim.example"),
        (
            "wrongdkim.example",
            Check.DKIM,
            Status.FAIL,
            "tokena._domainkey.wrongdkim.example points at tokena.dkim.elsewhere.example, "
            "not tokena.dkim.amazonses.com (+2 more)",
        ),
        ("mail.nomx.example", Check.MAIL_FROM_MX, Status.FAIL, f"no MX record (needs {FEEDBACK})"),
    ],
)
def test_each_broken_zone_is_reported(
    zone_server: ZoneServer, domain: str, check: Check, status: Status, reason: str
) -> None:
    identity = domain.removeprefix("mail.")
    results = _check(zone_server.address, [identity])
    assert (results[domain, check].status, results[domain, check].reason) == (status, reason)
    # Only the broken aspect fails: everything else of the same identity passes.
    others = {key: r.status for key, r in results.items() if key != (domain, check)}
    assert set(others.values()) == {Status.OK}


def test_check_and_policy_metrics(zone_server: ZoneServer) -> None:
    config = DnsConfig.model_validate({"nameservers": [zone_server.address]})
    domains = ["pnone.example", "good.example", "nodmarc.example", "nomx.example"]
    results = DnsSource(config, REGION).poll(plan_checks(_identity(d) for d in domains), now=1_000.0)
    view = IdentityTargetView(
        TargetIdentity("prod", "123456789012", REGION), None, None, tuple(results.values())
    )
    registry = build_registry([DnsCheckCollector(lambda: [view])])
    base = {"target": "prod", "account_id": "123456789012", "region": REGION}

    def ok(domain: str, check: str) -> float | None:
        return registry.get_sample_value("sesmon_dns_check_ok", {**base, "domain": domain, "check": check})

    def policy(domain: str) -> dict[str, float | None]:
        return {
            p: registry.get_sample_value("sesmon_dmarc_policy", {**base, "domain": domain, "policy": p})
            for p in ("none", "quarantine", "reject")
        }

    assert ok("good.example", "dmarc") == 1.0
    assert ok("nodmarc.example", "dmarc") == 0.0
    assert ok("mail.nomx.example", "mail_from_mx") == 0.0
    assert ok("mail.nomx.example", "spf") == 1.0
    assert ok("nomx.example", "mail_from_mx") is None  # the MX check belongs to the MAIL FROM domain
    assert policy("pnone.example") == {"none": 1.0, "quarantine": 0.0, "reject": 0.0}
    assert policy("good.example") == {"none": 0.0, "quarantine": 0.0, "reject": 1.0}
    assert policy("nodmarc.example") == {"none": 0.0, "quarantine": 0.0, "reject": 0.0}


def test_a_resolver_that_never_answers_leaves_checks_inconclusive(
    zone_server: ZoneServer, silent_server: SilentServer
) -> None:
    nameserver = {"address": zone_server.address}
    source = DnsSource(
        DnsConfig.model_validate({"nameservers": ["192.0.2.1"], "timeout": "0.3s", "interval": "1h"}),
        REGION,
        resolver_factory=lambda _ns: make_resolver([nameserver["address"]]),
    )
    plans = plan_checks([_identity("good.example"), _identity("nodmarc.example")])
    first = source.poll(plans, now=1_000.0)
    assert all(r.conclusive for d in first.values() for r in d.results)
    assert source.due(plans, now=1_000.0 + 60) == []  # cached for the interval

    nameserver["address"] = silent_server.address
    second = source.poll(plans, now=1_000.0 + 3600)
    good = second["good.example"]
    assert {r.status for r in good.results} == {Status.ERROR}
    assert good.results[0].reason == "DNS lookup failed: TXT good.example: no answer within 0.3s"
    assert good.results[1].reason.startswith("DNS lookup failed: skipped after: TXT good.example")
    # Metrics and alerts keep the last conclusive results while DNS is unreachable.
    assert {(r.check, r.status) for r in good.settled} == {
        (Check.SPF, Status.OK),
        (Check.DMARC, Status.OK),
        (Check.DKIM, Status.OK),
    }
    assert next(r for r in second["nodmarc.example"].settled if r.check is Check.DMARC).status is Status.FAIL
    # One unanswered query per domain, not one per check: the domain's time is bounded.
    asked = set(silent_server.questions)
    assert asked == {"good.example", "mail.good.example", "nodmarc.example", "mail.nodmarc.example"}
    assert len(silent_server.questions) == len(asked)
    # Inconclusive checks are retried on the next tick, without waiting out the interval.
    assert source.due(plans, now=1_000.0 + 3600 + 60) == plans


def test_unreachable_resolver_config_is_an_error_not_a_failure(silent_server: SilentServer) -> None:
    resolver = make_resolver([silent_server.address])
    servers = [n for n in resolver.nameservers if isinstance(n, dns.nameserver.Do53Nameserver)]
    assert [(n.address, n.port) for n in servers] == [("127.0.0.1", int(silent_server.address.split(":")[1]))]
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("good.example", "TXT", lifetime=0.2)


# -- the DNS job never delays other jobs -----------------------------------------------------------


class _Ticker(BaseComponent):
    """Another source: a fast job that counts its runs and announces each one."""

    name = "ticker"

    def __init__(self) -> None:
        self.runs = 0
        self.ran = threading.Condition()

    def jobs(self) -> Sequence[Job]:
        return [Job("ticker", 1.0, self._run, source="ticker", target="local")]

    def _run(self, _now: float) -> None:
        with self.ran:
            self.runs += 1
            self.ran.notify_all()

    def wait_for_runs(self, count: int) -> bool:
        with self.ran:
            return self.ran.wait_for(lambda: self.runs >= count, timeout=30)


def _mark_verified(params: Any, **_kwargs: Any) -> None:
    # moto reports every SES v2 identity as unverified (it cannot see DNS): mark it verified.
    params["VerifiedForSendingStatus"] = True


def test_a_hanging_resolver_never_delays_the_other_sources(
    tmp_path: Path, moto_server: Any, silent_server: SilentServer
) -> None:
    sesv2 = boto3.client("sesv2", region_name=REGION, endpoint_url=moto_server.endpoint_url)
    sesv2.create_email_identity(EmailIdentity="stuck.example")
    config = parse_config(
        f"""
targets:
  - {{name: local, region: {REGION}, endpoint_url: '{moto_server.endpoint_url}'}}
dns: {{nameservers: ['{silent_server.address}'], timeout: 60s, interval: 1s}}
state: {{path: '{tmp_path / "state.db"}'}}
server: {{listen: '127.0.0.1:0'}}
""",
        {},
    )
    daemon = Daemon(config, components=[])
    identity = IdentityHealthComponent(config, daemon.context.aws, daemon.targets)
    daemon.context.aws["local"].client("sesv2").meta.events.register(
        "after-call.sesv2.GetEmailIdentity", lambda parsed, **kw: _mark_verified(parsed)
    )
    ticker = _Ticker()
    daemon.components = [identity, ticker]
    daemon.start()
    try:
        # The DNS job is inside a lookup the resolver never answers (the timeout is a minute away) …
        assert silent_server.queried.wait(timeout=30)
        runs = ticker.runs
        # … while the other source keeps polling, and the identities source completed.
        assert ticker.wait_for_runs(runs + 2)
        assert identity.views()[0].dns == ()
        statuses = {(s.source, s.target): s for s in daemon.health.all()}
        assert statuses["identities", "local"].up
        assert statuses["ticker", "local"].up
    finally:
        silent_server.release()
        daemon.shutdown()
    dns_status = next(s for s in daemon.health.all() if s.source == "dns" and s.last_error)
    assert dns_status.last_error is not None
    assert "DNS checks inconclusive; stuck.example spf" in dns_status.last_error
    assert "server failure" in dns_status.last_error
    # Checks DNS could not settle have no value; the DKIM check needs no DNS (moto gives no tokens).
    registry = build_registry(identity.collectors())
    labels = {"target": "local", "account_id": "unknown", "region": REGION, "domain": "stuck.example"}
    assert registry.get_sample_value("sesmon_dns_check_ok", {**labels, "check": "spf"}) is None
    assert registry.get_sample_value("sesmon_dns_check_ok", {**labels, "check": "dkim"}) == 0.0
    status = identity.status()
    assert status is not None
    rows = {(r.domain, r.check): r for t in status.targets for r in t.dns}
    assert rows["stuck.example", "spf"].result == "unknown"
    assert rows["stuck.example", "spf"].ok is None
    assert rows["stuck.example", "dkim"].ok is False
    page = statuspage.render_section(status)
    assert (
        "<td>stuck.example</td><td>spf</td><td>unknown</td><td>DNS lookup failed: TXT stuck.example:" in page
    )
    assert (
        "<td>stuck.example</td><td>dkim</td><td>fail</td><td>no DKIM tokens: DKIM is not set up in SES</td>"
        in page
    )
