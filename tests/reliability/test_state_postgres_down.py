"""PostgreSQL state that stops taking writes (read-only, connections cut): ``state`` goes down with the
reason and no secret, failures are counted, and the first committed transaction afterwards brings it
back; the failed write is not half-applied."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import psycopg
import pytest

from sesmon.batch import IngestDelta
from sesmon.config import StateConfig
from sesmon.health import SourceHealth
from sesmon.model import SourceStatus
from sesmon.state.factory import open_state
from sesmon.state.monitor import StateSource
from sesmon.state.ports import StateBackend
from tests.postgres import PostgresServer

PASSWORD = "pg-hunter2-secret"
KEY = ("events", "ses-set-a", "Bounce")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(postgres_server: PostgresServer) -> tuple[str, str]:
    """A database of its own: its DSN (with a password the trust-auth test server ignores), its name."""
    dsn = postgres_server.database()
    return dsn + f" password={PASSWORD}", dsn.rsplit("dbname=", 1)[1]


@pytest.fixture
def opened(database: tuple[str, str]) -> Iterator[tuple[StateBackend, StateSource, SourceHealth]]:
    health = SourceHealth()
    source = StateSource(health, Clock())
    config = StateConfig.model_validate({"backend": "postgresql", "dsn": database[0], "pool_size": 2})
    state = open_state(config, source)
    yield state, source, health
    state.close()


def _admin(postgres_server: PostgresServer, *statements: str) -> None:
    with psycopg.connect(postgres_server.admin, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _cut_connections(postgres_server: PostgresServer, name: str) -> None:
    # Pooled sessions keep the settings they began with: end them so the next ones see the change.
    _admin(
        postgres_server,
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
        "AND pid <> pg_backend_pid()",
    )


def _write(state: StateBackend, n: int) -> None:
    state.ingest_add("prod", IngestDelta(counters={KEY: n}))


def _until(attempt: Callable[[], None], succeeds: bool, tries: int = 5) -> list[BaseException]:
    """Call ``attempt`` until it raises (``succeeds`` False) or returns (True); the errors seen.

    The first call after the connections were cut may fail on the dead connection itself, which
    the pool then replaces; a bounded number of calls, never a wait.
    """
    errors: list[BaseException] = []
    for _ in range(tries):
        try:
            attempt()
        except psycopg.Error as exc:
            errors.append(exc)
            if not succeeds and isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
                return errors
        else:
            if succeeds:
                return errors
    raise AssertionError(f"no {'success' if succeeds else 'read-only error'} in {tries} tries: {errors}")


def _state_status(health: SourceHealth) -> SourceStatus:
    (status,) = [s for s in health.all() if s.source == "state"]
    return status


def test_a_read_only_database_takes_state_down_and_back(
    postgres_server: PostgresServer,
    database: tuple[str, str],
    opened: tuple[StateBackend, StateSource, SourceHealth],
    caplog: pytest.LogCaptureFixture,
) -> None:
    state, source, health = opened
    name = database[1]
    caplog.set_level(logging.INFO, logger="sesmon")
    assert _state_status(health).up
    _write(state, 3)
    assert source.write_failures == 0

    _admin(postgres_server, f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    _cut_connections(postgres_server, name)
    errors = _until(lambda: _write(state, 100), succeeds=False)
    status = _state_status(health)
    assert not status.up
    assert source.write_failures == len(errors)
    assert status.last_error is not None
    assert "ReadOnlySqlTransaction" in status.last_error
    assert "read-only transaction" in status.last_error
    failed = [r for r in caplog.records if "state_write_failed" in r.getMessage()]
    assert len(failed) == len(errors)
    everything = caplog.text + "".join(s.last_error or "" for s in health.all())
    assert PASSWORD not in everything
    assert database[0] not in everything

    _admin(postgres_server, f"ALTER DATABASE {name} RESET default_transaction_read_only")
    _cut_connections(postgres_server, name)
    _until(lambda: _write(state, 4), succeeds=True)
    status = _state_status(health)
    assert status.up
    assert status.last_error is None
    assert any("state_write_recovered" in r.getMessage() for r in caplog.records)
    # The refused writes changed nothing; the two that committed are there.
    assert state.ingest_load("prod").counters == {KEY: 7}


def test_a_deadlock_retry_is_not_a_storage_failure(
    opened: tuple[StateBackend, StateSource, SourceHealth],
) -> None:
    state, source, health = opened

    def deadlock() -> None:
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    # A deadlock PostgreSQL reports is retried whole by the backend; it says nothing about the
    # storage, so the source stays up while the failing statement is raised to the caller.
    with pytest.raises(psycopg.errors.DeadlockDetected):
        _raise_in_tx(state, deadlock)
    assert source.write_failures == 0
    assert _state_status(health).up


def _raise_in_tx(state: StateBackend, work: Callable[[], None]) -> None:
    from sesmon.state.postgres import PostgresState  # noqa: PLC0415 - the backend under test

    assert isinstance(state, PostgresState)
    # The one transaction helper every port method goes through.
    with state._tx():
        work()
