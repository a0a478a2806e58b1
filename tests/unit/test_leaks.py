"""The leak guard stops what a test left running and names own threads that outlive it."""

from __future__ import annotations

import socketserver
import threading
from pathlib import Path

import pytest

from sesmon.servers import serve_in_thread
from sesmon.state.sqlite import SqliteState
from tests.leaks import Leaks


def test_servers_and_stores_left_open_are_stopped(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    leaks = Leaks()
    leaks.install(monkeypatch)
    handle = serve_in_thread(
        socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler), "sesmon-t"
    )
    store = SqliteState(tmp_path / "s.db")
    leaks.stop_all()
    assert not handle.thread.is_alive()
    with pytest.raises(Exception, match="closed"):
        store.kv_items("x")
    assert leaks.leaked(wait=1) == []


def test_an_own_thread_that_outlives_the_test_is_named() -> None:
    leaks = Leaks()
    release = threading.Event()
    thread = threading.Thread(target=release.wait, name="sesmon-stuck", daemon=True)
    thread.start()
    try:
        assert leaks.leaked(wait=0.1) == ["sesmon-stuck"]
    finally:
        release.set()
        thread.join()
    assert leaks.leaked(wait=0.1) == []
