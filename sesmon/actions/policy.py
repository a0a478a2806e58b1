"""Which action an alert transition calls for, or why not (pure: records and time in, decisions out).

A rule's ``actions`` run on the transitions that raise an alert (``fired``, ``escalated``), never on
repeats or resolutions, so while an alert keeps firing nothing happens twice and a paused set is
paused again only after its rate has recovered and fired anew. Each decision becomes an
:class:`ActionRecord` whose id derives from the transition's notification id: written with that
transition, it is what makes an action happen at most once per transition across restarts.

The guards, in order (the first that holds refuses, with its reason): the alert's severity
(``min_severity``), something to pause (a real configuration set, or the account when
``allow_account_pause``), the allow-list, the volume behind the rate (``min_recipients``), pauses
of the target in the last 24 hours (``max_per_day``) and the time since this set's last pause
(``cooldown``; ``sesmon resume`` re-arms it). A decision that passes is ``dry_run`` until
``mode: enforce``, then ``pending`` until the SES call has been made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sesmon.config import ActionsConfig, RuleConfig
from sesmon.durations import format_duration
from sesmon.rules import SEVERITY_RANK, Notification

Result = Literal["pending", "done", "dry_run", "refused", "failed"]
RESULTS: tuple[Result, ...] = ("done", "dry_run", "refused", "failed")
PAUSE_SET = "pause_configuration_set"
PAUSE_ACCOUNT = "pause_account"
RESUME_SET = "resume_configuration_set"
# Transitions that raise an alert; everything else (repeat, resolved …) never acts.
TRIGGERS = frozenset({"fired", "escalated"})
# Configuration-set labels that name no set SES could pause.
NOT_A_SET = frozenset({"(account)", "(none)", "(other)", ""})
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One action (or resume) and its outcome, as the store keeps it; plain JSON via :meth:`to_dict`.

    ``configuration_set`` is empty for the account. ``reason`` says why it was refused or what a dry
    run would have done; ``error`` why the call failed. ``notification`` is the transition that
    caused it (for a resume, empty).
    """

    id: str
    action: str
    target: str
    configuration_set: str
    rule: str
    result: Result
    at: float
    reason: str = ""
    error: str = ""
    finished: float | None = None
    notification: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["notification"] = dict(self.notification) if self.notification is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionRecord:
        """Inverse of :meth:`to_dict`; unknown keys (a newer version's) are ignored."""
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})

    @property
    def subject(self) -> str:
        """What the action is on, for people: ``configuration set marketing`` or ``the account``."""
        return f"configuration set {self.configuration_set}" if self.configuration_set else "the account"


_FIELDS = frozenset(ActionRecord.__dataclass_fields__)


def records_from(items: Mapping[str, object]) -> list[ActionRecord]:
    """The store's documents as records, oldest first; damaged ones are skipped."""
    out = []
    for value in items.values():
        if isinstance(value, dict):
            try:
                out.append(ActionRecord.from_dict(value))
            except TypeError:
                continue
    return sorted(out, key=lambda r: (r.at, r.id))


def plan(
    notifications: Iterable[Notification],
    rules: Mapping[str, RuleConfig],
    guards: ActionsConfig,
    history: Sequence[ActionRecord],
    now: float,
) -> list[ActionRecord]:
    """A record for each action the transitions call for, refused, dry-run or pending."""
    known = {r.id for r in history}
    seen = list(history)
    out: list[ActionRecord] = []
    for n in notifications:
        rule = rules.get(n.rule)
        if rule is None or n.status != "firing" or n.reason not in TRIGGERS:
            continue
        for action in rule.actions:
            record_id = f"{n.id}/{action}"
            if record_id in known:
                continue  # this transition already acted (a replay after a restart)
            target = n.label("target")
            cs = n.label("configuration_set") if action == PAUSE_SET else ""
            refusal = refuse(action, n, target=target, cs=cs, guards=guards, history=seen, now=now)
            if refusal:
                result: Result = "refused"
            elif guards.mode == "dry_run":
                result, refusal = "dry_run", "dry run: set alerts.actions.mode: enforce to act"
            else:
                result = "pending"
            record = ActionRecord(
                record_id,
                action,
                target,
                cs,
                n.rule,
                result,
                now,
                reason=refusal,
                finished=None if result == "pending" else now,
                notification=n.to_dict(),
            )
            known.add(record_id)
            seen.append(record)
            out.append(record)
    return out


def refuse(
    action: str,
    n: Notification,
    *,
    target: str,
    cs: str,
    guards: ActionsConfig,
    history: Sequence[ActionRecord],
    now: float,
) -> str:
    """Why the guards refuse ``action`` for ``n`` (empty when they allow it)."""
    if SEVERITY_RANK.get(n.severity, 0) < SEVERITY_RANK[guards.min_severity]:
        return f"severity {n.severity} is below alerts.actions.min_severity {guards.min_severity}"
    if action == PAUSE_ACCOUNT:
        if not guards.allow_account_pause:
            return "pausing the account needs alerts.actions.allow_account_pause: true"
    elif cs in NOT_A_SET:
        return "the alert names no configuration set to pause"
    elif not guards.allows_configuration_set(cs):
        return f"configuration set {cs} is not in alerts.actions.configuration_sets"
    if n.recipients < guards.min_recipients:
        return (
            f"{n.recipients} sent recipients are below alerts.actions.min_recipients {guards.min_recipients}"
        )
    pauses = [r for r in history if r.target == target and r.action != RESUME_SET and r.result in _ACTED]
    today = [r for r in pauses if now - r.at < DAY]
    if len(today) >= guards.max_per_day:
        return f"{len(today)} pause(s) of target {target} in 24h reach alerts.actions.max_per_day"
    last = last_pause(history, target, cs)
    if last is not None and now - last.at < guards.cooldown:
        ago, wait = (
            format_duration(round(now - last.at)),
            format_duration(round(guards.cooldown - (now - last.at))),
        )
        return f"cooldown: {last.subject} was paused {ago} ago, {wait} to go (sesmon resume re-arms it)"
    return ""


# Results that mean AWS was (or is about to be) changed: what rate limits and cooldowns count.
_ACTED = frozenset({"pending", "done"})


def last_pause(history: Sequence[ActionRecord], target: str, cs: str) -> ActionRecord | None:
    """The latest pause of (target, set) not followed by a resume of it; ``cs`` empty: the account."""
    found: ActionRecord | None = None
    for record in history:
        if record.target != target or record.configuration_set != cs:
            continue
        if record.action == RESUME_SET and record.result == "done":
            found = None
        elif record.action != RESUME_SET and record.result in _ACTED:
            found = record
    return found


def paused(history: Sequence[ActionRecord]) -> list[ActionRecord]:
    """Every (target, set) sesmon has paused and nobody has resumed through sesmon since."""
    keys = {(r.target, r.configuration_set) for r in history}
    found = [last_pause(history, target, cs) for target, cs in sorted(keys)]
    return [r for r in found if r is not None and r.result == "done"]


def describe(record: ActionRecord) -> str:
    """One line for people about a record."""
    verb = "pause" if record.action != RESUME_SET else "resume sending of"
    if record.result == "pending":
        return f"{record.action}: pausing {record.subject} now"
    if record.result == "done":
        return f"{record.action}: {'paused' if verb == 'pause' else 'resumed'} {record.subject}"
    if record.result == "dry_run":
        return f"{record.action}: would pause {record.subject} ({record.reason})"
    if record.result == "refused":
        return f"{record.action}: refused to {verb} {record.subject}: {record.reason}"
    return f"{record.action}: failed to {verb} {record.subject}: {record.error}"


def announce(n: Notification, records: Sequence[ActionRecord]) -> Notification:
    """``n`` with what its actions will do appended to its description (sent in the same notification)."""
    mine = [r for r in records if r.notification is not None and r.notification.get("id") == n.id]
    if not mine:
        return n
    lines = "\n".join(f"Action {describe(r)}." for r in mine)
    return dataclasses.replace(n, description=f"{n.description}\n\n{lines}".strip())


def outcome(record: ActionRecord) -> Notification | None:
    """The follow-up notification once an enforced action is done or has failed (same alert)."""
    if record.notification is None or record.result not in ("done", "failed"):
        return None
    n = Notification.from_dict(record.notification)
    return dataclasses.replace(
        n,
        id=f"{record.id}/{record.result}",
        reason=f"action_{record.result}",
        at=record.finished if record.finished is not None else record.at,
        description=f"{n.description}\n\nAction {describe(record)}.".strip(),
    )
