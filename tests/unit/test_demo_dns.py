"""The demo's DNS answers (pure): the records a correctly set-up SES sending domain publishes."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode

from sesmon.demo.dns_server import answer, ses_zone
from sesmon.demo.middleware import dkim_tokens

ZONE = ses_zone("mail.example.com", "bounce.mail.example.com", "us-east-1")


def _ask(name: str, rdtype: str) -> dns.message.Message:
    return answer(ZONE, dns.message.make_query(name, rdtype))


def _texts(response: dns.message.Message) -> list[str]:
    return [rdata.to_text() for rrset in response.answer for rdata in rrset]


def test_spf_dmarc_and_mail_from() -> None:
    assert _texts(_ask("mail.example.com", "TXT")) == ['"v=spf1 include:amazonses.com ~all"']
    dmarc = _texts(_ask("_dmarc.mail.example.com", "TXT"))
    assert dmarc[0].startswith('"v=DMARC1; p=quarantine')
    assert _texts(_ask("bounce.mail.example.com", "MX")) == ["10 feedback-smtp.us-east-1.amazonses.com."]
    assert "include:amazonses.com" in _texts(_ask("bounce.mail.example.com", "TXT"))[0]
    assert _texts(_ask("amazonses.com", "TXT"))[0].startswith('"v=spf1 ip4:')


def test_easy_dkim_cnames_match_the_identity_tokens() -> None:
    for token in dkim_tokens("mail.example.com"):
        response = _ask(f"{token}._domainkey.mail.example.com", "CNAME")
        assert _texts(response) == [f"{token}.dkim.amazonses.com."]
        assert response.flags & dns.flags.AA


def test_unknown_names_are_nxdomain_and_missing_types_empty() -> None:
    assert _ask("nope.example.com", "TXT").rcode() == dns.rcode.NXDOMAIN
    empty = _ask("mail.example.com", "MX")
    assert empty.rcode() == dns.rcode.NOERROR
    assert empty.answer == []
