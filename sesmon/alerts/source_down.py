"""The ``source_down`` signal: 1 for each source/target whose last poll failed (from SourceHealth)."""

from __future__ import annotations

from sesmon.health import SourceHealth
from sesmon.signals import Observation


class SourceDownProvider:
    """Reports ``source_down`` per (source, target); the rule's ``for`` sets how long a failure must last."""

    def __init__(self, health: SourceHealth) -> None:
        self._health = health

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"source_down"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:  # noqa: ARG002
        if signal != "source_down":
            return []
        out = []
        for status in self._health.all():
            if not status.first_poll_done:
                continue  # not polled yet: neither up nor down
            failing = not status.up
            detail = f"{status.consecutive_failures} consecutive failures" if failing else ""
            out.append(
                Observation(
                    "source_down",
                    Observation.make_labels(source=status.source, target=status.target),
                    1.0 if failing else 0.0,
                    detail=detail,
                )
            )
        return out
