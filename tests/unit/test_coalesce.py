"""Identical requests share one rendering for max_age seconds; variants and paths do not mix."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sesmon.coalesce import Coalesced

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Counting:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        self.gate.wait(30)
        self.calls += 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ.get('HTTP_ACCEPT', '')}:{self.calls}".encode()]


def _get(app: Coalesced, **environ: str) -> tuple[str, bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    body = b"".join(app({"PATH_INFO": "/metrics", **environ}, start_response))  # type: ignore[arg-type]
    return seen["status"], body


def test_answers_are_shared_for_max_age_then_rendered_again() -> None:
    inner, clock = _Counting(), _Clock()
    app = Coalesced(inner, max_age=1.0, clock=clock)
    assert _get(app) == ("200 OK", b":1")
    clock.now = 0.9
    assert _get(app) == ("200 OK", b":1")
    clock.now = 1.0
    assert _get(app) == ("200 OK", b":2")
    assert app.renderings == 2


def test_each_negotiated_variant_has_its_own_rendering() -> None:
    inner = _Counting()
    app = Coalesced(inner, max_age=60.0, clock=_Clock())
    assert _get(app, HTTP_ACCEPT="text/plain")[1] == b"text/plain:1"
    assert _get(app, HTTP_ACCEPT="application/openmetrics-text")[1] == b"application/openmetrics-text:2"
    assert _get(app, HTTP_ACCEPT="text/plain")[1] == b"text/plain:1"


def test_concurrent_requests_wait_for_one_rendering() -> None:
    inner = _Counting()
    inner.gate.clear()  # the first rendering is slow: every other request arrives meanwhile
    app = Coalesced(inner, max_age=60.0, clock=_Clock())
    bodies: list[bytes] = []
    threads = [threading.Thread(target=lambda: bodies.append(_get(app)[1])) for _ in range(8)]
    for thread in threads:
        thread.start()
    inner.gate.set()
    for thread in threads:
        thread.join(30)
    assert bodies == [b":1"] * 8
    assert inner.calls == 1
