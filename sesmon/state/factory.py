"""Opens the configured state backend (the composition root's one way to get state)."""

from __future__ import annotations

import time
from collections.abc import Callable

from sesmon.config import StateConfig
from sesmon.state.monitor import StateListener
from sesmon.state.ports import StateBackend


def open_state(
    config: StateConfig, listener: StateListener | None = None, clock: Callable[[], float] = time.time
) -> StateBackend:
    """The backend ``state.backend`` names, opened and migrated to the current schema; ``listener``
    hears how its writes go (the daemon's ``state`` source)."""
    if config.backend == "memory":
        from sesmon.state.memory import MemoryState  # noqa: PLC0415 - load only the backend in use

        if listener is not None:
            listener.opened(clock(), True)  # nothing carried over, and nothing can fail to write
        return MemoryState()
    if config.backend == "postgresql":
        from sesmon.state.postgres import PostgresState  # noqa: PLC0415 - psycopg only when configured

        return PostgresState(config.resolved_dsn(), pool_size=config.pool_size, listener=listener)
    from sesmon.state.sqlite import SqliteState  # noqa: PLC0415

    return SqliteState(config.path, config.on_corrupt, listener, clock)
