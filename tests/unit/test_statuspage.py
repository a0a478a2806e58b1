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
    Levels,
    RateHistory,
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
    assert page.startswith("<!doctype html><html lang='en'>")
    assert "<meta name='viewport' content='width=device-width,initial-scale=1'>" in page
    assert "<header><h1>sesmon 9.9.9</h1>" in page
    assert "<main id='status'><p>State: ready</p>" in page
    assert "<a href='metrics'>/metrics</a>" in page
    assert (
        "<thead><tr><th scope='col'>source</th><th scope='col'>target</th><th scope='col'>state</th>"
        "<th scope='col'>last error</th></tr></thead><tbody><tr><td>sqs</td><td>prod</td>"
        "<td class='ok'>up</td><td></td></tr></tbody>"
    ) in page
    # The script refreshes the live part from the fragment every few seconds.
    assert f"fetch('{statuspage.FRAGMENT_PATH}'" in page
    assert f"setInterval(refresh,{statuspage.REFRESH_SECONDS * 1000})" in page
    assert page.index("<h2>Sources</h2>") < page.index("<h2>alerts</h2>")
    assert "<h2>identities</h2>" not in page  # an empty section is left out


def test_live_part_says_when_its_data_was_taken() -> None:
    report = StatusReport("1", (), (), taken_at=1_790_000_000.25)
    assert statuspage.render_main(report) == (
        "<p>State: ready · data taken at <time datetime='2026-09-21T14:13:20Z' data-taken='1790000000.250'>"
        "2026-09-21 14:13:20Z</time></p><section><h2>Sources</h2><div class='scroll'><table><thead><tr>"
        "<th scope='col'>source</th><th scope='col'>target</th><th scope='col'>state</th>"
        "<th scope='col'>last error</th></tr></thead><tbody></tbody></table></div></section>"
    )


def test_one_percent_format() -> None:
    assert [statuspage.percent(v) for v in (None, 0.0, 0.00004, 0.0005, 0.0615, 0.0622, 0.5, 1.0)] == [
        "-",
        "0.00%",
        "<0.01%",
        "0.05%",
        "6.15%",
        "6.22%",
        "50.00%",
        "100.00%",
    ]


def test_rates_are_coloured_against_the_rules_levels() -> None:
    levels = Levels(0.02, 0.05, ("BounceRateHigh",))
    assert [statuspage.level(v, levels) for v in (None, 0.0, 0.0199, 0.02, 0.049, 0.05)] == [
        "",
        "ok",
        "ok",
        "warning",
        "warning",
        "critical",
    ]
    assert statuspage.level(0.9, None) == ""
    assert statuspage.level(0.9, Levels(None, None, ("X",))) == "ok"
    assert statuspage.level(0.03, Levels(0.02, None, ("X",))) == "warning"


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
                "prod",
                "marketing",
                "1h",
                sent=200,
                events=210,
                bounce_ratio=0.0125,
                complaint_ratio=0.0005,
                bounce_levels=Levels(0.01, 0.05, ("BounceRateHigh", "BounceSpike")),
                complaint_levels=Levels(0.001, None, ("ComplaintRateHigh",)),
            ),
            RateRow("prod", "marketing", "volume", sent=0, events=0, bounce_ratio=None, complaint_ratio=None),
            RateRow("prod", "tx", "1h", sent=10, events=10, bounce_ratio=0.0, complaint_ratio=0.0),
        ),
    )
    html = statuspage.render_section(section)
    assert (
        "<caption>AWS-comparable rates, coloured by the alert rules that watch them</caption><thead><tr>"
        "<th scope='col'>target</th><th scope='col'>configuration set</th><th scope='col'>sent 1h</th>"
        "<th scope='col'>bounce 1h</th><th scope='col'>complaint 1h</th><th scope='col'>sent volume</th>"
        "<th scope='col'>bounce volume</th><th scope='col'>complaint volume</th></tr></thead>"
    ) in html
    assert (
        "<tr><td>prod</td><td>marketing</td><td class='num'>200</td>"
        "<td class='num lvl-warning' data-value='0.0125' "
        "title='warning at 1.00%, critical at 5.00% (BounceRateHigh, BounceSpike)'>1.25%</td>"
        "<td class='num lvl-ok' data-value='0.0005' title='warning at 0.10% (ComplaintRateHigh)'>0.05%</td>"
        "<td class='num'>0</td><td class='num'>-</td><td class='num'>-</td></tr>"
    ) in html
    # A window the set has no row for shows as empty too; a rate no rule watches is not coloured.
    assert (
        "<tr><td>prod</td><td>tx</td><td class='num'>10</td>"
        "<td class='num' data-value='0.0' title='no rule watches this rate'>0.00%</td>"
        "<td class='num' data-value='0.0' title='no rule watches this rate'>0.00%</td>"
        "<td class='num'>0</td><td class='num'>-</td><td class='num'>-</td></tr>"
    ) in html
    assert statuspage.render_section(RatesStatus(("1h",), ())) == "<p>No SES events counted yet.</p>"


def test_accounts_format_quota_and_reputation_and_mark_problems() -> None:
    rows = (
        AccountRow(
            "east",
            "111",
            "us-east-1",
            "HEALTHY",
            False,
            True,
            0.02,
            0.011,
            0.0004,
            ok=True,
            quota_levels=Levels(0.8, 0.95, ("QuotaNearlyUsed",)),
            cloudwatch_bounce_levels=Levels(0.01, 0.05, ("ReputationBounce",)),
        ),
        AccountRow("west", "222", "eu-west-1", "PROBATION", True, True, None, None, None, ok=False),
        AccountRow("new", "333", "us-west-2", None, None, None, None, None, None, ok=True),
    )
    html = statuspage.render_section(AccountsStatus(rows))
    assert (
        "<tr class='ok'><td>east</td><td>111</td><td>us-east-1</td><td>HEALTHY</td><td>no</td><td>yes</td>"
        "<td class='num lvl-ok' data-value='0.02' title='warning at 80.00%, critical at 95.00% "
        "(QuotaNearlyUsed)'>2.00%</td><td class='num lvl-warning' data-value='0.011' "
        "title='warning at 1.00%, critical at 5.00% (ReputationBounce)'>1.10%</td>"
        "<td class='num' data-value='0.0004' title='no rule watches this rate'>0.04%</td></tr>"
    ) in html
    assert "<tr class='bad'><td>west</td><td>222</td><td>eu-west-1</td><td>PROBATION</td><td>yes</td>" in html
    assert (
        "<td>new</td><td>333</td><td>us-west-2</td><td>-</td><td>-</td><td>-</td><td class='num'>-</td>"
        "<td class='num'>-</td><td class='num'>-</td>" in html
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
                "BounceRateHigh",
                "critical",
                (("configuration_set", "mkt"),),
                0.0612345,
                1_790_000_000.0,
                signal="bounce_rate",
            ),
            AlertRow(
                "SourceDown", "warning", (("source", "sqs"),), 1.0, 1_790_000_000.0, signal="source_down"
            ),
        ),
        sinks=(SinkRow("hook", "webhook", pending=2, delivered=5, failed_attempts=3, given_up=1),),
    )
    html = statuspage.render_section(section)
    assert (
        "<tr><td>BounceRateHigh</td><td class='bad'>critical</td><td>configuration_set=mkt</td>"
        "<td class='num'>6.12%</td><td>2026-09-21 14:13:20Z</td></tr>"
    ) in html
    assert "<td>source=sqs</td><td class='num'>holds</td>" in html
    assert "<tr><td>hook</td><td>webhook</td><td>2</td><td>5</td><td>3</td><td>1</td></tr>" in html
    assert statuspage.render_section(AlertsStatus((), ())) == "<h3>Firing alerts</h3><p>No alerts firing.</p>"


def test_history_draws_a_sparkline_per_rate_with_the_warning_level() -> None:
    row = RateHistory(
        "prod",
        "marketing",
        900,
        sent=(0, 100, 100, 0, 200),
        bounce=(None, 0.01, 0.03, None, 0.08),
        complaint=(None, 0.0, 0.0, None, 0.0),
        bounce_levels=Levels(0.02, 0.05, ("BounceRateHigh",)),
    )
    html = statuspage.render_section(
        RatesStatus(("1h",), (RateRow("prod", "marketing", "1h", 1, 1, 0, 0),), (row,))
    )
    assert (
        "<caption>Last 24 hours (dashed: the lowest warning level of the rules watching the rate)</caption>"
        in html
    )
    assert "<td>prod</td><td>marketing</td><td class='num'>400</td>" in html
    bounce = html[
        html.index("<svg class='spark bounce'") : html.index("</svg>", html.index("spark bounce")) + 6
    ]
    assert "aria-label='bounce rate per 15 minutes over the last 24 h: highest 8.00%, latest 8.00%'" in bounce
    assert bounce.count("<polyline") == 1  # the two joined points; the gap breaks the line
    assert bounce.count("<circle") == 1  # the lone last point
    assert bounce.count("<line class='level'") == 1
    complaint = html[html.index("<svg class='spark complaint'") :]
    assert "<line class='level'" not in complaint.split("</svg>")[0]  # no rule watches complaints here
