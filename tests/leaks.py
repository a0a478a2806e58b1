"""Nothing a test starts outlives it: stores, daemons, SQS receivers and background servers are
stopped when the test ends, pass or fail, and a sesmon thread still running after that fails the test
that leaked it, instead of whichever test happens to run next."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from sesmon.daemon import Daemon
from sesmon.servers import ServerHandle
from sesmon.sources.sqs import SqsSource
from sesmon.state.sqlite import SqliteState

# Threads sesmon and its demo name themselves: receivers, HTTP workers, checkpoints, demo servers.
OWN_THREADS = ("sesmon-", "demo-")
STOP_SECONDS = 10.0


class Leaks:
    """Records what a test starts (by wrapping the constructors and start methods) and stops it."""

    def __init__(self) -> None:
        self.stores: list[SqliteState] = []
        self.daemons: list[Daemon] = []
        self.sources: list[SqsSource] = []
        self.servers: list[ServerHandle] = []
        self.before = set(threading.enumerate())

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        _record_after(monkeypatch, SqliteState, "__init__", self.stores)
        _record_after(monkeypatch, ServerHandle, "__init__", self.servers)
        _record_after(monkeypatch, Daemon, "start", self.daemons)
        _record_after(monkeypatch, SqsSource, "start", self.sources)

    def stop_all(self) -> None:
        deadline = time.monotonic() + STOP_SECONDS
        for daemon in self.daemons:
            daemon.shutdown()  # idempotent: a test that shut it down already costs nothing
        for source in self.sources:
            source.stop(deadline)
        for server in self.servers:
            if server.thread.is_alive():
                server.close()
        for store in self.stores:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed by the test already
                store.close()

    def leaked(self, wait: float = STOP_SECONDS) -> list[str]:
        """Own threads started during the test and still alive (given ``wait`` seconds to end)."""
        deadline = time.monotonic() + wait
        left = []
        for thread in set(threading.enumerate()) - self.before:
            if thread.name.startswith(OWN_THREADS):
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    left.append(thread.name)
        return sorted(left)


def _record_after(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, into: list[Any]) -> None:
    original: Callable[..., None] = getattr(cls, name)

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        into.append(self)

    monkeypatch.setattr(cls, name, wrapper)
