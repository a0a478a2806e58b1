"""Per-source, per-target health: the one place where poll outcomes are recorded."""

from __future__ import annotations

import threading
from dataclasses import replace

from sesmon.model import SourceStatus


class SourceHealth:
    """Thread-safe record of every source's last poll, for readiness, metrics and the status page."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[tuple[str, str], SourceStatus] = {}

    def expect(self, source: str, target: str) -> None:
        """Declare a source that must complete a first poll before the daemon is ready."""
        with self._lock:
            self._status.setdefault((source, target), SourceStatus(source=source, target=target))

    def success(self, source: str, target: str, now: float, duration: float) -> None:
        """Record a successful poll that finished at ``now``."""
        with self._lock:
            old = self._status.get((source, target), SourceStatus(source=source, target=target))
            self._status[(source, target)] = replace(
                old,
                up=True,
                last_success=now,
                last_duration=duration,
                last_error=None,
                first_poll_done=True,
                consecutive_failures=0,
                failing_since=None,
            )

    def failure(self, source: str, target: str, now: float, duration: float, error: str) -> None:
        """Record a failed poll; ``error`` must already be free of secrets."""
        with self._lock:
            old = self._status.get((source, target), SourceStatus(source=source, target=target))
            self._status[(source, target)] = replace(
                old,
                up=False,
                last_duration=duration,
                last_error=error,
                first_poll_done=True,
                consecutive_failures=old.consecutive_failures + 1,
                failing_since=old.failing_since if old.failing_since is not None else now,
            )

    def all(self) -> list[SourceStatus]:
        """Every status, sorted by source then target."""
        with self._lock:
            return sorted(self._status.values(), key=lambda s: (s.source, s.target))

    def pending(self) -> list[str]:
        """``source/target`` names that have not finished a first poll yet."""
        return [f"{s.source}/{s.target}" for s in self.all() if not s.first_poll_done]
