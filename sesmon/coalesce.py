"""Identical requests share one rendering: a WSGI wrapper that answers from a response made at most
``max_age`` seconds ago, and makes concurrent requests for the same thing wait for one rendering."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

# What may change a rendering of the same path: the query and the content negotiation.
_VARY = ("QUERY_STRING", "HTTP_ACCEPT", "HTTP_ACCEPT_ENCODING")
MAX_KEYS = 16  # distinct variants kept; a client varying its headers only ever costs renderings


@dataclass(frozen=True, slots=True)
class _Response:
    made: float
    status: str
    headers: list[tuple[str, str]]
    body: bytes


class _Slot:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.response: _Response | None = None


class Coalesced:
    """Wraps ``app`` (a GET handler whose answer may be up to ``max_age`` seconds old).

    Fifty scrapers arriving together cost one rendering instead of fifty, so a burst of expensive
    requests cannot occupy every worker and queue the cheap probes behind it.
    """

    def __init__(
        self, app: WSGIApplication, max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.max_age = max_age
        self.clock = clock
        self.renderings = 0
        self._guard = threading.Lock()
        self._slots: OrderedDict[tuple[str, ...], _Slot] = OrderedDict()

    def _slot(self, key: tuple[str, ...]) -> _Slot:
        with self._guard:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _Slot()
                while len(self._slots) > MAX_KEYS:
                    self._slots.popitem(last=False)
            else:
                self._slots.move_to_end(key)
            return slot

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        key = (str(environ.get("PATH_INFO", "")), *(str(environ.get(name, "")) for name in _VARY))
        slot = self._slot(key)
        with slot.lock:  # one rendering at a time per variant; the others then share it
            response = slot.response
            if response is None or self.clock() - response.made >= self.max_age:
                response = self._render(environ)
                slot.response = response
        start_response(response.status, list(response.headers))
        return [response.body]

    def _render(self, environ: WSGIEnvironment) -> _Response:
        captured: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: object = None
        ) -> Callable[[bytes], object]:
            del exc_info
            captured.append((status, list(headers)))
            return lambda _data: None

        self.renderings += 1
        body = b"".join(self.app(environ, capture))
        status, headers = captured[-1]
        return _Response(self.clock(), status, headers, body)
