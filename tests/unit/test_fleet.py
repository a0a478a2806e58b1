"""Fleet leadership over the lease port: one leader, takeover after expiry, state reloaded before leading."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon.fleet import LeaderCollector, LeaderOnly, Leadership, ReplicaLabelled, replica_name
from sesmon.state.memory import MemoryState

T0 = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def pair(clock: Clock) -> tuple[Leadership, Leadership]:
    store = MemoryState()
    return (
        Leadership(store, "a", 9.0, clock, shared=True),
        Leadership(store, "b", 9.0, clock, shared=True),
    )


def test_one_replica_leads_and_another_takes_over_when_it_stops_renewing() -> None:
    clock = Clock()
    a, b = pair(clock)
    a.renew(clock.now)
    b.renew(clock.now)
    assert (a.is_leader(), b.is_leader()) == (True, False)
    assert a.renew_interval == 3.0
    for _ in range(3):  # a renews every third of the lease: b never gets it
        clock.now += 3
        a.renew(clock.now)
        b.renew(clock.now)
        assert (a.is_leader(), b.is_leader()) == (True, False)
    # a stops (killed): within ttl + one renew interval b leads, and a's lease is no longer valid.
    clock.now += 9.5
    assert not a.is_leader()
    b.renew(clock.now)
    assert b.is_leader()
    fence = b.fence()
    assert fence is not None
    assert fence.token == 2
    a.renew(clock.now)  # a comes back: it follows
    assert not a.is_leader()


def test_state_is_reloaded_before_a_new_term_acts() -> None:
    clock = Clock()
    a, b = pair(clock)
    seen: list[tuple[str, bool]] = []
    b.on_gain(lambda now: seen.append(("b", b.is_leader())))
    a.renew(clock.now)
    b.renew(clock.now)
    assert seen == []
    a.release()  # a shuts down: b takes over at its next renewal, without waiting for expiry
    b.renew(clock.now + 1)
    assert seen == [("b", False)]  # the callback ran before b acted as leader
    assert b.is_leader()
    b.renew(clock.now + 2)  # a renewal of the same term reloads nothing
    assert seen == [("b", False)]


def test_an_unshared_backend_always_leads_without_a_fence() -> None:
    clock = Clock()
    alone = Leadership(MemoryState(), "a", 9.0, clock, shared=False)
    alone.renew(clock.now)
    clock.now += 10_000
    assert alone.is_leader()
    assert alone.fence() is None


class _Events(Collector):
    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("sesmon_events", "Events.", labels=["configuration_set"])
        family.add_metric(["tx"], 5)
        yield family


def test_derived_series_come_from_the_leader_and_own_series_carry_the_replica() -> None:
    clock = Clock()
    a, b = pair(clock)
    a.renew(clock.now)
    b.renew(clock.now)
    exposed = {}
    for leadership in (a, b):
        registry = CollectorRegistry()
        registry.register(LeaderOnly(_Events(), leadership))
        registry.register(ReplicaLabelled(_Events(), leadership.replica))
        registry.register(LeaderCollector(leadership))
        exposed[leadership.replica] = generate_latest(registry).decode()
    assert 'sesmon_events_total{configuration_set="tx"} 5.0' in exposed["a"]
    assert 'sesmon_events_total{configuration_set="tx"} 5.0' not in exposed["b"]
    assert 'sesmon_events_total{configuration_set="tx",replica="b"} 5.0' in exposed["b"]
    assert 'sesmon_leader{replica="a"} 1.0' in exposed["a"]
    assert 'sesmon_leader{replica="b"} 0.0' in exposed["b"]


def test_replica_names_are_label_safe() -> None:
    assert replica_name("sesmon-0") == "sesmon-0"
    name = replica_name(None)
    assert name
    assert len(name) <= 63
