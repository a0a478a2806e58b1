"""A receiver outage (HTTP 500, then timeouts, for two minutes of injected time) with a daemon restart in
the middle: after recovery the notification arrives exactly once."""

from __future__ import annotations

import random
from itertools import pairwise
from pathlib import Path

from sesmon.alerts.component import AlertsComponent
from sesmon.config import AlertsConfig
from sesmon.signals import Observation
from sesmon.state.sqlite import SqliteState
from tests.integration.alert_receivers import receiver

LABELS = Observation.make_labels(target="prod", configuration_set="marketing")
T0 = 1_767_225_600.0


class Provider:
    def __init__(self, value: float) -> None:
        self.value = value

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"complaint_rate"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        return [Observation(signal, LABELS, self.value, recipients=20000, events=int(self.value * 20000))]


def config(url: str) -> AlertsConfig:
    return AlertsConfig.model_validate(
        {
            "rules": [
                {"name": "ComplaintRateHigh", "signal": "complaint_rate", "window": "24h", "warning": 0.001}
            ],
            "sinks": [
                {"name": "hook", "type": "webhook", "url": url, "secret": "s3cret-hmac", "timeout": "300ms"}
            ],
            "give_up_after": "1h",
        }
    )


def daemon(state: Path, url: str, provider: Provider, seed: int) -> tuple[AlertsComponent, SqliteState]:
    store = SqliteState(state)
    return AlertsComponent(config(url), store, [provider], clock=lambda: T0, rng=random.Random(seed)), store


def test_outage_with_restart_delivers_exactly_once(tmp_path: Path) -> None:
    state = tmp_path / "sesmon-state.db"
    provider = Provider(0.002)
    with receiver() as rx:
        url = rx.url + "/hook"
        rx.mode, rx.status, rx.retry_after = "fail", 500, "20"
        comp, store = daemon(state, url, provider, seed=1)
        fired = comp.evaluate(T0)
        assert [n.reason for n in fired] == ["fired"]
        t = T0
        while t < T0 + 60:  # one minute of HTTP 500 with Retry-After: 20
            t += 5
            comp.evaluate(t)
        tried_at = [float(a.headers["x-sesmon-timestamp"]) for a in rx.attempts]
        assert len(tried_at) >= 2
        assert all(b - a >= 20 for a, b in pairwise(tried_at))  # Retry-After honoured
        assert rx.received == []
        assert store.outbox_counts() == {("hook", "pending"): 1}

        comp.stop(0)  # the daemon goes down mid-outage...
        store.close()
        comp, store = daemon(state, url, provider, seed=2)  # ...and comes back on the same state file
        assert [a.fingerprint for a in comp.evaluator.firing()] == [fired[0].fingerprint]

        rx.mode = "hang"  # second minute: the receiver accepts connections but never answers
        before = len(rx.attempts)
        while t < T0 + 120:
            t += 5
            assert comp.evaluate(t) == []  # the restart neither re-fires nor forgets the alert
        assert len(rx.attempts) > before  # it kept trying through the timeouts
        assert rx.received == []

        rx.mode, rx.status = "ok", 200  # recovery
        while t < T0 + 900:
            t += 5
            comp.evaluate(t)
        got = rx.wait_for(1)
        assert len(got) == 1
        assert got[0].headers["idempotency-key"] == fired[0].id
        assert got[0].json()["status"] == "firing"
        assert store.outbox_counts() == {("hook", "delivered"): 1}
        delivered, failures, given_up = comp.stats.snapshot()
        assert delivered == {"hook": 1}
        assert given_up == {}
        assert failures["hook"] >= 1

        # Another restart after delivery: nothing is sent again.
        comp.stop(0)
        store.close()
        comp, store = daemon(state, url, provider, seed=3)
        for _ in range(10):
            t += 15
            comp.evaluate(t)
        assert len(rx.received) == 1
        store.close()


def test_outbox_gives_up_after_age_and_on_permanent_failure(tmp_path: Path) -> None:
    provider = Provider(0.002)
    with receiver() as rx:
        rx.mode, rx.status = "fail", 503
        comp, store = daemon(tmp_path / "s.db", rx.url, provider, seed=1)
        comp.evaluate(T0)
        t = T0
        while t < T0 + 3700:
            t += 60
            comp.evaluate(t)
        assert store.outbox_counts() == {("hook", "given_up"): 1}
        assert comp.stats.snapshot()[2] == {"hook": 1}
        attempts = len(rx.attempts)
        comp.evaluate(t + 600)
        assert len(rx.attempts) == attempts  # given up means never tried again

        rx.status = 403  # permanent: given up at once
        provider.value = 0.0
        comp.evaluate(t + 700)
        assert store.outbox_counts() == {("hook", "given_up"): 2}
        assert len(rx.attempts) == attempts + 1
        store.close()
