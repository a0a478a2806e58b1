"""Alert rules as a pure state machine: observations + time in, state transitions (notifications) out.

One module on purpose, although it passes 400 lines: the evaluator, the state it persists and the
level arithmetic (``levels``, ``hold_line``) that ``promrules`` reuses are one definition of an
alert; a differential test keeps the generated Prometheus rules in step with it.

Each (rule, label set) moves inactive → pending (for ``for``) → firing (warning or critical) →
resolved. The state machine is defined level by level, exactly as the generated Prometheus rules
(``sesmon rules``) evaluate, so both engines fire and resolve the same alerts on the same input:

* **One timer per level.** Each level (warning, critical; a condition rule has one) is active while
  the value is at or above its threshold (inclusive), or, once that level fires, at or above
  ``resolve_ratio`` times it (hysteresis). A level fires once it has been active for ``for``; a
  dip below its line resets its timer. The alert's severity is its highest firing level, so
  escalation waits for ``for`` (a spike must not page) while de-escalation and resolution are
  immediate once below the hysteresis line. Escalation and de-escalation both notify.
* **Guards.** An observation below ``min_recipients`` / ``min_events`` says nothing either way:
  a firing level holds (it neither resolves nor changes), a pending one is dropped, so an alert
  never fires on volume too small to judge.
* **Repeat.** A firing alert is re-notified every ``repeat_interval``.
* **Disappearing label sets.** A pending label set that is no longer observed is dropped; a firing
  one resolves (reason ``stale``) after ``resolve_missing_after`` without observations. Rules whose
  signal has no provider this round are skipped and their alerts held untouched.
* **Removed rules** resolve at once, so receivers are not left with alerts nobody will close.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from sesmon import globs
from sesmon.alerts.templates import default_templates, percent, render_template
from sesmon.config import RuleConfig
from sesmon.signals import RATE_SIGNALS, Observation

Labels = tuple[tuple[str, str], ...]
Status = Literal["firing", "resolved"]

SEVERITY_RANK: dict[str, int] = {"info": 1, "warning": 2, "critical": 3}
STATE_VERSION = 1


def fingerprint(rule: str, labels: Labels) -> str:
    """A stable 16-hex-digit identity of one alert (rule + label set), as Alertmanager shows it."""
    text = rule + "\x00" + "\x00".join(f"{k}={v}" for k, v in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Notification:
    """One state transition to tell sinks about; plain data, JSON-serialisable via :meth:`to_dict`.

    ``id`` is unique per transition and stable (it becomes the idempotency key); ``reason`` is one of
    ``fired``, ``escalated``, ``deescalated``, ``repeat``, ``resolved``, ``stale``, ``rule_removed``.
    """

    id: str
    status: Status
    reason: str
    rule: str
    signal: str
    severity: str
    labels: Labels
    value: float
    threshold: float | None
    window: str | None
    recipients: int
    events: int
    detail: str
    starts_at: float
    ends_at: float | None
    at: float
    fingerprint: str
    summary: str
    description: str
    runbook_url: str
    peak_severity: str = ""  # highest severity of this firing episode; resolutions route like it
    previous_severity: str = ""  # on escalation / de-escalation: the severity left behind

    def label(self, name: str, default: str = "") -> str:
        """The value of label ``name``."""
        return dict(self.labels).get(name, default)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["labels"] = [list(pair) for pair in self.labels]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """Inverse of :meth:`to_dict`."""
        values = dict(data)
        values["labels"] = tuple((str(k), str(v)) for k, v in values["labels"])
        return cls(**values)


@dataclass(slots=True)
class AlertState:
    """What the evaluator remembers about one (rule, label set) that is pending or firing."""

    rule: str
    labels: Labels
    phase: Literal["pending", "firing"]
    pending_since: float
    last_seen: float
    severity: str | None = None  # while firing: the highest firing level
    starts_at: float | None = None  # when it started firing
    # Level name → when it became active (pending or firing), and the levels that fire; each level
    # runs its own `for` timer, as each severity's generated Prometheus rule does.
    active: dict[str, float] = field(default_factory=dict)
    fired: list[str] = field(default_factory=list)
    last_notified: float | None = None
    seq: int = 0  # notifications sent for this firing episode; part of the notification id
    peak_severity: str | None = None
    value: float = 0.0
    recipients: int = 0
    events: int = 0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = [list(pair) for pair in self.labels]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertState:
        # Keys this version does not know (written by a newer one) are ignored rather than fatal.
        values = {k: v for k, v in data.items() if k in _STATE_FIELDS}
        values["labels"] = tuple((str(k), str(v)) for k, v in values["labels"])
        return cls(**values)


_STATE_FIELDS = frozenset(AlertState.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class FiringAlert:
    """A read-only view of one firing alert, for metrics and the status page."""

    rule: str
    severity: str
    labels: Labels
    value: float
    starts_at: float
    fingerprint: str


def matches_scope(rule: RuleConfig, labels: Labels) -> bool:
    """True when the observation's ``target`` and ``configuration_set`` labels match the rule's globs.

    An observation without a ``configuration_set`` label (account-level) passes only a rule that does
    not narrow configuration sets (``configuration_sets: ["*"]``).
    """
    values = dict(labels)
    target = values.get("target")
    if target is not None and not globs.matches_any(target, rule.targets):
        return False
    cs = values.get("configuration_set")
    if cs is None:
        return "*" in rule.configuration_sets
    return globs.matches_any(cs, rule.configuration_sets)


def hold_line(threshold: float, ratio: float) -> float:
    """The value a firing level is kept at or above (hysteresis); the generated rules use the same."""
    return round(threshold * ratio, 12)


def levels(rule: RuleConfig) -> list[tuple[str, float]]:
    """The rule's levels, lowest first: (severity, threshold); a condition holds at value 1."""
    if rule.signal not in RATE_SIGNALS:
        return [(rule.severity, CONDITION_LINE)]
    return [(s, t) for s, t in (("warning", rule.warning), ("critical", rule.critical)) if t is not None]


# A condition signal's value is 1.0 (holds) or 0.0; anything from the upper half counts as holding.
CONDITION_LINE = 0.5


def _threshold(rule: RuleConfig, severity: str) -> float | None:
    if severity == "critical":
        return rule.critical
    if severity == "warning":
        return rule.warning
    return None


class Evaluator:
    """Evaluates rules against observations at injected times; its state round-trips through a dict."""

    def __init__(
        self,
        rules: Sequence[RuleConfig],
        resolve_ratio: float = 0.9,
        repeat_interval: float = 4 * 3600.0,
        resolve_missing_after: float = 300.0,
    ) -> None:
        self.rules = {r.name: r for r in rules}
        self.resolve_ratio = resolve_ratio
        self.repeat_interval = repeat_interval
        self.resolve_missing_after = resolve_missing_after
        self._states: dict[tuple[str, Labels], AlertState] = {}

    # -- persistence -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready data."""
        return {"version": STATE_VERSION, "alerts": [s.to_dict() for s in self._states.values()]}

    def load(self, data: Mapping[str, Any] | None) -> None:
        """Replace the state with one produced by :meth:`to_dict` (``None`` or unknown version: empty)."""
        self._states = {}
        if not data or data.get("version") != STATE_VERSION:
            return
        for item in data.get("alerts", []):
            try:
                state = AlertState.from_dict(item)
            except (TypeError, ValueError, KeyError):
                continue  # a damaged entry is dropped; the rule re-evaluates it from scratch
            self._states[(state.rule, state.labels)] = _with_levels(state, self.rules.get(state.rule))

    # -- queries ---------------------------------------------------------------------------------

    def firing(self) -> list[FiringAlert]:
        """Every firing alert, sorted by rule then labels."""
        return [
            FiringAlert(s.rule, s.severity or "", s.labels, s.value, s.starts_at or 0.0, fingerprint(*k))
            for k, s in sorted(self._states.items())
            if s.phase == "firing"
        ]

    def firing_notifications(self, now: float) -> list[Notification]:
        """A ``firing`` notification for each firing alert as of ``now`` (for Alertmanager refreshes)."""
        out = []
        for state in sorted(self._states.values(), key=lambda s: (s.rule, s.labels)):
            rule = self.rules.get(state.rule)
            if state.phase == "firing" and rule is not None:
                out.append(self._notification(rule, state, "firing", "refresh", now, bump=False))
        return out

    def next_due(self) -> float | None:
        """The earliest time a pending level's ``for`` runs out (evaluate then to fire on time)."""
        due = [
            since + rule.for_
            for state in self._states.values()
            if (rule := self.rules.get(state.rule)) is not None and rule.for_ > 0
            for name, since in state.active.items()
            if name not in state.fired
        ]
        return min(due, default=None)

    # -- evaluation ------------------------------------------------------------------------------

    def evaluate(self, observations: Mapping[str, Iterable[Observation]], now: float) -> list[Notification]:
        """Advance every rule present in ``observations`` (rule name → its signal's observations)."""
        out: list[Notification] = []
        for key in [k for k in self._states if k[0] not in self.rules]:
            state = self._states.pop(key)
            if state.phase == "firing":
                out.append(self._resolved(state, "rule_removed", now, self._removed_rule(state)))
        for name, rule in self.rules.items():
            if name in observations:
                out.extend(self._evaluate_rule(rule, observations[name], now))
        return out

    def _evaluate_rule(
        self, rule: RuleConfig, observations: Iterable[Observation], now: float
    ) -> list[Notification]:
        out: list[Notification] = []
        seen: set[Labels] = set()
        for obs in observations:
            if obs.signal != rule.signal or not matches_scope(rule, obs.labels) or obs.labels in seen:
                continue
            seen.add(obs.labels)
            key = (rule.name, obs.labels)
            state = self._states.get(key)
            judged = obs.recipients >= rule.min_recipients and obs.events >= rule.min_events
            if state is None and not judged:
                continue
            note = self._step(rule, key, state, obs, now, judged=judged)
            if note is not None:
                out.append(note)
        for key in [k for k, s in self._states.items() if k[0] == rule.name and k[1] not in seen]:
            state = self._states[key]
            if state.phase == "pending":
                del self._states[key]
            elif now - state.last_seen >= self.resolve_missing_after:
                del self._states[key]
                out.append(self._resolved(state, "stale", now, rule))
        return out

    def _step(
        self,
        rule: RuleConfig,
        key: tuple[str, Labels],
        state: AlertState | None,
        obs: Observation,
        now: float,
        *,
        judged: bool = True,
    ) -> Notification | None:
        """Advance one label set; ``judged`` is False when the observation is below the volume guards."""
        if state is None:
            state = AlertState(rule.name, obs.labels, "pending", pending_since=now, last_seen=now)
        before = state.severity if state.phase == "firing" else None
        for name, threshold in levels(rule):
            firing = name in state.fired
            if not judged:
                if not firing:
                    state.active.pop(name, None)  # too little volume to start or keep a timer
                continue
            hysteresis = firing and rule.signal in RATE_SIGNALS
            line = hold_line(threshold, self.resolve_ratio) if hysteresis else threshold
            if obs.value >= line:
                since = state.active.setdefault(name, now)
                if not firing and now - since >= rule.for_:
                    state.fired.append(name)
            else:
                state.active.pop(name, None)
                if firing:
                    state.fired.remove(name)
        if judged:
            _observe(state, obs, now)
        else:
            state.last_seen = now
        after = max(state.fired, key=SEVERITY_RANK.__getitem__, default=None)
        if state.active:
            self._states[key] = state
            state.pending_since = min(state.active.values())
        else:
            self._states.pop(key, None)
        if after is None:
            if before is None:
                state.phase = "pending"
                return None
            note = self._resolved(state, "resolved", now, rule)
            state.phase, state.severity, state.starts_at, state.seq = "pending", None, None, 0
            state.peak_severity = None
            return note
        state.phase, state.severity = "firing", after
        if before is None:
            state.starts_at, state.seq, state.peak_severity = now, 0, after
            return self._notify(rule, state, "fired", now)
        if after != before:
            if SEVERITY_RANK[after] > SEVERITY_RANK[state.peak_severity or after]:
                state.peak_severity = after
            reason = "escalated" if SEVERITY_RANK[after] > SEVERITY_RANK[before] else "deescalated"
            return self._notify(rule, state, reason, now, before)
        if state.last_notified is not None and now - state.last_notified >= self.repeat_interval:
            return self._notify(rule, state, "repeat", now)
        return None

    def _notify(
        self, rule: RuleConfig, state: AlertState, reason: str, now: float, previous: str = ""
    ) -> Notification:
        state.last_notified = now
        return self._notification(rule, state, "firing", reason, now, bump=True, previous=previous)

    def _resolved(self, state: AlertState, reason: str, now: float, rule: RuleConfig) -> Notification:
        return self._notification(rule, state, "resolved", reason, now, bump=True)

    @staticmethod
    def _removed_rule(state: AlertState) -> RuleConfig:
        # The rule left the config; a minimal stand-in lets the resolved notification render.
        return RuleConfig.model_construct(
            name=state.rule,
            signal="removed",
            window=None,
            warning=None,
            critical=None,
            severity="warning",  # the notification carries the state's own severity
            summary=None,
            description=None,
            runbook_url=None,
        )

    def _notification(
        self,
        rule: RuleConfig,
        state: AlertState,
        status: Status,
        reason: str,
        now: float,
        *,
        bump: bool,
        previous: str = "",
    ) -> Notification:
        if bump:
            state.seq += 1
        severity = state.severity or rule.severity
        threshold = _threshold(rule, severity) if rule.signal in RATE_SIGNALS else None
        starts_at = state.starts_at if state.starts_at is not None else now
        fp = fingerprint(state.rule, state.labels)
        values = template_values(rule, state, severity, threshold, status)
        summary_default, description_default = default_templates(
            rule.signal in RATE_SIGNALS, bool(rule.window)
        )
        summary = render_template(rule.summary or summary_default, values)
        description = render_template(rule.description or description_default, values).strip()
        return Notification(
            id=f"{fp}-{int(starts_at * 1000)}-{state.seq}" + ("" if bump else f"-refresh-{int(now)}"),
            status=status,
            reason=reason,
            rule=state.rule,
            signal=rule.signal,
            severity=severity,
            labels=state.labels,
            value=state.value,
            threshold=threshold,
            window=rule.window,
            recipients=state.recipients,
            events=state.events,
            detail=state.detail,
            starts_at=starts_at,
            ends_at=now if status == "resolved" else None,
            at=now,
            fingerprint=fp,
            summary=summary,
            description=description,
            runbook_url=render_template(rule.runbook_url, values) if rule.runbook_url else "",
            peak_severity=state.peak_severity or severity,
            previous_severity=previous,
        )


def _with_levels(state: AlertState, rule: RuleConfig | None) -> AlertState:
    """State saved before levels had their own timers: its single level becomes one."""
    if state.active or rule is None:
        return state
    if state.phase == "firing" and state.severity in SEVERITY_RANK:
        # A level fires whenever a higher one does, so every level up to the severity was firing.
        rank = SEVERITY_RANK[state.severity]
        state.fired = [name for name, _ in levels(rule) if SEVERITY_RANK[name] <= rank] or [state.severity]
        state.active = dict.fromkeys(state.fired, state.starts_at or state.pending_since)
    elif state.phase == "pending" and levels(rule):
        state.active = {levels(rule)[0][0]: state.pending_since}
    return state


def _observe(state: AlertState, obs: Observation, now: float) -> None:
    state.last_seen = now
    state.value, state.recipients, state.events = obs.value, obs.recipients, obs.events
    state.detail = obs.detail


def template_values(
    rule: RuleConfig, state: AlertState, severity: str, threshold: float | None, status: str
) -> dict[str, object]:
    """The placeholders available to summary/description/runbook_url templates."""
    labels = dict(state.labels)
    # What the alert is about, naming its target too: two targets may share a set name or a source.
    subject = " ".join(f"{k}={v}" for k, v in state.labels if k != "target")
    if "target" in labels:
        subject = f"{subject} on target {labels['target']}" if subject else labels["target"]
    subject = subject or "account"
    values: dict[str, object] = {
        "configuration_set": "",
        "target": "",
        **labels,
        "rule": state.rule,
        "alertname": state.rule,
        "signal": rule.signal,
        "severity": severity,
        "status": status,
        "value": state.value,
        "value_pct": percent(state.value),
        "threshold": threshold if threshold is not None else "",
        "threshold_pct": percent(threshold),
        "window": rule.window or "",
        "recipients": state.recipients,
        "events": state.events,
        "detail": state.detail,
        "subject": subject,
    }
    return values
