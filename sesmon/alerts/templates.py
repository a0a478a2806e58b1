"""Rule annotation templates: ``str.format_map`` over a safe mapping, so a typo never breaks an alert.

Placeholders (see ``config.example.yaml``): ``{rule}`` (also ``{alertname}``), ``{signal}``,
``{severity}``, ``{status}``, ``{value}`` (a float; ``{value:.2%}`` works), ``{value_pct}`` (e.g.
``5.20%``), ``{threshold}`` / ``{threshold_pct}``, ``{window}``, ``{recipients}``, ``{events}``,
``{detail}`` and every label of the alert, e.g. ``{configuration_set}``, ``{target}``,
``{identity}``, ``{domain}``, ``{check}``, ``{event_type}``, ``{source}``. An unknown placeholder is
left as written.
"""

from __future__ import annotations

from collections.abc import Mapping


class _Safe(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Fill ``template``; a malformed template or format spec yields the template unchanged."""
    try:
        return template.format_map(_Safe(values))
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return template


def percent(value: float | None) -> str:
    """A fraction as a short percentage: 0.052 → ``5.2%``, 0.00081 → ``0.081%``."""
    if value is None:
        return ""
    return f"{value * 100:.3g}%"


DEFAULT_SUMMARY_RATE = "{rule}: {signal} {value_pct} over {window} (threshold {threshold_pct}) for {subject}"
DEFAULT_SUMMARY_CONDITION = "{rule}: {signal} for {subject}"
DEFAULT_DESCRIPTION_RATE = (
    "{signal} is {value_pct} over {window} with {recipients} recipients and {events} events; "
    "{severity} threshold {threshold_pct}."
)
DEFAULT_DESCRIPTION_CONDITION = "{signal} holds for {subject}. {detail}"


def default_templates(is_rate: bool, has_window: bool) -> tuple[str, str]:
    """The (summary, description) templates used when a rule sets none."""
    if not is_rate:
        return DEFAULT_SUMMARY_CONDITION, DEFAULT_DESCRIPTION_CONDITION
    if has_window:
        return DEFAULT_SUMMARY_RATE, DEFAULT_DESCRIPTION_RATE
    return (
        "{rule}: {signal} {value_pct} (threshold {threshold_pct}) for {subject}",
        "{signal} is {value_pct}; {severity} threshold {threshold_pct}. {detail}",
    )
