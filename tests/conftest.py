"""Shared pytest fixtures: an AWS mock server on loopback, fixture loading, isolated environment."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from sesmon import redact
from sesmon.state.sqlite import SqliteState
from tests.leaks import Leaks
from tests.postgres import PostgresServer
from tests.tools import require_tool

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never reach AWS: dummy credentials keep botocore from searching the machine for real ones.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def _no_leaks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Stops whatever the test left running, even when it failed (see tests/leaks.py).
    leaks = Leaks()
    leaks.install(monkeypatch)
    yield
    leaks.stop_all()
    left = leaks.leaked()
    if left:
        pytest.fail(f"threads still running after the test and its clean-up: {', '.join(left)}")


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    redact.clear()


class MotoServer:
    """A moto server on 127.0.0.1 with a free port; ``reset()`` wipes its state between tests."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"

    def reset(self) -> None:
        import httpx  # noqa: PLC0415

        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool's path (Debian package prometheus); skips locally, fails under CI, when missing."""
    return require_tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    """amtool's path (Debian package prometheus-alertmanager)."""
    return require_tool("amtool")


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The Prometheus server's path (Debian package prometheus)."""
    return require_tool("prometheus")


@pytest.fixture(scope="session")
def alertmanager_binary() -> str:
    """The Alertmanager's path (Debian package prometheus-alertmanager)."""
    return require_tool("alertmanager")


@pytest.fixture(scope="session")
def moto_session_server() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def moto_server(moto_session_server: MotoServer) -> Iterator[MotoServer]:
    """A clean moto server for one test (state reset before and after)."""
    moto_session_server.reset()
    yield moto_session_server
    moto_session_server.reset()


def environment_without_aws() -> dict[str, str]:
    """The environment for a child process, with dummy AWS credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole session, stopped at its end (Debian postgresql)."""
    server = PostgresServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """The DSN of an empty database of its own for one test."""
    return postgres_server.database()


@pytest.fixture
def open_store() -> Iterator[Callable[[str | Path], SqliteState]]:
    """Opens state stores that are closed (with their checkpoint thread) when the test ends, pass or fail."""
    opened: list[SqliteState] = []

    def factory(path: str | Path) -> SqliteState:
        store = SqliteState(path)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        with contextlib.suppress(sqlite3.ProgrammingError):  # the test closed it already
            store.close()
