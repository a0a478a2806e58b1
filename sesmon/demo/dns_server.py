"""The demo's authoritative DNS on 127.0.0.1 (UDP): the records a correctly set-up SES domain publishes."""

from __future__ import annotations

import socketserver
from collections.abc import Mapping

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from sesmon.demo.middleware import dkim_tokens
from sesmon.servers import ServerHandle, serve_in_thread

Zone = Mapping[tuple[str, str], tuple[str, ...]]
"""(owner name without trailing dot, record type) → record data in zone-file syntax."""

# SES's own SPF policy, as `include:amazonses.com` resolves to (abridged to its documented ranges).
AMAZONSES_SPF = (
    '"v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ip4:54.240.0.0/18 ip4:69.169.224.0/20 '
    'ip4:23.249.208.0/20 ip4:23.251.224.0/19 ip4:76.223.176.0/20 ip4:54.240.64.0/19 ip4:54.240.96.0/19 -all"'
)


def ses_zone(domain: str, mail_from_domain: str, region: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """The records SES asks a sending domain to publish: SPF, DMARC, Easy DKIM CNAMEs, MAIL FROM MX."""
    zone: dict[tuple[str, str], tuple[str, ...]] = {
        (domain, "TXT"): ('"v=spf1 include:amazonses.com ~all"',),
        (f"_dmarc.{domain}", "TXT"): ('"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com"',),
        (mail_from_domain, "MX"): (f"10 feedback-smtp.{region}.amazonses.com.",),
        (mail_from_domain, "TXT"): ('"v=spf1 include:amazonses.com ~all"',),
        ("amazonses.com", "TXT"): (AMAZONSES_SPF,),
    }
    for token in dkim_tokens(domain):
        zone[(f"{token}._domainkey.{domain}", "CNAME")] = (f"{token}.dkim.amazonses.com.",)
    return zone


def answer(zone: Zone, query: dns.message.Message) -> dns.message.Message:
    """The authoritative response to ``query`` from ``zone`` (NXDOMAIN for names it does not hold)."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    names = {name for name, _ in zone}
    for question in query.question:
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        records = zone.get((name, rdtype))
        if records:
            response.answer.append(
                dns.rrset.from_text(question.name, 300, dns.rdataclass.IN, rdtype, *records)
            )
        elif name not in names:
            response.set_rcode(dns.rcode.NXDOMAIN)
    return response


class DemoDns:
    """A threaded UDP DNS server answering from a fixed zone."""

    def __init__(self, zone: Zone) -> None:
        self.zone = dict(zone)
        self._handle: ServerHandle | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> DemoDns:
        """Serve in a daemon thread; returns self."""
        zone = self.zone

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                try:
                    query = dns.message.from_wire(data)
                except dns.exception.DNSException:
                    return  # not DNS: drop it, as a server would
                sock.sendto(answer(zone, query).to_wire(), self.client_address)

        server = socketserver.ThreadingUDPServer((host, port), Handler)
        server.daemon_threads = True
        self._handle = serve_in_thread(server, "demo-dns")
        return self

    @property
    def address(self) -> str:
        """``IP:PORT`` for sesmon's ``dns.nameservers``."""
        if self._handle is None:
            raise RuntimeError("the DNS server is not started")
        return f"{self._handle.host}:{self._handle.port}"

    def stop(self) -> None:
        """Stop serving and join the server's thread."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
