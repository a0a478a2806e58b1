"""Carries out the policy's decisions: records them with their transition, calls SES, reports the outcome.

Exactly once: a decision is written in the atomic write that stores the alert transition causing
it (:meth:`ActionRunner.documents` go into ``alert_commit``), keyed by that transition, before any
call is made, through the same state port as the alert state (so wherever it lives, a fleet's
shared database included, the two never disagree). Pending records
are then executed and their outcome written with its follow-up notification; a crash in between
leaves the record pending, so the next start makes the call again — the SES calls only set a flag,
so repeating one changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from sesmon import redact
from sesmon.actions.policy import (
    RESULTS,
    ActionRecord,
    announce,
    describe,
    outcome,
    paused,
    plan,
    records_from,
)
from sesmon.config import ACTIONS, AlertsConfig
from sesmon.logs import get_logger, log_event
from sesmon.rules import Notification
from sesmon.state.ports import AlertStore, Document, Lease, OutboxEntry
from sesmon.status import ActionRow, ActionsStatus, PausedRow

log = get_logger("sesmon.actions")

NAMESPACE = "actions"
STATUS_ROWS = 10


class Actuator(Protocol):
    """Makes the AWS call an action stands for; raises when it fails."""

    def apply(self, action: str, target: str, configuration_set: str) -> None: ...


Entries = Callable[[Sequence[Notification]], list[OutboxEntry]]


class ActionCounts:
    """``sesmon_actions_total`` as plain counters: (action, result) → count, every pair from zero."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter({(a, r): 0 for a in ACTIONS for r in RESULTS})

    def add(self, action: str, result: str) -> None:
        with self._lock:
            self._counts[(action, result)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)


class ActionRunner:
    """Plans actions for transitions, records them atomically with the alert state, executes them."""

    def __init__(self, config: AlertsConfig, store: AlertStore, actuator: Actuator) -> None:
        self.config = config
        self.store = store
        self.actuator = actuator
        self.rules = {r.name: r for r in config.rules if r.actions}
        self.counts = ActionCounts()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """True when some rule has an action."""
        return bool(self.rules)

    def history(self) -> list[ActionRecord]:
        """Every record, oldest first."""
        return records_from(self.store.kv_items(NAMESPACE))

    def plan(
        self, notifications: Sequence[Notification], now: float
    ) -> tuple[list[ActionRecord], list[Notification]]:
        """The records the transitions call for, and the notifications announcing them."""
        if not self.rules or not any(n.rule in self.rules for n in notifications):
            return [], list(notifications)
        records = plan(notifications, self.rules, self.config.actions, self.history(), now)
        return records, [announce(n, records) for n in notifications]

    def documents(self, records: Sequence[ActionRecord]) -> list[Document]:
        """``records`` as documents of the alert commit holding their transition."""
        return [Document(NAMESPACE, r.id, r.to_dict()) for r in records]

    def committed(self, records: Sequence[ActionRecord]) -> None:
        """Log and count decisions once their transaction has committed."""
        for record in records:
            if record.result != "pending":
                self._report(record)

    def run_pending(self, now: float, entries: Entries, *, fence: Lease | None = None) -> list[ActionRecord]:
        """Make the call of every pending record; write each outcome with its follow-up notification.

        The outcome is written fenced like the alert state: after a leadership change only the new
        leader records it (the call itself only sets a flag, so both making it changes nothing).
        """
        with self._lock:
            done = []
            for record in [r for r in self.history() if r.result == "pending"]:
                try:
                    self.actuator.apply(record.action, record.target, record.configuration_set)
                except Exception as exc:  # noqa: BLE001 - any failure is recorded and notified
                    error = redact.redact(f"{type(exc).__name__}: {exc}")[:300]
                    finished = dataclasses.replace(record, result="failed", error=error, finished=now)
                else:
                    finished = dataclasses.replace(record, result="done", finished=now)
                follow_up = outcome(finished)
                queued = entries([follow_up]) if follow_up is not None else []
                # The outcome and its notification, all or nothing.
                self.store.alert_commit(
                    NAMESPACE, finished.id, finished.to_dict(), queued, now=now, fence=fence
                )
                self._report(finished)
                done.append(finished)
            return done

    def _report(self, record: ActionRecord) -> None:
        self.counts.add(record.action, record.result)
        log_event(
            log,
            logging.WARNING if record.result in ("done", "failed") else logging.INFO,
            "action_" + record.result,
            action=record.action,
            target=record.target,
            configuration_set=record.configuration_set,
            rule=record.rule,
            reason=record.reason or None,
            error=record.error or None,
            record=record.id,
        )

    def status(self) -> ActionsStatus:
        """The status page's actions rows: what is paused, then the latest decisions."""
        history = self.history()
        return ActionsStatus(
            mode=self.config.actions.mode,
            paused=tuple(
                PausedRow(r.target, r.configuration_set, r.finished or r.at, r.rule) for r in paused(history)
            ),
            recent=tuple(ActionRow(r.at, r.result, describe(r)) for r in reversed(history[-STATUS_ROWS:])),
        )


def resume_record(target: str, configuration_set: str, now: float, error: str = "") -> ActionRecord:
    """The record of an operator's resume (``sesmon resume``): it re-arms the set's cooldown."""
    return ActionRecord(
        id=f"resume/{target}/{configuration_set}/{int(now * 1000)}",
        action="resume_configuration_set",
        target=target,
        configuration_set=configuration_set,
        rule="",
        result="failed" if error else "done",
        at=now,
        error=error,
        finished=now,
    )
