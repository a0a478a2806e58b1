"""Fleet leadership: one replica holds a lease with a fencing token and runs the leader's work.

On a shared backend (PostgreSQL) every replica ingests, and one leader polls AWS, evaluates rules,
dispatches notifications and exports the SES-derived series. A leader that stops renewing is
replaced within ``ttl + ttl / 3`` (renewals run every third of the lease). On an unshared backend
(SQLite, memory) the process is always the leader and holds no lease.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from sesmon.logs import get_logger, log_event
from sesmon.state.ports import Lease, LeasePort

log = get_logger("sesmon.fleet")

LEASE_NAME = "leader"
Clock = Callable[[], float]


def replica_name(configured: str | None) -> str:
    """``state.replica``, else the host name (a pod's name under Kubernetes), made label-safe."""
    if configured:
        return configured
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:63].strip("-.")
    return name or "sesmon"


class Leadership:
    """This replica's view of the lease; :meth:`renew` is its periodic job."""

    def __init__(self, store: LeasePort, replica: str, ttl: float, clock: Clock, *, shared: bool) -> None:
        self.replica = replica
        self.ttl = ttl
        self.shared = shared
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        # Alone on its state (SQLite, memory), the process leads from the start and for good.
        self._lease: Lease | None = None if shared else Lease(LEASE_NAME, replica, 0, math.inf)
        self._on_gain: list[Callable[[float], None]] = []

    @property
    def renew_interval(self) -> float:
        """How often to renew: three chances before the lease runs out."""
        return self.ttl / 3

    def on_gain(self, callback: Callable[[float], None]) -> None:
        """Call ``callback(now)`` each time this replica becomes the leader, before it acts as one."""
        self._on_gain.append(callback)

    def is_leader(self) -> bool:
        """True while this replica holds an unexpired lease (always, on an unshared backend)."""
        with self._lock:
            lease = self._lease
        return lease is not None and self._clock() < lease.expires

    def fence(self) -> Lease | None:
        """The lease a leader's writes carry, so a deposed leader's write is refused (None: unshared)."""
        with self._lock:
            return self._lease if self.shared else None

    def renew(self, now: float) -> None:
        """Take or renew the lease; on a new term, bring state up to date first, then lead."""
        if not self.shared:
            return
        lease = self._store.lease_acquire(LEASE_NAME, self.replica, self.ttl, now)
        with self._lock:
            previous = self._lease
        if lease is None:
            if previous is not None:
                with self._lock:
                    self._lease = None
                log_event(log, logging.WARNING, "leadership_lost", replica=self.replica, token=previous.token)
            return
        if previous is not None and previous.token == lease.token:
            with self._lock:
                self._lease = lease
            return
        self._gain(lease, now)
        log_event(log, logging.INFO, "leader_elected", replica=self.replica, token=lease.token)

    def _gain(self, lease: Lease, now: float) -> None:
        # State first (alert state, shared windows), then the lease is published: no leader job runs
        # on what the previous term left in memory.
        for callback in self._on_gain:
            callback(now)
        with self._lock:
            self._lease = lease

    def release(self) -> None:
        """Give the lease up at shutdown so another replica takes over at once."""
        if not self.shared:
            return
        with self._lock:
            lease, self._lease = self._lease, None
        if lease is not None:
            self._store.lease_release(lease)


class LeaderOnly(Collector):
    """Exports ``inner`` only while this replica leads: SES-derived series come from one replica, so
    a dashboard's ``sum()`` and the generated rules count the fleet's shared totals once."""

    def __init__(self, inner: Collector, leadership: Leadership) -> None:
        self._inner = inner
        self._leadership = leadership

    def collect(self) -> Iterator[Metric]:
        if self._leadership.is_leader():
            yield from self._inner.collect()


class ReplicaLabelled(Collector):
    """Adds ``replica="<name>"`` to every sample of ``inner`` (sesmon's own metrics, per replica)."""

    def __init__(self, inner: Collector, replica: str) -> None:
        self._inner = inner
        self._replica = replica

    def collect(self) -> Iterator[Metric]:
        for family in self._inner.collect():
            labelled = Metric(family.name, family.documentation, family.type, family.unit)
            labelled.samples = [
                Sample(s.name, {**s.labels, "replica": self._replica}, s.value, s.timestamp, s.exemplar)
                for s in family.samples
            ]
            yield labelled


class LeaderCollector(Collector):
    """``sesmon_leader{replica}``: 1 on the replica that leads, 0 on the others."""

    def __init__(self, leadership: Leadership) -> None:
        self._leadership = leadership

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "sesmon_leader",
            "1 if this replica leads the fleet (polls AWS, evaluates rules, sends notifications).",
            labels=["replica"],
        )
        family.add_metric([self._leadership.replica], 1.0 if self._leadership.is_leader() else 0.0)
        yield family
