"""Collector for guarded actions: how many were done, dry-run, refused or failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class ActionsCollector(Collector):
    """Emits, e.g.::

    sesmon_actions_total{action="pause_configuration_set",result="done"} 1
    sesmon_actions_total{action="pause_configuration_set",result="dry_run"} 0

    Every (action, result) pair is pre-initialised at 0, so a rate() over it works from the start.
    """

    def __init__(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "sesmon_actions",
            "Actions decided on alert transitions, by action and result (done, dry_run, refused, failed).",
            labels=["action", "result"],
        )
        for (action, result), value in sorted(self._counts().items()):
            family.add_metric([action, result], value)
        yield family
