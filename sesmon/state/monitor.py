"""The state backend's health as the ``state`` source: write failures, recovery, a lost file, its birth."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Final, Protocol

from sesmon.health import SourceHealth
from sesmon.logs import get_logger, log_event

log = get_logger("sesmon.state")

SOURCE: Final = "state"
TARGET: Final = ""  # state belongs to no one target
# Successful writes refresh the source's last-success time at most this often: a batch commits
# many times a second, and the health record is shared with every receiver.
REFRESH_SECONDS: Final = 1.0


class StateListener(Protocol):
    """What a backend reports about its storage (every backend; the SQLite file also reports loss)."""

    def opened(self, created: float | None, new: bool) -> None:
        """The state was opened; it began at ``created`` if known (``new``: just now, nothing carried
        over)."""

    def write_failed(self, error: str) -> None:
        """A write transaction failed (disk full, read-only, I/O error); ``error`` holds no secret."""

    def write_succeeded(self) -> None:
        """A write transaction committed."""

    def lost(self, problem: str) -> None:
        """The storage was deleted or replaced under a running sesmon: nothing more is written."""


class StateSource:
    """A :class:`StateListener` that keeps ``state`` in :class:`SourceHealth` and counts failures.

    ``on_lost`` is called once when the storage is lost (the daemon stops with exit code 1).
    """

    def __init__(
        self,
        health: SourceHealth,
        clock: Callable[[], float],
        on_lost: Callable[[str], None] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        import time  # noqa: PLC0415 - only the default of an injected clock

        self.health = health
        self.clock = clock
        self.monotonic = monotonic or time.monotonic
        self.on_lost = on_lost
        self.created: float | None = None
        self.write_failures = 0
        self._lock = threading.Lock()
        self._up = False
        self._refreshed = float("-inf")
        self._lost = False
        health.expect(SOURCE, TARGET)

    def opened(self, created: float | None, new: bool) -> None:  # noqa: ARG002 - the backend announces a new state
        self.created = created
        self._mark_up()

    def write_failed(self, error: str) -> None:
        with self._lock:
            self.write_failures += 1
            self._up = False
        self.health.failure(SOURCE, TARGET, self.clock(), 0.0, error)

    def write_succeeded(self) -> None:
        if self._lost:
            return
        with self._lock:
            due = not self._up or self.monotonic() - self._refreshed >= REFRESH_SECONDS
        if due:
            recovered = self.write_failures > 0 and not self._up
            self._mark_up()
            if recovered:
                log_event(log, logging.WARNING, "state_write_recovered", failures=self.write_failures)

    def lost(self, problem: str) -> None:
        with self._lock:
            first = not self._lost
            self._lost = True
            self._up = False
        self.health.failure(SOURCE, TARGET, self.clock(), 0.0, problem)
        if first and self.on_lost is not None:
            self.on_lost(problem)

    def _mark_up(self) -> None:
        with self._lock:
            self._up = True
            self._refreshed = self.monotonic()
        self.health.success(SOURCE, TARGET, self.clock(), 0.0)
