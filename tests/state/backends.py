"""Opens each state backend for the contract suite: a fresh store per test, and the same store reopened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sesmon.state.memory import MemoryState
from sesmon.state.ports import StateBackend
from sesmon.state.postgres import PostgresState
from sesmon.state.sqlite import SqliteState


class Opened:
    """A backend under test: ``store`` is open; ``reopen()`` closes it and opens the same state again
    (a restart); ``other()`` opens a second handle on the same state where the backend is shared."""

    def __init__(self, open_store: Callable[[], StateBackend], *, persistent: bool) -> None:
        self._open = open_store
        self.persistent = persistent
        self.store = open_store()
        self._handles: list[StateBackend] = [self.store]

    def reopen(self) -> StateBackend:
        if self.persistent:
            self.store.close()
            self._handles.remove(self.store)
            self.store = self._open()
            self._handles.append(self.store)
        return self.store

    def other(self) -> StateBackend:
        if not self.persistent:
            return self.store
        handle = self._open()
        self._handles.append(handle)
        return handle

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        self._handles.clear()


def open_sqlite(tmp_path: Path) -> Opened:
    return Opened(lambda: SqliteState(tmp_path / "state.db"), persistent=True)


def open_memory() -> Opened:
    memory = MemoryState()
    return Opened(lambda: memory, persistent=False)


def open_postgres(dsn: str) -> Opened:
    return Opened(lambda: PostgresState(dsn, pool_size=2), persistent=True)
