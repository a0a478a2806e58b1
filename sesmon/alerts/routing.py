"""Which sinks receive which notifications: ``min_severity`` and label ``match`` globs (pure)."""

from __future__ import annotations

from sesmon import globs
from sesmon.alerts.render import alert_labels
from sesmon.config import SinkConfig
from sesmon.rules import SEVERITY_RANK, Notification


def routes(sink: SinkConfig, notification: Notification) -> bool:
    """True when ``notification`` is at least ``min_severity`` and every ``match`` glob matches its
    label (``alertname``, ``severity``, ``signal``, ``target``, ``configuration_set`` …).

    Resolutions and de-escalations are judged by the episode's peak severity, so a critical-only
    sink that was paged also receives the matching resolve.
    """
    severity = notification.severity
    if notification.status == "resolved" or notification.reason == "deescalated":
        # A sink that was told of the episode's peak must also hear it calm down and end.
        severity = max(severity, notification.peak_severity, key=lambda s: SEVERITY_RANK.get(s, 0))
    if SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK[sink.min_severity]:
        return False
    labels = alert_labels(notification)
    return all(globs.matches(labels.get(name, ""), glob) for name, glob in sink.match.items())
