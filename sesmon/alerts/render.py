"""Payload renderers, one per sink type (pure): notification + time in, JSON-ready dict out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sesmon.alerts.templates import percent
from sesmon.rules import Notification

# Alertmanager's resolve_timeout defaults to 5m; an explicit endsAt this far ahead, refreshed every
# minute, keeps the alert alive across a few missed refreshes yet lets it expire if sesmon dies.
ALERTMANAGER_TTL = 300.0
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
_PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}
_SLACK_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


def rfc3339(timestamp: float) -> str:
    """Unix seconds → ``2026-01-02T03:04:05.678Z``."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def alert_labels(n: Notification) -> dict[str, str]:
    """Stable alert labels: ``alertname``, ``severity``, the observation's labels, always
    ``configuration_set`` and ``target`` (empty when they do not apply, so label sets stay uniform)."""
    labels = {"configuration_set": "", "target": "", **dict(n.labels)}
    labels.update(alertname=n.rule, severity=n.severity, signal=n.signal)
    return labels


def alert_annotations(n: Notification) -> dict[str, str]:
    """Human text: summary, description and, when configured, runbook_url."""
    annotations = {"summary": n.summary, "description": n.description}
    if n.runbook_url:
        annotations["runbook_url"] = n.runbook_url
    if n.threshold is not None:
        annotations["value"] = f"{n.value:.6g}"
        annotations["threshold"] = f"{n.threshold:.6g}"
    return annotations


def _am_alert(n: Notification, now: float) -> dict[str, Any]:
    ends = n.ends_at if n.status == "resolved" and n.ends_at is not None else now + ALERTMANAGER_TTL
    return {
        "labels": alert_labels(n),
        "annotations": alert_annotations(n),
        "startsAt": rfc3339(n.starts_at),
        "endsAt": rfc3339(ends),
    }


def webhook_payload(n: Notification, receiver: str, external_url: str = "") -> dict[str, Any]:
    """A body shaped like Alertmanager's webhook payload (version 4) carrying one alert."""
    labels = alert_labels(n)
    ends = rfc3339(n.ends_at) if n.ends_at is not None else "0001-01-01T00:00:00Z"
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{n.rule}"}}',
        "truncatedAlerts": 0,
        "status": n.status,
        "receiver": receiver,
        "groupLabels": {"alertname": n.rule},
        "commonLabels": labels,
        "commonAnnotations": alert_annotations(n),
        "externalURL": external_url,
        "alerts": [
            {
                "status": n.status,
                "labels": labels,
                "annotations": alert_annotations(n),
                "startsAt": rfc3339(n.starts_at),
                "endsAt": ends,
                "generatorURL": external_url,
                "fingerprint": n.fingerprint,
            }
        ],
        # sesmon extras: why this notification was sent and its unique id (also the Idempotency-Key).
        "sesmon": {"notification_id": n.id, "reason": n.reason},
    }


def _volume(n: Notification) -> str:
    return f"{n.recipients} recipients, {n.events} events"


def slack_payload(n: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook body; blocks: rule, configuration set, rate vs threshold, window, volume."""
    state = "RESOLVED" if n.status == "resolved" else n.severity.upper()
    emoji = ":large_green_circle:" if n.status == "resolved" else _SLACK_EMOJI.get(n.severity, "")
    headline = f"{emoji} [{state}] {n.rule}"
    if n.reason in ("escalated", "deescalated", "repeat"):
        headline += f" ({n.reason})"
    rate = (
        f"{percent(n.value)} vs {percent(n.threshold)} threshold"
        if n.threshold is not None
        else (n.detail or ("holds" if n.status == "firing" else "cleared"))
    )
    fields = [
        ("Rule", n.rule),
        ("Configuration set", n.label("configuration_set") or "—"),
        ("Rate vs threshold" if n.threshold is not None else "Condition", rate),
        ("Window", n.window or "—"),
        ("Volume", _volume(n)),
        ("Target", n.label("target") or "—"),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _slack_escape(n.summary)}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{_slack_escape(v)}"} for k, v in fields],
        },
    ]
    context = [{"type": "mrkdwn", "text": f"started {rfc3339(n.starts_at)}"}]
    if n.runbook_url:
        context.append({"type": "mrkdwn", "text": f"<{n.runbook_url}|runbook>"})
    blocks.append({"type": "context", "elements": context})
    return {"text": f"[{state}] {n.summary}", "blocks": blocks}


def _slack_escape(text: str) -> str:
    # Slack mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def pagerduty_dedup_key(n: Notification) -> str:
    """Deterministic per alert episode, so trigger, re-trigger and resolve all address one incident."""
    return f"sesmon-{n.fingerprint}-{int(n.starts_at)}"


def pagerduty_payload(n: Notification, routing_key: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 event: trigger while firing, resolve when resolved."""
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "resolve" if n.status == "resolved" else "trigger",
        "dedup_key": pagerduty_dedup_key(n),
    }
    if n.status == "firing":
        body["payload"] = {
            "summary": n.summary[:1024],
            "source": n.label("target") or "sesmon",
            "severity": _PD_SEVERITY.get(n.severity, "warning"),
            "timestamp": rfc3339(n.at),
            "class": n.signal,
            "custom_details": {
                "rule": n.rule,
                "labels": dict(n.labels),
                "value": n.value,
                "threshold": n.threshold,
                "window": n.window,
                "recipients": n.recipients,
                "events": n.events,
                "detail": n.detail,
                "reason": n.reason,
                "description": n.description,
            },
        }
        if n.label("configuration_set"):
            body["payload"]["component"] = n.label("configuration_set")
        if n.runbook_url:
            body["links"] = [{"href": n.runbook_url, "text": "runbook"}]
    return body


def alertmanager_payload(notifications: Sequence[Notification], now: float) -> list[dict[str, Any]]:
    """A ``POST /api/v2/alerts`` body: firing alerts end ``ALERTMANAGER_TTL`` ahead, resolved ones now.

    ``severity`` is a label, so a change of severity is a different Alertmanager alert: the one left
    behind is resolved in the same post rather than left to time out.
    """
    body = []
    for n in notifications:
        body.append(_am_alert(n, now))
        if n.previous_severity and n.previous_severity != n.severity:
            left = _am_alert(n, now)
            left["labels"]["severity"] = n.previous_severity
            left["endsAt"] = rfc3339(now)
            body.append(left)
    return body
