"""Fixtures for fault tests: the fault proxy in front of moto, and a daemon that is always shut down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sesmon.config import Config
from sesmon.config_loader import parse_config
from sesmon.daemon import Daemon
from sesmon.health import Heartbeats
from sesmon.sources import sqs
from tests.conftest import MotoServer
from tests.queue_config import queue_only_config
from tests.reliability.faults import SqsFaultProxy, recording_endpoint

__all__ = ["recording_endpoint"]

# Between failed cycles, receivers wait this instead of their exponential backoff, so a test
# recovers in seconds; the backoff itself is covered by the unit tests.
FAST_BACKOFF = 0.2


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[SqsFaultProxy]:
    faults = SqsFaultProxy(moto_server.endpoint_url).start()
    yield faults
    faults.close()


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqs, "default_backoff", lambda failures: FAST_BACKOFF)


def daemon_config(tmp_path: Path, endpoint_url: str, queue_url: str, extra: str = "") -> Config:
    """One target whose only source is the queue, on a free loopback port."""
    return parse_config(
        queue_only_config(endpoint_url, queue_url, tmp_path / "state.db", receivers=1, extra=extra),
        {},
    )


@pytest.fixture
def start_daemon() -> Iterator[Callable[..., Daemon]]:
    """Starts in-process daemons that are shut down when the test ends, pass or fail."""
    started: list[Daemon] = []

    def start(config: Config, heartbeats: Heartbeats | None = None) -> Daemon:
        daemon = Daemon(config, heartbeats=heartbeats, drain_seconds=5)
        daemon.start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.shutdown()
