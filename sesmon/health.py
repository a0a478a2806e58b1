"""Per-source health and the daemon's own heartbeats: what readiness, liveness and metrics read."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from sesmon.model import SourceStatus


class SourceHealth:
    """Thread-safe record of every source's last cycle, for readiness, metrics and the status page.

    A source is any named thing whose work can fail (``sqs``, ``cloudwatch``, ``account``, ``state`` …)
    for a target (a target name, or any fixed label for process-wide sources). A cycle succeeds only
    when all of its work did: for SQS, receive, commit and delete.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: dict[tuple[str, str], SourceStatus] = {}

    def expect(self, source: str, target: str) -> None:
        """Declare a source that must succeed once before the daemon is ready."""
        with self._lock:
            self._status.setdefault((source, target), SourceStatus(source=source, target=target))

    def success(self, source: str, target: str, now: float, duration: float) -> None:
        """Record a successful cycle that finished at ``now``."""
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
        """Record a failed cycle; ``error`` must already be free of secrets."""
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
        """What readiness waits for: each source that has not succeeded once, with its last error.

        Finishing a poll is not enough: with no credentials every poll finishes, and fails.
        """
        return [_waiting(s) for s in self.all() if s.last_success is None]


def _waiting(status: SourceStatus) -> str:
    name = f"{status.source}/{status.target}"
    if status.last_error is None:
        return f"{name} (no successful cycle yet)"
    return f"{name} (last error: {status.last_error})"


class Heartbeats:
    """When each of sesmon's own loops last made progress, for liveness (``/healthz``).

    A loop (an SQS receiver, the scheduler) registers with the longest silence its work can take
    when it is healthy, then beats whenever it completes a step, including a failed AWS call or a
    backoff: an AWS outage slows a loop but never silences it. Only a loop that stopped beating for
    longer than its limit is stalled, which is what a restart can fix.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits: dict[str, float] = {}
        self._beats: dict[str, float] = {}

    def register(self, name: str, limit: float) -> None:
        """Watch ``name``: it is stalled after ``limit`` seconds without a beat (counted from now)."""
        with self._lock:
            self._limits[name] = limit
            self._beats[name] = self._clock()

    def unregister(self, name: str) -> None:
        """Stop watching ``name`` (its loop ended on purpose)."""
        with self._lock:
            self._limits.pop(name, None)
            self._beats.pop(name, None)

    def beat(self, name: str) -> None:
        """``name`` made progress now."""
        with self._lock:
            if name in self._limits:
                self._beats[name] = self._clock()

    def stalled(self) -> list[str]:
        """Names silent for longer than their limit, with how long, sorted."""
        now = self._clock()
        with self._lock:
            return [
                f"{name} (no progress for {now - self._beats[name]:.0f}s)"
                for name, limit in sorted(self._limits.items())
                if now - self._beats[name] > limit
            ]
