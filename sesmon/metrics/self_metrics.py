"""Collectors for sesmon's own health: build info and per-source poll status."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon import __version__
from sesmon.health import SourceHealth
from sesmon.targets import TargetDirectory

_SOURCE_LABELS = ["source", "target", "account_id", "region"]


class BuildInfoCollector(Collector):
    """Emits ``sesmon_build_info{version="<package version>"} 1``."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("sesmon_build_info", "sesmon version, always 1.", labels=["version"])
        family.add_metric([__version__], 1)
        yield family


class SourceHealthCollector(Collector):
    """Emits per-source status, e.g.::

    sesmon_source_up{source="sqs",target="prod",account_id="123456789012",region="us-east-1"} 1
    sesmon_source_last_success_timestamp_seconds{...} 1.76e9
    sesmon_poll_duration_seconds{...} 0.21
    """

    def __init__(self, health: SourceHealth, targets: TargetDirectory) -> None:
        self._health = health
        self._targets = targets

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "sesmon_source_up", "1 if the source's last poll succeeded, else 0.", labels=_SOURCE_LABELS
        )
        last = GaugeMetricFamily(
            "sesmon_source_last_success_timestamp_seconds",
            "Unix time of the source's last successful poll.",
            labels=_SOURCE_LABELS,
        )
        duration = GaugeMetricFamily(
            "sesmon_poll_duration_seconds", "Duration of the source's last poll.", labels=_SOURCE_LABELS
        )
        for status in self._health.all():
            if status.target:
                ident = self._targets.get(status.target)
                labels = [status.source, status.target, ident.account_id, ident.region]
            else:  # a source of sesmon itself (state), not of an AWS target
                labels = [status.source, "", "", ""]
            up.add_metric(labels, 1.0 if status.up else 0.0)
            if status.last_success is not None:
                last.add_metric(labels, status.last_success)
            if status.last_duration is not None:
                duration.add_metric(labels, status.last_duration)
        yield up
        yield last
        yield duration
