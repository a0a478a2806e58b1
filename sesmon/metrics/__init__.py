"""Prometheus exposition: the daemon's own registry and the collectors every capability contributes."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.registry import Collector


def build_registry(collectors: Iterable[Collector], *, runtime: bool = False) -> CollectorRegistry:
    """A fresh registry (never the global one) holding ``collectors``.

    ``runtime`` adds the standard ``process_*`` (CPU, memory, file descriptors, start time),
    ``python_info`` and ``python_gc_*`` families every Prometheus client exporter serves, so the usual
    process dashboards and alerts work on sesmon unchanged.
    """
    registry = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        registry.register(collector)
    if runtime:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
    return registry
