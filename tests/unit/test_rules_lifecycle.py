"""Alert lifecycle with an injected clock: for, hysteresis, escalation, repeat, guards, persistence."""

from __future__ import annotations

from typing import Any

import orjson

from sesmon.config import RuleConfig
from sesmon.rules import Evaluator, Notification
from sesmon.signals import Observation

CS = Observation.make_labels(target="prod", configuration_set="marketing")


def rule(**kw: Any) -> RuleConfig:
    base: dict[str, Any] = {
        "name": "BounceRateHigh",
        "signal": "bounce_rate",
        "window": "1h",
        "warning": 0.05,
        "critical": 0.08,
        "for": "5m",
    }
    base.update(kw)
    return RuleConfig.model_validate(base)


def obs(
    value: float, labels: tuple[tuple[str, str], ...] = CS, recipients: int = 1000, events: int = 50
) -> Observation:
    return Observation("bounce_rate", labels, value, recipients=recipients, events=events)


def step(
    ev: Evaluator, t: float, *observations: Observation, name: str = "BounceRateHigh"
) -> list[Notification]:
    return ev.evaluate({name: list(observations)}, t)


def test_for_delays_firing_and_a_dip_resets_pending() -> None:
    ev = Evaluator([rule()])
    assert step(ev, 0, obs(0.06)) == []
    assert step(ev, 200, obs(0.06)) == []
    assert step(ev, 250, obs(0.01)) == []  # dip: pending is dropped
    assert step(ev, 260, obs(0.06)) == []
    assert step(ev, 500, obs(0.06)) == []  # only 240s since the new pending start
    fired = step(ev, 560, obs(0.06))
    assert [(n.status, n.reason, n.severity) for n in fired] == [("firing", "fired", "warning")]
    assert fired[0].starts_at == 560
    assert fired[0].threshold == 0.05
    assert ev.firing()[0].labels == CS


def test_hysteresis_resolves_only_below_ratio_of_threshold() -> None:
    ev = Evaluator([rule(**{"for": "0s"})], resolve_ratio=0.9)
    assert [n.reason for n in step(ev, 0, obs(0.05))] == ["fired"]  # thresholds are inclusive
    assert step(ev, 15, obs(0.046)) == []  # below 5% but above 4.5%: still firing
    assert step(ev, 30, obs(0.0451)) == []
    resolved = step(ev, 45, obs(0.044))
    assert [(n.status, n.reason) for n in resolved] == [("resolved", "resolved")]
    assert resolved[0].ends_at == 45
    assert resolved[0].starts_at == 0
    assert ev.firing() == []


def test_escalation_waits_for_and_deescalation_notifies() -> None:
    ev = Evaluator([rule(**{"for": "1m"})])
    step(ev, 0, obs(0.06))
    assert [n.severity for n in step(ev, 60, obs(0.06))] == ["warning"]
    assert step(ev, 70, obs(0.09)) == []  # critical must hold for `for` as well
    assert step(ev, 100, obs(0.06)) == []  # spike over: escalation timer resets
    assert step(ev, 110, obs(0.09)) == []
    up = step(ev, 170, obs(0.09))
    assert [(n.reason, n.severity, n.threshold) for n in up] == [("escalated", "critical", 0.08)]
    assert step(ev, 180, obs(0.075)) == []  # above 0.9 x 8%: stays critical
    down = step(ev, 190, obs(0.07))
    assert [(n.reason, n.severity) for n in down] == [("deescalated", "warning")]
    ids = {n.id for n in up + down}
    assert len(ids) == 2


def test_repeat_interval_renotifies_while_firing() -> None:
    ev = Evaluator([rule(**{"for": "0s"})], repeat_interval=3600)
    assert len(step(ev, 0, obs(0.06))) == 1
    assert step(ev, 3599, obs(0.06)) == []
    again = step(ev, 3600, obs(0.06))
    assert [n.reason for n in again] == ["repeat"]
    assert step(ev, 3700, obs(0.06)) == []
    assert [n.reason for n in step(ev, 7200, obs(0.06))] == ["repeat"]


def test_min_volume_guards_hold_instead_of_firing_or_resolving() -> None:
    ev = Evaluator([rule(**{"for": "0s", "min_recipients": 500, "min_events": 10})])
    assert step(ev, 0, obs(0.5, recipients=100)) == []  # huge rate on tiny volume: no alert
    assert step(ev, 10, obs(0.5, events=3)) == []
    assert len(step(ev, 20, obs(0.06))) == 1
    assert step(ev, 30, obs(0.0, recipients=10)) == []  # quiet period: held firing, not resolved
    assert len(ev.firing()) == 1
    assert [n.status for n in step(ev, 40, obs(0.0))] == ["resolved"]


def test_restart_keeps_firing_alert_without_refiring() -> None:
    rules = [rule(**{"for": "0s"})]
    ev = Evaluator(rules, repeat_interval=3600)
    fired = step(ev, 0, obs(0.06))
    saved = orjson.loads(orjson.dumps(ev.to_dict()))  # through JSON, as the store keeps it
    again = Evaluator(rules, repeat_interval=3600)
    again.load(saved)
    assert [a.fingerprint for a in again.firing()] == [fired[0].fingerprint]
    assert step(again, 60, obs(0.06)) == []  # no re-fire after the restart
    resolved = step(again, 120, obs(0.0))
    assert [(n.status, n.starts_at, n.fingerprint) for n in resolved] == [
        ("resolved", 0, fired[0].fingerprint)
    ]
    assert resolved[0].id != fired[0].id
    # The repeat clock survives too.
    ev2 = Evaluator(rules, repeat_interval=3600)
    ev2.load(saved)
    assert [n.reason for n in step(ev2, 3600, obs(0.06))] == ["repeat"]


def test_pending_survives_restart() -> None:
    rules = [rule()]
    ev = Evaluator(rules)
    step(ev, 0, obs(0.06))
    again = Evaluator(rules)
    again.load(ev.to_dict())
    assert [n.reason for n in step(again, 300, obs(0.06))] == ["fired"]


def test_globs_filter_configuration_sets_and_targets() -> None:
    ev = Evaluator([rule(**{"for": "0s", "configuration_sets": ["market*"], "targets": ["prod"]})])
    other = Observation.make_labels(target="prod", configuration_set="transactional")
    staging = Observation.make_labels(target="staging", configuration_set="marketing")
    account = Observation.make_labels(target="prod")
    out = step(ev, 0, obs(0.5), obs(0.5, other), obs(0.5, staging), obs(0.5, account))
    assert [n.labels for n in out] == [CS]


def test_label_sets_fire_independently_and_stale_ones_resolve_after_grace() -> None:
    other = Observation.make_labels(target="prod", configuration_set="transactional")
    ev = Evaluator([rule(**{"for": "0s"})], resolve_missing_after=300)
    assert len(step(ev, 0, obs(0.06), obs(0.07, other))) == 2
    assert step(ev, 100, obs(0.06)) == []  # `other` vanished: held during the grace period
    stale = step(ev, 400, obs(0.06))
    assert [(n.reason, n.label("configuration_set")) for n in stale] == [("stale", "transactional")]


def test_rule_without_observations_this_round_is_held() -> None:
    ev = Evaluator([rule(**{"for": "0s"})], resolve_missing_after=60)
    step(ev, 0, obs(0.06))
    assert ev.evaluate({}, 1000) == []  # no provider answered: nothing is decided
    assert len(ev.firing()) == 1


def test_removed_rule_resolves() -> None:
    ev = Evaluator([rule(**{"for": "0s"})])
    step(ev, 0, obs(0.06))
    ev2 = Evaluator([])
    ev2.load(ev.to_dict())
    out = ev2.evaluate({}, 10)
    assert [(n.status, n.reason, n.rule) for n in out] == [("resolved", "rule_removed", "BounceRateHigh")]


def test_boolean_signal_uses_rule_severity() -> None:
    r = RuleConfig.model_validate(
        {
            "name": "AccountSendingPaused",
            "signal": "account_sending_disabled",
            "severity": "critical",
            "for": "0s",
        }
    )
    ev = Evaluator([r])
    labels = Observation.make_labels(target="prod")
    on = Observation("account_sending_disabled", labels, 1.0, detail="sending disabled")
    off = Observation("account_sending_disabled", labels, 0.0)
    fired = ev.evaluate({r.name: [on]}, 0)
    assert [(n.severity, n.threshold) for n in fired] == [("critical", None)]
    assert "account_sending_disabled" in fired[0].summary
    assert [n.status for n in ev.evaluate({r.name: [off]}, 10)] == ["resolved"]


def test_templates_fill_placeholders_and_tolerate_typos() -> None:
    r = rule(
        **{
            "for": "0s",
            "summary": "{configuration_set} bounce {value:.1%} > {threshold:.0%} over {window} {nope}",
            "description": "{value_pct} of {recipients} ({broken",
            "runbook_url": "https://runbooks.example/{rule}",
        }
    )
    n = Evaluator([r]).evaluate({r.name: [obs(0.061)]}, 0)[0]
    assert n.summary == "marketing bounce 6.1% > 5% over 1h {nope}"
    assert n.description == "{value_pct} of {recipients} ({broken"
    assert n.runbook_url == "https://runbooks.example/BounceRateHigh"


def test_notification_round_trips_through_json() -> None:
    n = Evaluator([rule(**{"for": "0s"})]).evaluate({"BounceRateHigh": [obs(0.06)]}, 5)[0]
    assert Notification.from_dict(orjson.loads(orjson.dumps(n.to_dict()))) == n


def test_below_the_guards_a_pending_alert_starts_over() -> None:
    ev = Evaluator([rule(**{"for": "2m", "min_recipients": 500})])
    assert step(ev, 0, obs(0.06)) == []
    assert step(ev, 60, obs(0.06, recipients=10)) == []  # too little volume: the timer is dropped
    assert step(ev, 120, obs(0.06)) == []  # would have fired had the timer held
    assert step(ev, 180, obs(0.06)) == []
    assert [n.reason for n in step(ev, 240, obs(0.06))] == ["fired"]  # `for` after the dip


def test_each_level_runs_its_own_timer() -> None:
    ev = Evaluator([rule(**{"for": "2m"})])
    step(ev, 0, obs(0.06))
    step(ev, 60, obs(0.09))  # critical only for the last minute of warning's `for`
    fired = step(ev, 120, obs(0.09))
    assert [(n.reason, n.severity) for n in fired] == [("fired", "warning")]
    assert [(n.reason, n.severity) for n in step(ev, 180, obs(0.09))] == [("escalated", "critical")]


def test_state_saved_before_per_level_timers_loads() -> None:
    ev = Evaluator([rule(**{"for": "10m"})])
    legacy = {
        "version": 1,
        "alerts": [
            {
                "rule": "BounceRateHigh",
                "labels": [list(p) for p in CS],
                "phase": "firing",
                "pending_since": 0.0,
                "last_seen": 0.0,
                "severity": "critical",
                "starts_at": 0.0,
                "upgrade_since": None,
                "seq": 1,
            }
        ],
    }
    ev.load(legacy)
    assert step(ev, 60, obs(0.075)) == []  # still critical: its hysteresis line is kept
    assert [(n.reason, n.severity) for n in step(ev, 120, obs(0.06))] == [("deescalated", "warning")]
