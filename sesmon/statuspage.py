"""The status page: renders a ``StatusReport`` as one HTML document, escaping every value (pure).

This is the only module that writes markup or formats numbers for the page; components report typed
rows (``sesmon/status.py``). Every piece of text that came from outside (names, errors, reasons) goes
through ``html.escape`` here, so no component can forget it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from itertools import groupby

from sesmon.denominators import CLOUDWATCH
from sesmon.status import (
    AccountsStatus,
    AlertsStatus,
    DnsRow,
    IdentitiesStatus,
    IdentityRow,
    RatesStatus,
    RoutingStatus,
    Section,
    SourceRow,
    StatusReport,
)

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    ".bad{color:#b00}.ok{color:#070}"
)


def render(report: StatusReport) -> str:
    """The whole page."""
    waiting = report.pending
    state = "ready" if not waiting else "starting (waiting for " + ", ".join(waiting) + ")"
    sections = [("Sources", sources(report.sources))]
    sections += [
        (title, fragment) for title, section in report.sections if (fragment := render_section(section))
    ]
    body = "".join(f"<section><h2>{_esc(title)}</h2>{fragment}</section>" for title, fragment in sections)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>sesmon</title><style>{_STYLE}</style>"
        f"</head><body><h1>sesmon {_esc(report.version)}</h1><p>State: {_esc(state)}</p>"
        "<p><a href='/metrics'>/metrics</a> · <a href='/healthz'>/healthz</a> · "
        "<a href='/readyz'>/readyz</a></p>"
        f"{body}</body></html>"
    )


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


def _table(header: Iterable[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _percent(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


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
        header += [f"sent {w}", f"bounce % {w}", f"complaint % {w}"]
    body = []
    for (target, cs), group in groupby(section.rows, key=lambda r: (r.target, r.configuration_set)):
        by_window = {r.window: r for r in group}
        cells = [_td(target), _td(cs)]
        for w in section.windows:
            row = by_window.get(w)
            if row is None or not row.events:
                cells += [_td("0"), _td("-"), _td("-")]
                continue
            # A CloudWatch denominator is marked, so the page says where the sent count comes from.
            cells.append(_td(f"{row.sent}{' (CloudWatch)' if row.denominator == CLOUDWATCH else ''}"))
            cells.append(_td("-" if row.bounce_ratio is None else f"{row.bounce_ratio * 100:.2f}"))
            cells.append(_td("-" if row.complaint_ratio is None else f"{row.complaint_ratio * 100:.3f}"))
        body.append(_tr(cells))
    return _table(header, body)


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
                _td(_percent(r.quota_usage, 1)),
                _td(_percent(r.cloudwatch_bounce_ratio, 2)),
                _td(_percent(r.cloudwatch_complaint_ratio, 2)),
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
                        _td(f"{a.value:.4g}"),
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
    return f"<h3>Firing alerts</h3>{firing}{sinks}"
