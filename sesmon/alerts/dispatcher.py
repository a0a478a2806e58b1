"""Sends due outbox rows to their sinks: exponential backoff with jitter, Retry-After, giving up by age.

Exactly-once toward a sink rests on two rules: a row is marked delivered in the store as soon as
its sink acknowledges it, before anything else happens; and the row's notification id travels as the
``Idempotency-Key`` so a receiver can drop the one duplicate a crash between those two steps could
cause.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from collections.abc import Mapping

from sesmon.alerts.sinks import SendResult, Sink
from sesmon.logs import get_logger, log_event
from sesmon.rules import Notification
from sesmon.state.ports import OutboxPort, OutboxRow

log = get_logger("sesmon.alerts")


class DeliveryStats:
    """Thread-safe counters per sink: delivered, failed attempts, given up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.given_up: Counter[str] = Counter()

    def add(self, counter: Counter[str], sink: str) -> None:
        with self._lock:
            counter[sink] += 1

    def snapshot(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Copies of (delivered, failures, given_up)."""
        with self._lock:
            return dict(self.delivered), dict(self.failures), dict(self.given_up)


class Backoff:
    """Exponential backoff with "equal jitter": half the step fixed, half random (seeded for tests)."""

    def __init__(self, base: float = 5.0, cap: float = 600.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        # Jitter only spreads retries out; it needs no cryptographic strength.
        self.rng = rng or random.Random()  # noqa: S311

    def delay(self, attempts: int) -> float:
        """Seconds before retry number ``attempts`` (1 for the first retry)."""
        step = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        return float(step / 2 + self.rng.uniform(0, step / 2))


class Dispatcher:
    """Picks due outbox rows and sends them; safe to run from one job at a time."""

    def __init__(
        self,
        store: OutboxPort,
        sinks: Mapping[str, Sink],
        give_up_after: float,
        *,
        backoff: Backoff | None = None,
        stats: DeliveryStats | None = None,
        batch: int = 100,
    ) -> None:
        self.store = store
        self.sinks = sinks
        self.give_up_after = give_up_after
        self.backoff = backoff or Backoff()
        self.stats = stats or DeliveryStats()
        self.batch = batch
        self._lock = threading.Lock()

    def run_once(self, now: float) -> int:
        """Attempt every due row once; return how many were delivered."""
        with self._lock:
            delivered = 0
            failed_sinks: set[str] = set()
            for row in self.store.outbox_due(now, self.batch):
                if row.sink in failed_sinks:
                    continue  # that receiver just failed: leave its other rows for the next round
                if self._attempt(row, now):
                    delivered += 1
                else:
                    failed_sinks.add(row.sink)
            return delivered

    def _attempt(self, row: OutboxRow, now: float) -> bool:
        sink = self.sinks.get(row.sink)
        if sink is None:
            self._give_up(row, now, f"sink {row.sink} is no longer configured")
            return False
        notification = Notification.from_dict(row.payload)
        try:
            result = sink.send(notification, now)
        except Exception as exc:  # noqa: BLE001 - a sink bug must not stop the other rows
            result = SendResult(ok=False, retryable=True, error=f"sink {row.sink}: {type(exc).__name__}")
        if result.ok:
            # First thing after the acknowledgement: never send this row again.
            self.store.outbox_delivered(row.id, now)
            self.stats.add(self.stats.delivered, row.sink)
            log_event(
                log,
                logging.INFO,
                "notification_delivered",
                sink=row.sink,
                rule=notification.rule,
                status=notification.status,
                reason=notification.reason,
                notification=row.notification_id,
                attempts=row.attempts + 1,
            )
            return True
        self.stats.add(self.stats.failures, row.sink)
        if not result.retryable:
            self._give_up(row, now, f"permanent failure: {result.error}")
            return False
        if now - row.created >= self.give_up_after:
            self._give_up(row, now, f"too old after {row.attempts + 1} attempts: {result.error}")
            return False
        wait = max(self.backoff.delay(row.attempts + 1), result.retry_after or 0.0)
        self.store.outbox_retry(row.id, now + wait, result.error)
        log_event(
            log,
            logging.WARNING,
            "notification_failed",
            sink=row.sink,
            rule=notification.rule,
            notification=row.notification_id,
            attempts=row.attempts + 1,
            error=result.error,
            retry_in=round(wait, 1),
        )
        return False

    def _give_up(self, row: OutboxRow, now: float, error: str) -> None:
        self.store.outbox_give_up(row.id, now, error)
        self.stats.add(self.stats.given_up, row.sink)
        log_event(
            log,
            logging.ERROR,
            "notification_given_up",
            sink=row.sink,
            notification=row.notification_id,
            attempts=row.attempts + 1,
            error=error,
        )
