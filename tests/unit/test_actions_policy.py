"""The action policy (pure): each guard refuses with its reason; dry run; once per transition; resume."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from sesmon.actions.policy import (
    ActionRecord,
    announce,
    outcome,
    paused,
    plan,
    records_from,
)
from sesmon.actions.runner import resume_record
from sesmon.config import ActionsConfig, RuleConfig
from sesmon.rules import Evaluator, Notification
from sesmon.signals import Observation

RULE = RuleConfig.model_validate(
    {
        "name": "BounceRateSpike",
        "signal": "bounce_rate",
        "window": "1h",
        "warning": 0.05,
        "critical": 0.1,
        "actions": ["pause_configuration_set"],
    }
)
RULES = {RULE.name: RULE}


def guards(**kw: Any) -> ActionsConfig:
    base: dict[str, Any] = {"mode": "enforce", "configuration_sets": ["market*"], "min_recipients": 500}
    base.update(kw)
    return ActionsConfig.model_validate(base)


def fired(value: float = 0.2, cs: str = "marketing", recipients: int = 5000, at: float = 0.0) -> Notification:
    labels = Observation.make_labels(target="prod", configuration_set=cs)
    ev = Evaluator([RULE])
    obs = Observation("bounce_rate", labels, value, recipients=recipients, events=int(value * recipients))
    (n,) = ev.evaluate({RULE.name: [obs]}, at)
    return n


def decide(
    n: Notification, g: ActionsConfig, history: list[ActionRecord] | None = None, now: float = 0.0
) -> ActionRecord:
    (record,) = plan([n], RULES, g, history or [], now)
    return record


def test_an_allowed_critical_transition_is_pending_in_enforce_mode() -> None:
    record = decide(fired(), guards())
    assert (record.result, record.action, record.target, record.configuration_set) == (
        "pending",
        "pause_configuration_set",
        "prod",
        "marketing",
    )
    assert record.notification is not None
    assert record.notification["rule"] == "BounceRateSpike"


def test_dry_run_is_the_default_and_says_how_to_act() -> None:
    record = decide(fired(), ActionsConfig(configuration_sets=("marketing",), min_recipients=0))
    assert record.result == "dry_run"
    assert "alerts.actions.mode: enforce" in record.reason


@pytest.mark.parametrize(
    ("n", "g", "reason"),
    [
        (fired(value=0.06), guards(), "severity warning is below alerts.actions.min_severity critical"),
        (fired(cs="(account)"), guards(), "the alert names no configuration set to pause"),
        (fired(cs="(other)"), guards(), "the alert names no configuration set to pause"),
        (fired(cs="transactional"), guards(), "configuration set transactional is not in alerts.actions"),
        (fired(), guards(configuration_sets=[]), "configuration set marketing is not in alerts.actions"),
        (fired(recipients=400), guards(), "400 sent recipients are below alerts.actions.min_recipients 500"),
    ],
)
def test_each_guard_refuses_with_its_reason(n: Notification, g: ActionsConfig, reason: str) -> None:
    record = decide(n, g)
    assert record.result == "refused"
    assert record.reason.startswith(reason)


def done(at: float, cs: str = "marketing", target: str = "prod") -> ActionRecord:
    return ActionRecord(f"x{at}{cs}", "pause_configuration_set", target, cs, "R", "done", at, finished=at)


def test_rate_limit_per_target_per_day() -> None:
    g = guards(max_per_day=2, cooldown="1m", configuration_sets=["*"])
    history = [done(0.0, "marketing-a"), done(10.0, "marketing-b")]
    record = decide(fired(cs="marketing-c"), g, history, now=100.0)
    assert record.result == "refused"
    assert record.reason == "2 pause(s) of target prod in 24h reach alerts.actions.max_per_day"
    assert decide(fired(cs="marketing-c"), g, history, now=86400.0 + 5).result == "pending"  # one aged out
    other = [done(0.0, "marketing-a", "staging"), done(10.0, "marketing-b", "staging")]
    assert decide(fired(cs="marketing-c"), g, other, now=100.0).result == "pending"  # other target's


def test_cooldown_and_resume_rearms() -> None:
    g = guards(max_per_day=10, cooldown="6h")
    history = [done(0.0)]
    record = decide(fired(), g, history, now=3600.0)
    assert record.result == "refused"
    assert record.reason == (
        "cooldown: configuration set marketing was paused 1h ago, 5h to go (sesmon resume re-arms it)"
    )
    assert decide(fired(), g, history, now=6 * 3600.0).result == "pending"
    resumed = [*history, resume_record("prod", "marketing", 1800.0)]
    assert decide(fired(), g, resumed, now=3600.0).result == "pending"
    assert paused(history) == history
    assert paused(resumed) == []


def test_failed_and_dry_run_records_do_not_count_as_pauses() -> None:
    g = guards(max_per_day=1, cooldown="6h")
    history = [
        dataclasses.replace(done(0.0), result="failed"),
        dataclasses.replace(done(1.0), result="dry_run"),
    ]
    assert decide(fired(), g, history, now=10.0).result == "pending"


def test_account_pause_only_when_allowed() -> None:
    rule = RULE.model_copy(update={"actions": ("pause_account",)})
    n = fired()
    (refused,) = plan([n], {rule.name: rule}, guards(), [], 0.0)
    assert refused.reason == "pausing the account needs alerts.actions.allow_account_pause: true"
    (allowed,) = plan([n], {rule.name: rule}, guards(allow_account_pause=True), [], 0.0)
    assert (allowed.result, allowed.configuration_set) == ("pending", "")


def test_once_per_transition_and_only_on_raising_transitions() -> None:
    n = fired()
    (record,) = plan([n], RULES, guards(), [], 0.0)
    assert plan([n], RULES, guards(), [record], 5.0) == []  # replayed after a restart: nothing
    for reason in ("repeat", "deescalated", "refresh"):
        assert plan([dataclasses.replace(n, reason=reason)], RULES, guards(), [], 0.0) == []
    assert (
        plan([dataclasses.replace(n, status="resolved", reason="resolved")], RULES, guards(), [], 0.0) == []
    )
    escalated = dataclasses.replace(n, reason="escalated", id="other")
    assert [r.result for r in plan([escalated], RULES, guards(), [], 0.0)] == ["pending"]
    # Two transitions in one round: the second sees the first's pause (rate limit, cooldown).
    second = dataclasses.replace(fired(cs="marketing-b"), id="second")
    records = plan([n, second], RULES, guards(configuration_sets=["*"]), [], 0.0)
    assert [r.result for r in records] == ["pending", "refused"]


def test_records_round_trip_and_notifications_carry_the_outcome() -> None:
    n = fired()
    record = decide(n, guards())
    assert records_from({"a": record.to_dict(), "bad": {"nope": 1}, "x": 3}) == [record]
    announced = announce(n, [record])
    assert announced.id == n.id
    assert announced.description.endswith(
        "Action pause_configuration_set: pausing configuration set marketing now."
    )
    follow = outcome(dataclasses.replace(record, result="done", finished=7.0))
    assert follow is not None
    assert (follow.reason, follow.at, follow.fingerprint, follow.status) == (
        "action_done",
        7.0,
        n.fingerprint,
        "firing",
    )
    assert follow.id != n.id
    failed = outcome(dataclasses.replace(record, result="failed", error="AccessDenied", finished=7.0))
    assert failed is not None
    assert "failed to pause configuration set marketing: AccessDenied" in failed.description
    assert outcome(dataclasses.replace(record, result="refused")) is None
