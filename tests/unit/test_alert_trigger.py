"""Rules evaluated when their inputs change (debounced) and when a `for` runs out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sesmon.alerts.component import DEBOUNCE, AlertsComponent
from sesmon.config import AlertsConfig
from sesmon.rules import Evaluator
from sesmon.signals import Observation
from sesmon.state.memory import MemoryState

T0 = 1_790_000_000.0
LABELS = Observation.make_labels(target="prod", configuration_set="tx")


class Provider:
    """A bounce_rate provider whose value the test sets."""

    def __init__(self) -> None:
        self.value = 0.0

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"bounce_rate"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        return [Observation(signal, LABELS, self.value, recipients=5000, events=int(self.value * 5000))]


def _config(for_: str) -> AlertsConfig:
    rule = {"name": "BounceRateHigh", "signal": "bounce_rate", "window": "1h", "warning": 0.05, "for": for_}
    return AlertsConfig.model_validate({"rules": [rule]})


def test_next_due_is_when_the_for_of_a_pending_level_runs_out() -> None:
    config = _config("30s")
    evaluator = Evaluator(config.rules)
    high = {"BounceRateHigh": [Observation("bounce_rate", LABELS, 0.07, recipients=5000, events=350)]}
    assert evaluator.next_due() is None
    assert evaluator.evaluate(high, T0 + 0.4) == []
    assert evaluator.next_due() == T0 + 30.4
    assert evaluator.evaluate(high, T0 + 30.3) == []
    # Evaluated exactly when it runs out, it fires then: 30 s after the condition was first seen.
    (fired,) = evaluator.evaluate(high, T0 + 30.4)
    assert fired.reason == "fired"
    assert evaluator.next_due() is None


def test_a_rule_without_for_has_nothing_due() -> None:
    evaluator = Evaluator(_config("0s").rules)
    high = {"BounceRateHigh": [Observation("bounce_rate", LABELS, 0.07, recipients=5000, events=350)]}
    assert [n.reason for n in evaluator.evaluate(high, T0)] == ["fired"]
    assert evaluator.next_due() is None


def test_wake_in_debounces_pokes_and_waits_for_the_due_time() -> None:
    provider = Provider()
    now = [T0]
    comp = AlertsComponent(_config("30s"), MemoryState(), [provider], clock=lambda: now[0], sinks={})
    assert comp.wake_in(T0) is None  # nothing changed, nothing pending
    comp.poke()
    assert comp.wake_in(T0) == 0.0  # never evaluated: at once
    provider.value = 0.07
    comp.evaluate(T0)  # pending from T0
    assert comp.wake_in(T0 + 0.25) == pytest.approx(29.75)
    comp.poke()
    assert comp.wake_in(T0 + 0.25) == pytest.approx(DEBOUNCE - 0.25)
    assert comp.wake_in(T0 + DEBOUNCE) == 0.0


@pytest.fixture
def running() -> Iterator[tuple[AlertsComponent, Provider]]:
    provider = Provider()
    comp = AlertsComponent(_config("2s"), MemoryState(), [provider], clock=time.time, sinks={})
    comp.start()
    yield comp, provider
    comp.stop(time.monotonic() + 5)


def test_a_poke_evaluates_and_the_for_fires_on_time_without_the_interval_job(
    running: tuple[AlertsComponent, Provider],
) -> None:
    comp, provider = running
    provider.value = 0.07
    started = time.time()
    comp.poke()  # a batch committed: the rule sees the spike within the debounce
    _wait_for(lambda: comp.evaluator.next_due() is not None, "the rule to go pending")
    due = comp.evaluator.next_due()
    assert due is not None
    assert due - started < 2.0 + DEBOUNCE + 1.0
    _wait_for(lambda: bool(comp.firing()), "the alert to fire when its for runs out")
    (alert,) = comp.firing()
    assert alert.starts_at >= due


def _wait_for(condition: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        tick.wait(0.01)  # re-check; the trigger runs in its own thread


def test_a_due_time_already_evaluated_does_not_wake_the_trigger_again() -> None:
    provider = Provider()
    comp = AlertsComponent(_config("30s"), MemoryState(), [provider], clock=lambda: T0, sinks={})
    provider.value = 0.07
    comp.evaluate(T0)
    comp.providers = []  # the signal disappears: the pending timer cannot advance
    comp.evaluate(T0 + 31)
    assert comp.evaluator.next_due() == T0 + 30
    assert comp.wake_in(T0 + 31) is None
