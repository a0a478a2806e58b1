"""Collector for the state backend's own series: write failures and when the state began."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon.state.monitor import StateSource


class StateCollector(Collector):
    """Emits::

    sesmon_state_write_failures_total 0
    sesmon_state_created_timestamp_seconds 1.79e9

    (``sesmon_source_up{source="state"}`` comes with every other source's health.) A created time that
    jumps means the state started over: every counter, dedup key and alert state before it is gone.
    """

    def __init__(self, source: StateSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "sesmon_state_write_failures",
            "State write transactions that failed (disk full, read-only, I/O error); nothing they held was "
            "acknowledged.",
            value=self._source.write_failures,
        )
        created = GaugeMetricFamily(
            "sesmon_state_created_timestamp_seconds",
            "Unix time the state (the SQLite file, or the shared database) was created; a change means it "
            "started over.",
        )
        if self._source.created is not None:
            created.add_metric([], self._source.created)
        yield created
