"""The seam between the composition root and each capability: jobs, collectors, lifecycle."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from prometheus_client.registry import Collector

from sesmon.status import Section


@dataclass(frozen=True, slots=True)
class Job:
    """A periodic task; the daemon schedules it and, when ``source`` is set, records its health.

    ``func`` takes the current time and raises on failure. Failures are logged and recorded, never
    propagated, so one failing target never stalls the others. In a fleet a job runs on the leader
    only, unless ``every_replica``.
    """

    name: str
    interval: float
    func: Callable[[float], None]
    source: str | None = None
    target: str | None = None
    run_at_start: bool = True
    every_replica: bool = False


def target_job(source: str, target: str, interval: float, poll: Callable[[str, float], None]) -> Job:
    """The job ``{source}-{target}`` that runs ``poll(target, now)`` and records its health under
    ``source``/``target``: the one shape every per-target polling job takes."""
    return Job(f"{source}-{target}", interval, partial(poll, target), source=source, target=target)


class Component(Protocol):
    """One capability (ingestion, CloudWatch, account, alerts …) as the daemon sees it."""

    name: str

    def jobs(self) -> Sequence[Job]:
        """Periodic jobs to schedule."""
        ...

    def collectors(self) -> Sequence[Collector]:
        """Prometheus collectors to register."""
        ...

    def start(self) -> None:
        """Start long-running work (threads) after state is loaded."""
        ...

    def stop(self, deadline: float) -> None:
        """Stop taking new work and finish in-flight work before the monotonic ``deadline``."""
        ...

    def status(self) -> Section | None:
        """This capability's status-page section as typed rows (``sesmon/status.py``); None for none."""
        ...

    def became_leader(self, now: float) -> None:
        """This replica now leads the fleet: reload what other replicas may have changed."""
        ...


@runtime_checkable
class ChangeNotifier(Protocol):
    """A component whose data changes between jobs (ingestion, per committed batch): the daemon
    subscribes what reacts to change (the /metrics renderer, rule evaluation)."""

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (cheap, non-blocking) after each change."""
        ...


class BaseComponent:
    """Defaults for components that need only some of the hooks."""

    name = "component"

    def jobs(self) -> Sequence[Job]:
        return ()

    def collectors(self) -> Sequence[Collector]:
        return ()

    def start(self) -> None:
        return None

    def stop(self, deadline: float) -> None:  # noqa: ARG002 - part of the interface
        return None

    def status(self) -> Section | None:
        return None

    def became_leader(self, now: float) -> None:  # noqa: ARG002 - part of the interface
        return None
