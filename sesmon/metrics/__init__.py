"""Prometheus exposition: the daemon's own registry and the collectors every capability contributes."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector


def build_registry(collectors: Iterable[Collector]) -> CollectorRegistry:
    """A fresh registry (never the global one) holding ``collectors``."""
    registry = CollectorRegistry(auto_describe=True)
    for collector in collectors:
        registry.register(collector)
    return registry
