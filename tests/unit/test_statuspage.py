"""The status page renders typed rows: every value escaped, numbers formatted in one place."""

from __future__ import annotations

from sesmon import statuspage
from sesmon.status import (
    AccountRow,
    AccountsStatus,
    AlertRow,
    AlertsStatus,
    DnsRow,
    IdentitiesStatus,
    IdentityRow,
    IdentityTargetStatus,
    RateRow,
    RatesStatus,
    RoutingGapRow,
    RoutingStatus,
    SinkRow,
    SourceRow,
    StatusReport,
)

EVIL = "<b>&'\""


def test_page_has_version_state_links_and_sections_in_order() -> None:
    report = StatusReport(
        version="9.9.9",
        pending=(),
        sources=(SourceRow("sqs", "prod", up=True),),
        sections=(
            ("alerts", AlertsStatus((), ())),
            ("identities", IdentitiesStatus(())),
        ),
    )
    page = statuspage.render(report)
    assert page.startswith("<!doctype html>")
    assert "<h1>sesmon 9.9.9</h1><p>State: ready</p>" in page
    assert "<a href='/metrics'>/metrics</a>" in page
    assert "<td>sqs</td><td>prod</td><td class='ok'>up</td><td></td>" in page
    assert page.index("<h2>Sources</h2>") < page.index("<h2>alerts</h2>")
    assert "<h2>identities</h2>" not in page  # an empty section is left out


def test_every_outside_value_is_escaped() -> None:
    report = StatusReport(
        version=EVIL,
        pending=(EVIL,),
        sources=(SourceRow(EVIL, EVIL, up=False, last_error=EVIL),),
        sections=(
            (EVIL, RatesStatus((EVIL,), (RateRow(EVIL, EVIL, EVIL, 1, 1, 0.5, 0.25),))),
            (
                "aws",
                AccountsStatus((AccountRow(EVIL, EVIL, EVIL, EVIL, None, None, None, None, None, ok=False),)),
            ),
            (
                "identities",
                IdentitiesStatus(
                    (
                        IdentityTargetStatus(
                            EVIL,
                            (IdentityRow(EVIL, EVIL, False, EVIL, EVIL, False, EVIL, EVIL, True),),
                            (DnsRow(EVIL, EVIL, "unknown", EVIL, EVIL, EVIL),),
                            RoutingStatus(1, 0, (RoutingGapRow(EVIL, EVIL, EVIL),)),
                        ),
                    )
                ),
            ),
            (
                "alerts",
                AlertsStatus(
                    (AlertRow(EVIL, EVIL, ((EVIL, EVIL),), 1.0, 0.0),), (SinkRow(EVIL, EVIL, 0, 0, 0, 0),)
                ),
            ),
        ),
    )
    page = statuspage.render(report)
    assert "<b>" not in page
    assert "&lt;b&gt;&amp;&#x27;&quot;" in page


def test_rates_one_row_per_set_with_a_column_group_per_window() -> None:
    section = RatesStatus(
        windows=("1h", "volume"),
        rows=(
            RateRow(
                "prod", "marketing", "1h", sent=200, events=210, bounce_ratio=0.0125, complaint_ratio=0.0005
            ),
            RateRow("prod", "marketing", "volume", sent=0, events=0, bounce_ratio=None, complaint_ratio=None),
            RateRow("prod", "tx", "1h", sent=10, events=10, bounce_ratio=0.0, complaint_ratio=0.0),
        ),
    )
    html = statuspage.render_section(section)
    assert (
        "<tr><th>target</th><th>configuration set</th><th>sent 1h</th><th>bounce % 1h</th>"
        "<th>complaint % 1h</th><th>sent volume</th><th>bounce % volume</th><th>complaint % volume</th></tr>"
    ) in html
    assert (
        "<tr><td>prod</td><td>marketing</td><td>200</td><td>1.25</td><td>0.050</td>"
        "<td>0</td><td>-</td><td>-</td></tr>"
    ) in html
    # A window the set has no row for shows as empty too.
    assert (
        "<tr><td>prod</td><td>tx</td><td>10</td><td>0.00</td><td>0.000</td><td>0</td><td>-</td><td>-</td></tr>"
        in html
    )
    assert statuspage.render_section(RatesStatus(("1h",), ())) == "<p>No SES events counted yet.</p>"


def test_accounts_format_quota_and_reputation_and_mark_problems() -> None:
    rows = (
        AccountRow("east", "111", "us-east-1", "HEALTHY", False, True, 0.02, 0.011, 0.0004, ok=True),
        AccountRow("west", "222", "eu-west-1", "PROBATION", True, True, None, None, None, ok=False),
        AccountRow("new", "333", "us-west-2", None, None, None, None, None, None, ok=True),
    )
    html = statuspage.render_section(AccountsStatus(rows))
    assert (
        "<tr class='ok'><td>east</td><td>111</td><td>us-east-1</td><td>HEALTHY</td><td>no</td><td>yes</td>"
        "<td>2.0%</td><td>1.10%</td><td>0.04%</td></tr>"
    ) in html
    assert "<tr class='bad'><td>west</td><td>222</td><td>eu-west-1</td><td>PROBATION</td><td>yes</td>" in html
    assert (
        "<td>new</td><td>333</td><td>us-west-2</td><td>-</td><td>-</td><td>-</td><td>-</td><td>-</td><td>-</td>"
        in html
    )


def test_identities_dns_and_routing() -> None:
    target = IdentityTargetStatus(
        "prod",
        (
            IdentityRow("pending.example", "domain", False, "PENDING", "PENDING", True, None, None, True),
            IdentityRow(
                "ok.example", "domain", True, "SUCCESS", "SUCCESS", False, "mail.ok.example", "SUCCESS", False
            ),
        ),
        (
            DnsRow("ok.example", "spf", "ok", "include:amazonses.com"),
            DnsRow("ok.example", "dmarc", "unknown", "timeout", last_result="fail", last_reason="no record"),
        ),
        RoutingStatus(3, 2, (RoutingGapRow("tx", "reject", "no enabled destination publishes it"),)),
    )
    html = statuspage.render_section(IdentitiesStatus((target,)))
    assert html.startswith("<h3>prod</h3>")
    assert (
        "<tr class='bad'><td>pending.example</td><td>domain</td><td>no (PENDING)</td><td>PENDING</td>"
        "<td>-</td>" in html
    )
    assert "<td>SUCCESS, signing off</td><td>mail.ok.example (SUCCESS)</td><td>no</td>" in html
    assert (
        "<tr class='ok'><td>ok.example</td><td>spf</td><td>ok</td><td>include:amazonses.com</td></tr>" in html
    )
    assert (
        "<tr><td>ok.example</td><td>dmarc</td><td>unknown</td>"
        "<td>timeout; last known: fail (no record)</td></tr>" in html
    )
    assert "<p>Event routing gaps (2 sets over max_configuration_sets not checked):</p>" in html
    assert (
        "<tr class='bad'><td>tx</td><td>reject</td><td>no enabled destination publishes it</td></tr>" in html
    )


def test_identities_not_polled_and_empty() -> None:
    html = statuspage.render_section(
        IdentitiesStatus(
            (
                IdentityTargetStatus("a", None, (), None),
                IdentityTargetStatus("b", (), (), RoutingStatus(4, 0, ())),
            )
        )
    )
    assert "<h3>a</h3><p>Identities: not polled yet.</p><p>DNS checks: no verified domain identities" in html
    assert "<p>Event routing: not checked yet.</p>" in html
    assert "<h3>b</h3><p>Identities: none.</p>" in html
    assert "<p>Event routing: every checked event type of 4 sets is routed.</p>" in html


def test_alerts_and_sinks() -> None:
    section = AlertsStatus(
        firing=(
            AlertRow(
                "BounceRateHigh", "critical", (("configuration_set", "mkt"),), 0.0612345, 1_790_000_000.0
            ),
        ),
        sinks=(SinkRow("hook", "webhook", pending=2, delivered=5, failed_attempts=3, given_up=1),),
    )
    html = statuspage.render_section(section)
    assert (
        "<tr><td>BounceRateHigh</td><td class='bad'>critical</td><td>configuration_set=mkt</td>"
        "<td>0.06123</td><td>2026-09-21 14:13:20Z</td></tr>"
    ) in html
    assert "<tr><td>hook</td><td>webhook</td><td>2</td><td>5</td><td>3</td><td>1</td></tr>" in html
    assert statuspage.render_section(AlertsStatus((), ())) == "<h3>Firing alerts</h3><p>No alerts firing.</p>"
