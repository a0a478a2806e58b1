"""Opens the configured state backend (the composition root's one way to get state)."""

from __future__ import annotations

from sesmon.config import StateConfig
from sesmon.state.ports import StateBackend


def open_state(config: StateConfig) -> StateBackend:
    """The backend ``state.backend`` names, opened and migrated to the current schema."""
    if config.backend == "memory":
        from sesmon.state.memory import MemoryState  # noqa: PLC0415 - load only the backend in use

        return MemoryState()
    if config.backend == "postgresql":
        from sesmon.state.postgres import PostgresState  # noqa: PLC0415 - psycopg only when configured

        return PostgresState(config.resolved_dsn(), pool_size=config.pool_size)
    from sesmon.state.sqlite import SqliteState  # noqa: PLC0415

    return SqliteState(config.path)
