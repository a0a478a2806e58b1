"""The status page: renders a ``StatusReport`` as one HTML document, escaping every value (pure).

This is the only module that writes markup or formats numbers for the page; components report typed
rows (``sesmon/status.py``). Every piece of text that came from outside (names, errors, reasons) goes
through ``html.escape`` here, so no component can forget it.

The page is live: a few lines of plain JavaScript fetch :func:`render_main` (``/status/fragment``)
every few seconds and swap it in, without a reload. Rates are one format (:func:`percent`), coloured
against the levels of the rules that watch them; sparklines are inline SVG drawn here.

Past 400 lines on purpose: it is the single place that writes markup, so every section's
rendering sits here by design (the rows it renders live in ``status.py``).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import groupby

from sesmon.denominators import CLOUDWATCH
from sesmon.signals import RATE_SIGNALS
from sesmon.sparkline import sparkline
from sesmon.status import (
    AccountsStatus,
    ActionsStatus,
    AlertsStatus,
    CanaryStatus,
    DnsRow,
    IdentitiesStatus,
    IdentityRow,
    Levels,
    RateHistory,
    RatesStatus,
    RoutingStatus,
    Section,
    SourceRow,
    StatusReport,
)

# Where the page fetches its live part from (relative, so a path prefix in front of sesmon works).
FRAGMENT_PATH = "status/fragment"
REFRESH_SECONDS = 5

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:80em;line-height:1.35}"
    ".scroll{overflow-x:auto}table{border-collapse:collapse;margin:.3em 0 1em}"
    "caption{text-align:left;font-weight:600;padding:.2em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}"
    "thead th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".bad{color:#b00}.ok{color:#070}"
    ".lvl-ok{background:#e6f4e6}.lvl-warning{background:#fff1cc}.lvl-critical{background:#f9d6d5;color:#800}"
    ".meta{color:#555}"
    "svg.spark{display:block;fill:none;stroke:#246;stroke-width:1.4}svg.spark circle{fill:#246;stroke:none}"
    "svg.spark .level{stroke:#c60;stroke-dasharray:3 2;stroke-width:1}"
    "@media (max-width:40em){body{margin:.5em;font-size:.92em}td,th{padding:.15em .35em}}"
)

# Swaps in the fresh fragment every few seconds and keeps "updated N s ago" current.
_SCRIPT = (
    "(function(){var main=document.getElementById('status'),note=document.getElementById('refresh'),"
    "age=document.getElementById('age');"
    "function tick(){var t=main.querySelector('time[data-taken]');if(!t)return;"
    "age.textContent=Math.max(0,Math.round(Date.now()/1000-Number(t.dataset.taken)))+' s ago';}"
    "function refresh(){fetch('" + FRAGMENT_PATH + "',{cache:'no-store'}).then(function(r){"
    "if(!r.ok)throw new Error('HTTP '+r.status);return r.text();}).then(function(text){"
    "main.innerHTML=text;note.textContent='';tick();}).catch(function(e){"
    "note.textContent=' (refresh failed: '+e.message+'; retrying)';});}"
    "setInterval(refresh," + str(REFRESH_SECONDS * 1000) + ");setInterval(tick,1000);tick();})();"
)


def render(report: StatusReport) -> str:
    """The whole page: a static head and the live part (:func:`render_main`), refreshed in place."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        # No favicon request (and no 404 in the browser's console).
        "<link rel='icon' href='data:,'>"
        f"<title>sesmon</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>sesmon {_esc(report.version)}</h1>"
        f"<p class='meta'>Updated <span id='age'>now</span>; refreshes every {REFRESH_SECONDS} s"
        "<span id='refresh' role='status'></span> · "
        "<a href='metrics'>/metrics</a> · <a href='healthz'>/healthz</a> · <a href='readyz'>/readyz</a></p>"
        f"</header><main id='status'>{render_main(report)}</main><script>{_SCRIPT}</script></body></html>"
    )


def render_main(report: StatusReport) -> str:
    """The live part of the page: state, when the data was taken, and every section."""
    waiting = report.pending
    state = "ready" if not waiting else "starting (waiting for " + ", ".join(waiting) + ")"
    taken = ""
    if report.taken_at is not None:
        taken = (
            f" · data taken at <time datetime='{_iso(report.taken_at, 'T')}' "
            f"data-taken='{report.taken_at:.3f}'>{_iso(report.taken_at)}</time>"
        )
    sections = [("Sources", sources(report.sources))]
    sections += [
        (title, fragment) for title, section in report.sections if (fragment := render_section(section))
    ]
    body = "".join(f"<section><h2>{_esc(title)}</h2>{fragment}</section>" for title, fragment in sections)
    return f"<p>State: {_esc(state)}{taken}</p>{body}"


def render_section(section: Section) -> str:
    """One component's section as an HTML fragment."""
    match section:
        case RatesStatus():
            return rates(section)
        case AccountsStatus():
            return accounts(section)
        case IdentitiesStatus():
            return identities(section)
        case AlertsStatus():
            return alerts(section)
        case CanaryStatus():
            return canary(section)


# -- building blocks -------------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(text)


def _css(ok: bool | None) -> str:
    return "" if ok is None else f" class='{'ok' if ok else 'bad'}'"


def _td(text: str, ok: bool | None = None) -> str:
    return f"<td{_css(ok)}>{_esc(text)}</td>"


def _tr(cells: Iterable[str], ok: bool | None = None) -> str:
    """A row of already-rendered cells."""
    return f"<tr{_css(ok)}>{''.join(cells)}</tr>"


def _table(header: Iterable[str], rows: Iterable[str], caption: str | None = None) -> str:
    head = "".join(f"<th scope='col'>{_esc(h)}</th>" for h in header)
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return (
        f"<div class='scroll'><table>{cap}<thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def percent(value: float | None) -> str:
    """The page's one format for rates and shares: a percentage with two decimals (``6.22%``,
    ``0.05%``), ``<0.01%`` for a non-zero value that would round to zero, ``-`` for no value."""
    if value is None:
        return "-"
    if 0 < value < 0.00005:
        return "<0.01%"
    return f"{value * 100:.2f}%"


def _iso(timestamp: float, sep: str = " ") -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime(f"%Y-%m-%d{sep}%H:%M:%SZ")


def level(value: float | None, levels: Levels | None) -> str:
    """``ok``, ``warning`` or ``critical`` against the rules' levels; "" when unjudged."""
    if value is None or levels is None:
        return ""
    if levels.critical is not None and value >= levels.critical:
        return "critical"
    if levels.warning is not None and value >= levels.warning:
        return "warning"
    return "ok"


def _levels_text(levels: Levels | None) -> str:
    if levels is None:
        return "no rule watches this rate"
    bounds = [
        f"{name} at {percent(v)}"
        for name, v in (("warning", levels.warning), ("critical", levels.critical))
        if v is not None
    ]
    return f"{', '.join(bounds)} ({', '.join(levels.rules)})"


def _rate_td(value: float | None, levels: Levels | None) -> str:
    """A rate cell coloured by the rules watching it; the raw fraction rides along in data-value."""
    if value is None:
        return "<td class='num'>-</td>"
    judged = level(value, levels)
    css = f" lvl-{judged}" if judged else ""
    return (
        f"<td class='num{css}' data-value='{value!r}' title='{_esc(_levels_text(levels))}'>"
        f"{_esc(percent(value))}</td>"
    )


# -- sections ----------------------------------------------------------------------------------------


def sources(rows: Sequence[SourceRow]) -> str:
    """Every source of every target: up or down, and its last error."""
    return _table(
        ("source", "target", "state", "last error"),
        (
            _tr((_td(r.source), _td(r.target), _td("up" if r.up else "down", r.up), _td(r.last_error or "")))
            for r in rows
        ),
    )


def rates(section: RatesStatus) -> str:
    """Sent recipients and AWS-comparable rates per configuration set, a column group per window."""
    if not section.rows:
        return "<p>No SES events counted yet.</p>"
    header = ["target", "configuration set"]
    for w in section.windows:
        header += [f"sent {w}", f"bounce {w}", f"complaint {w}"]
    body = []
    for (target, cs), group in groupby(section.rows, key=lambda r: (r.target, r.configuration_set)):
        by_window = {r.window: r for r in group}
        cells = [_td(target), _td(cs)]
        for w in section.windows:
            row = by_window.get(w)
            if row is None or not row.events:
                cells += [_num("0"), _rate_td(None, None), _rate_td(None, None)]
                continue
            # A CloudWatch denominator is marked, so the page says where the sent count comes from.
            cells.append(_num(f"{row.sent}{' (CloudWatch)' if row.denominator == CLOUDWATCH else ''}"))
            cells.append(_rate_td(row.bounce_ratio, row.bounce_levels))
            cells.append(_rate_td(row.complaint_ratio, row.complaint_levels))
        body.append(_tr(cells))
    table = _table(header, body, "AWS-comparable rates, coloured by the alert rules that watch them")
    return table + (history(section.history) if section.history else "")


def _num(text: str) -> str:
    return f"<td class='num'>{_esc(text)}</td>"


def history(rows: Sequence[RateHistory]) -> str:
    """The last day per configuration set: sent recipients and a sparkline of each rate."""

    def spark(values: Sequence[float | None], levels: Levels | None, what: str) -> str:
        known = [v for v in values if v is not None]
        label = f"{what} rate per {rows[0].step // 60} minutes over the last 24 h: " + (
            f"highest {percent(max(known))}, latest {percent(known[-1])}" if known else "no sends"
        )
        line = levels.warning if levels is not None else None
        return f"<td>{sparkline(values, level=line, label=label, css=what)}</td>"

    body = (
        _tr(
            (
                _td(r.target),
                _td(r.configuration_set),
                _num(str(sum(r.sent))),
                spark(r.bounce, r.bounce_levels, "bounce"),
                spark(r.complaint, r.complaint_levels, "complaint"),
            )
        )
        for r in rows
    )
    return _table(
        ("target", "configuration set", "sent 24h", "bounce rate 24h", "complaint rate 24h"),
        body,
        "Last 24 hours (dashed: the lowest warning level of the rules watching the rate)",
    )


def accounts(section: AccountsStatus) -> str:
    """SES account state and CloudWatch account reputation per target."""
    header = (
        "target",
        "account",
        "region",
        "enforcement",
        "sandbox",
        "sending",
        "quota used",
        "bounce rate (CloudWatch)",
        "complaint rate (CloudWatch)",
    )
    body = (
        _tr(
            (
                _td(r.target),
                _td(r.account_id),
                _td(r.region),
                _td(r.enforcement_status or "-"),
                _td(_yes_no(r.sandbox)),
                _td(_yes_no(r.sending_enabled)),
                _rate_td(r.quota_usage, r.quota_levels),
                _rate_td(r.cloudwatch_bounce_ratio, r.cloudwatch_bounce_levels),
                _rate_td(r.cloudwatch_complaint_ratio, r.cloudwatch_complaint_levels),
            ),
            r.ok,
        )
        for r in section.rows
    )
    return _table(header, body)


def identities(section: IdentitiesStatus) -> str:
    """Per target: its identities, DNS authentication checks and event-routing gaps."""
    parts: list[str] = []
    for target in section.targets:
        parts.append(f"<h3>{_esc(target.target)}</h3>")
        parts.append(_identities_table(target.identities))
        parts.append(_dns_table(target.dns))
        parts.append(_routing_summary(target.routing))
    return "".join(parts)


def _identities_table(rows: Sequence[IdentityRow] | None) -> str:
    if rows is None:
        return "<p>Identities: not polled yet.</p>"
    if not rows:
        return "<p>Identities: none.</p>"
    return _table(
        ("identity", "type", "verified", "DKIM", "MAIL FROM", "sending"),
        (
            _tr(
                (
                    _td(i.name),
                    _td(i.identity_type),
                    _td("yes" if i.verified else f"no ({i.verification_status or 'unknown'})"),
                    _td(i.dkim_status + ("" if i.dkim_signing_enabled else ", signing off")),
                    _td(f"{i.mail_from_domain} ({i.mail_from_status})" if i.mail_from_domain else "-"),
                    _td(_yes_no(i.sending_enabled)),
                ),
                i.ok,
            )
            for i in rows
        ),
    )


def _dns_table(rows: Sequence[DnsRow]) -> str:
    if not rows:
        return "<p>DNS checks: no verified domain identities checked yet.</p>"

    def reason(row: DnsRow) -> str:
        if row.ok is not None or row.last_result is None:
            return row.reason
        return f"{row.reason}; last known: {row.last_result} ({row.last_reason})"

    return _table(
        ("domain", "check", "result", "reason"),
        (_tr((_td(r.domain), _td(r.check), _td(r.result), _td(reason(r))), r.ok) for r in rows),
    )


def _routing_summary(routing: RoutingStatus | None) -> str:
    if routing is None:
        return "<p>Event routing: not checked yet.</p>"
    capped = f" ({routing.dropped} sets over max_configuration_sets not checked)" if routing.dropped else ""
    if not routing.gaps:
        checked = routing.sets_checked
        return f"<p>Event routing: every checked event type of {checked} sets is routed{_esc(capped)}.</p>"
    return f"<p>Event routing gaps{_esc(capped)}:</p>" + _table(
        ("configuration set", "event type", "why"),
        (_tr((_td(g.configuration_set), _td(g.event_type), _td(g.why)), False) for g in routing.gaps),
    )


def alerts(section: AlertsStatus) -> str:
    """Firing alerts, then each sink's delivery counts."""
    firing = (
        _table(
            ("rule", "severity", "labels", "value", "since"),
            (
                _tr(
                    (
                        _td(a.rule),
                        _td(a.severity, False),
                        _td(", ".join(f"{k}={v}" for k, v in a.labels)),
                        _num(percent(a.value) if a.signal in RATE_SIGNALS else "holds"),
                        _td(_iso(a.since)),
                    )
                )
                for a in section.firing
            ),
        )
        if section.firing
        else "<p>No alerts firing.</p>"
    )
    sinks = (
        _table(
            ("sink", "type", "pending", "delivered", "failed attempts", "given up"),
            (
                _tr(
                    (
                        _td(s.name),
                        _td(s.type),
                        _td(str(s.pending)),
                        _td(str(s.delivered)),
                        _td(str(s.failed_attempts)),
                        _td(str(s.given_up)),
                    )
                )
                for s in section.sinks
            ),
        )
        if section.sinks
        else ""
    )
    acted = actions(section.actions) if section.actions is not None else ""
    return f"<h3>Firing alerts</h3>{firing}{sinks}{acted}"


def actions(section: ActionsStatus) -> str:
    """What sesmon paused (and how to resume it), then the latest action decisions."""
    paused = (
        _table(
            ("target", "paused", "since", "rule"),
            (
                _tr(
                    (
                        _td(p.target),
                        _td(
                            f"configuration set {p.configuration_set}"
                            if p.configuration_set
                            else "the account",
                            False,
                        ),
                        _td(_iso(p.since)),
                        _td(p.rule),
                    )
                )
                for p in section.paused
            ),
        )
        + "<p>Resume with <code>sesmon resume --configuration-set NAME</code>.</p>"
        if section.paused
        else "<p>Nothing paused by sesmon.</p>"
    )
    recent = (
        _table(
            ("at", "result", "action"),
            (
                _tr((_td(_iso(r.at)), _td(r.result, r.result not in ("refused", "failed")), _td(r.text)))
                for r in section.recent
            ),
        )
        if section.recent
        else ""
    )
    return f"<h3>Actions (mode {_esc(section.mode)})</h3>{paused}{recent}"


def canary(section: CanaryStatus) -> str:
    """Each probed configuration set: its latest probe, round trip and last success."""
    return (
        "<p>Probe messages to the SES mailbox simulator; simulator recipients never count in the rates.</p>"
        + _table(
            ("target", "configuration set", "state", "round trip", "last success", "probes sent", "detail"),
            (
                _tr(
                    (
                        _td(r.target),
                        _td(r.configuration_set),
                        _td("waiting" if r.ok is None else ("ok" if r.ok else "failed"), r.ok),
                        _td("-" if r.last_roundtrip is None else f"{r.last_roundtrip:.1f} s"),
                        _td("-" if r.last_success is None else _iso(r.last_success)),
                        _td(str(r.sent)),
                        _td(r.detail),
                    )
                )
                for r in section.rows
            ),
        )
    )
