"""The alert rules of a config as a Prometheus rule file over sesmon's exported metrics (pure).

Each sesmon rule becomes one alerting rule per severity, all named after the rule and told apart by
the ``severity`` label. Each is one level of the built-in evaluator (sesmon/rules.py), which runs a
``for`` timer per level for exactly this reason: thresholds are inclusive, a firing level is kept
while the value stays at or above ``resolve_ratio`` times its threshold (``and on(...) ALERTS{...}``),
and below the ``min_recipients`` / ``min_events`` guards a firing level holds while a pending one is
dropped. tests/integration/test_rules_differential.py runs both engines over the same series.
What remains different is stated in the file header (and the README): above the critical line
both the warning and the critical alert fire (inhibit warning by critical in Alertmanager); a
series that disappears resolves at once rather than after ``resolve_missing_after``; rates the
exporter has no gauge for are computed from counters with ``increase()``, so the ``volume`` window
falls back to the longest sliding window for them.

The event-count families (counters, windows, last event) carry only ``target``; every query over
them joins ``sesmon_target_info`` back in (:func:`with_target_info`), so their alerts carry the same
``target, account_id, region, configuration_set`` as the AWS-polled ones. A rule over a family the
config's ``metrics`` details leave out would never fire: :func:`problems` names it and ``render``
refuses.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from sesmon.alerts.templates import default_templates, percent
from sesmon.config import Config, RuleConfig
from sesmon.durations import format_duration
from sesmon.rules import hold_line
from sesmon.signals import RATE_SIGNALS

TARGET = ("target", "account_id", "region")
SET = (*TARGET, "configuration_set")

# Counter-based rates: the numerator counter and its fixed matchers; the denominator is sent recipients.
_COUNTER_RATES: dict[str, tuple[str, str]] = {
    "transient_bounce_rate": ("sesmon_bounces_total", 'bounce_type="Transient"'),
    # Not sesmon_delivery_delays_total: that family is left out unless metrics.delay_types is on.
    "delivery_delay_rate": ("sesmon_recipients_total", 'event_type="delivery_delay"'),
    "reject_rate": ("sesmon_recipients_total", 'event_type="reject"'),
    "rendering_failure_rate": ("sesmon_recipients_total", 'event_type="rendering_failure"'),
}

# Condition signals: (metric, fixed matchers, comparison, labels identifying one alert).
_CONDITIONS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "enforcement_status": ("sesmon_account_enforcement_status", 'status!="HEALTHY"', "== 1", TARGET),
    "account_sending_disabled": ("sesmon_account_sending_enabled", "", "== 0", TARGET),
    "configuration_set_sending_disabled": ("sesmon_configuration_set_sending_enabled", "", "== 0", SET),
    "sandbox": ("sesmon_account_production_access_enabled", "", "== 0", TARGET),
    "identity_unverified": ("sesmon_identity_verified", "", "== 0", (*TARGET, "identity")),
    "dkim_not_successful": (
        "sesmon_identity_dkim_status",
        'status!="SUCCESS"',
        "== 1",
        (*TARGET, "identity"),
    ),
    "dns_check_failed": ("sesmon_dns_check_ok", "", "== 0", (*TARGET, "domain", "check")),
    "event_type_not_routed": ("sesmon_configuration_set_event_type_routed", "", "== 0", (*SET, "event_type")),
    "source_down": ("sesmon_source_up", "", "== 0", (*TARGET, "source")),
    "canary_failed": ("sesmon_canary_up", "", "== 0", SET),
}


def selector(metric: str, *matchers: str) -> str:
    """``metric{a,b}`` from the non-empty matchers."""
    joined = ",".join(m for m in matchers if m)
    return f"{metric}{{{joined}}}" if joined else metric


def with_target_info(vector: str) -> str:
    """``vector`` (an event-count family, still with its scrape labels) with account_id and region.

    The event-count families carry only ``target`` so that a configuration set costs few bytes;
    sesmon_target_info, one series per target from the same scrape, carries its account and
    region. Joined on job and instance too, before any aggregation drops them, so two sesmon
    processes with a target of the same name never match each other's info series.
    """
    return f"{vector} * on(job, instance, target) group_left(account_id, region) sesmon_target_info"


def problems(config: Config) -> list[str]:
    """One line per rule the generated file could not evaluate (its family is not exported)."""
    if config.metrics.exports_bounce_types:
        return []
    # The only signal read from a family a metrics detail leaves out.
    return [
        f"alerts.rules[{index}].signal: {rule.name} ({rule.signal}) reads sesmon_bounces_total, which "
        "only metrics.bounce_types: true (or bounce_subtypes) exports; set it for the generated "
        "Prometheus rules"
        for index, rule in enumerate(config.alerts.rules)
        if rule.signal == "transient_bounce_rate"
    ]


@dataclass(frozen=True)
class Query:
    """How one rule's signal reads in PromQL."""

    value: str
    subject: tuple[str, ...]
    volume: str | None = None  # sent recipients behind the value (min_recipients)
    events: str | None = None  # the numerator's count (min_events)
    note: str = ""


def glob_regex(globs: Sequence[str]) -> str | None:
    """Shell globs as one RE2 alternation (already escaped for a PromQL string); None for ``*``."""
    if "*" in globs:
        return None
    parts = []
    for glob in globs:
        out = []
        for ch in glob:
            if ch == "*":
                out.append(".*")
            elif ch == "?":
                out.append(".")
            elif ch.isalnum() or ch in "_-":
                out.append(ch)
            else:
                out.append("\\\\" + ch)  # a regex escape, itself escaped inside the PromQL string
        parts.append("".join(out))
    return "|".join(parts)


def _matchers(rule: RuleConfig, with_set: bool) -> str:
    found = []
    targets = glob_regex(rule.targets)
    if targets is not None:
        found.append(f'target=~"{targets}"')
    sets = glob_regex(rule.configuration_sets)
    if with_set and sets is not None:
        found.append(f'configuration_set=~"{sets}"')
    return ",".join(found)


def query(rule: RuleConfig, config: Config) -> Query:
    """The PromQL pieces of ``rule``'s signal."""
    signal = rule.signal
    sets = _matchers(rule, with_set=True)
    account = _matchers(rule, with_set=False)
    if signal in ("bounce_rate", "complaint_rate"):
        name = "bounce" if signal == "bounce_rate" else "complaint"
        window = f'window="{rule.window}"'
        # One series per (set, window) carries the ratio, labelled by where its denominator came
        # from (Send events or CloudWatch Send); dropping that label keeps one alert per set when the
        # source changes.
        ratio_sel = with_target_info(selector(f"sesmon_window_{name}_ratio", window, sets))
        sent_sel = with_target_info(selector("sesmon_window_sent_recipients", window, sets))
        ratio = f"max without (denominator) ({ratio_sel})"
        sent = f"max without (denominator) ({sent_sel})"
        return Query(ratio, SET, volume=sent, events=f"{ratio} * {sent}")
    if signal in _COUNTER_RATES:
        window, note = rule.window or "", ""
        if window == "volume" or not window:
            window = max(config.windows, key=lambda w: config.window_seconds[w])
            note = f"volume window approximated by {window}"
        by = ", ".join(SET)
        metric, fixed = _COUNTER_RATES[signal]
        counted = with_target_info(f"increase({selector(metric, fixed, sets)}[{window}])")
        numerator = f"sum by ({by}) ({counted})"
        sent_sel = selector("sesmon_recipients_total", 'event_type="send"', sets)
        sent = f"sum by ({by}) ({with_target_info(f'increase({sent_sel}[{window}])')})"
        return Query(f"{numerator} / ({sent} > 0)", SET, volume=sent, events=numerator, note=note)
    if signal in ("cloudwatch_bounce_rate", "cloudwatch_complaint_rate"):
        name = "bounce" if signal == "cloudwatch_bounce_rate" else "complaint"
        value = selector(f"sesmon_configuration_set_reputation_{name}_ratio", sets)
        if "*" in rule.configuration_sets:
            value = f"{selector(f'sesmon_account_reputation_{name}_ratio', account)} or {value}"
        return Query(
            value, SET, note="CloudWatch reports no volume, so min_recipients/min_events do not apply"
        )
    if signal == "quota_usage":
        sent, quota = (
            selector("sesmon_send_quota_sent_last_24h", account),
            selector("sesmon_send_quota_max_24h", account),
        )
        return Query(f"{sent} / ({quota} > 0)", TARGET)
    if signal == "no_events":
        lengths = config.window_seconds
        # Like the ingestion provider: no window (or "volume") means the shortest sliding window.
        length = lengths[rule.window] if rule.window in lengths else min(lengths.values())
        last = with_target_info(selector("sesmon_configuration_set_last_event_timestamp_seconds", sets))
        return Query(f"time() - ({last}) >= {length:g}", SET)
    metric, fixed, comparison, subject = _CONDITIONS[signal]
    matchers = sets if "configuration_set" in subject else account
    return Query(f"{selector(metric, fixed, matchers)} {comparison}", subject)


def _go_template(text: str, rule: RuleConfig, severity: str, threshold: float | None, q: Query) -> str:
    """A sesmon ``{placeholder}`` template as a Prometheus (Go) template."""
    literal = {
        "rule": rule.name,
        "alertname": rule.name,
        "signal": rule.signal,
        "severity": severity,
        "status": "firing",
        "window": rule.window or "",
        "threshold": f"{threshold:g}" if threshold is not None else "",
        "threshold_pct": percent(threshold),
        "recipients": "?",
        "events": "?",
        "detail": "",
    }
    subject = " ".join(
        f"{k}={{{{ $labels.{k} }}}}" for k in q.subject if k not in TARGET[1:] and k != "target"
    )
    # As the built-in evaluator words it (rules.template_values): the target is always named.
    target = "{{ $labels.target }}"
    literal["subject"] = f"{subject} on target {target}" if subject else target
    out = []
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return text
    for plain, field, spec, _conversion in parts:
        out.append(plain.replace("{{", "{ {"))
        if field is None:
            continue
        if field == "value_pct" or (field == "value" and spec and spec.endswith("%")):
            out.append("{{ $value | humanizePercentage }}")
        elif field == "value":
            out.append("{{ $value }}")
        elif field in literal:
            out.append(literal[field])
        else:
            out.append(f"{{{{ $labels.{field} }}}}")
    return "".join(out)


def _annotations(rule: RuleConfig, severity: str, threshold: float | None, q: Query) -> dict[str, str]:
    summary_default, description_default = default_templates(rule.signal in RATE_SIGNALS, bool(rule.window))
    if rule.signal in RATE_SIGNALS and rule.window:
        # Prometheus has no recipients/events beside $value: a description without them.
        description_default = "{signal} is {value_pct} over {window}; {severity} threshold {threshold_pct}."
    summary = rule.summary or summary_default
    description = rule.description or description_default
    annotations = {
        "summary": _go_template(summary, rule, severity, threshold, q),
        "description": _go_template(description, rule, severity, threshold, q).strip(),
    }
    if rule.runbook_url:
        annotations["runbook_url"] = _go_template(rule.runbook_url, rule, severity, threshold, q)
    return annotations


def alerting_rules(rule: RuleConfig, config: Config) -> list[dict[str, Any]]:
    """The Prometheus alerting rules (one per severity) for one sesmon rule."""
    q = query(rule, config)
    on = f"on({', '.join(q.subject)})"
    levels: list[tuple[str, float | None]]
    if rule.signal in RATE_SIGNALS:
        levels = [
            (s, t) for s, t in (("warning", rule.warning), ("critical", rule.critical)) if t is not None
        ]
    else:
        levels = [(rule.severity, None)]
    out = []
    for severity, threshold in levels:
        firing = f'ALERTS{{alertname="{rule.name}", severity="{severity}", alertstate="firing"}}'
        if threshold is None:
            expr = q.value
        else:
            keep = hold_line(threshold, config.alerts.resolve_ratio)
            expr = f"(({q.value}) >= {threshold!r})\nor\n(({q.value}) >= {keep!r} and {on} {firing})"
        guards = []
        if rule.min_recipients and q.volume:
            guards.append(f"({q.volume}) >= {rule.min_recipients}")
        if rule.min_events and q.events:
            # The count is a ratio times a volume, so a whole number may come back as 4.999…:
            # half a unit of slack keeps ">= 5" meaning what it means for the built-in evaluator.
            guards.append(f"({q.events}) >= {rule.min_events - 0.5:g}")
        if guards:
            judged = f" and {on} ".join(f"({g})" for g in guards)
            # Below the guards a firing alert holds (too little volume to judge) and a pending one
            # is dropped, as in the built-in evaluator.
            expr = (
                f"(\n({expr})\nand {on} {judged}\n)\nor\n"
                f"(({q.value}) and {on} {firing} unless {on} ({judged}))"
            )
        item: dict[str, Any] = {"alert": rule.name, "expr": expr.strip() + "\n"}
        if rule.for_:
            item["for"] = format_duration(rule.for_)
        item["labels"] = {"severity": severity, "signal": rule.signal}
        item["annotations"] = _annotations(rule, severity, threshold, q)
        out.append(item)
    return out


def rule_file(config: Config) -> dict[str, Any]:
    """The whole rule file as data."""
    rules = [item for rule in config.alerts.rules for item in alerting_rules(rule, config)]
    return {"groups": [{"name": "sesmon", "rules": rules}]}


HEADER = """\
# Prometheus alerting rules generated by `sesmon rules` from the sesmon config; do not edit by hand.
# They are the built-in evaluator's rules over sesmon's exported metrics, one alert per severity
# level, with the same thresholds, `for`, hysteresis and min-volume guards. Differences: above the
# critical line both the warning and the critical alert fire (inhibit warning by critical in
# Alertmanager, equal: [alertname, target, configuration_set]); a series that disappears resolves
# at once, not after resolve_missing_after; counter-based rates use increase() over a sliding window,
# with Send events as their only denominator (the built-in evaluator also uses CloudWatch Send).
# Every alert carries target, account_id, region (and configuration_set where it is per set): the
# event-count families export only target, so their rules join sesmon_target_info for the rest.
"""


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render(config: Config) -> str:
    """The rule file as YAML text; ValueError (one line per rule) if :func:`problems` finds any."""
    if found := problems(config):
        raise ValueError("\n".join(found))
    notes = sorted(
        {f"# {r.name}: {query(r, config).note}\n" for r in config.alerts.rules if query(r, config).note}
    )
    body = yaml.dump(rule_file(config), Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True)
    return HEADER + "".join(notes) + body
