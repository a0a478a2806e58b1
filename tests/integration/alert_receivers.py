"""A small threaded HTTP receiver on 127.0.0.1 for alert sink tests: records requests, fails on demand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Receiver:
    """``mode`` is ``ok`` (answer ``status``), ``fail`` (answer ``status`` with ``retry_after``) or
    ``hang`` (never answer; the client times out). Only answered 2xx requests count as received."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.status = 200
        self.retry_after: str | None = None
        self.received: list[Received] = []
        self.attempts: list[Received] = []
        self._release = threading.Event()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                item = Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
                )
                with receiver._cond:
                    receiver.attempts.append(item)
                mode, status = receiver.mode, receiver.status
                if mode == "hang":
                    receiver._release.wait(5)
                    self.close_connection = True
                    return
                self.send_response(status)
                if mode == "fail" and receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
                if 200 <= status < 300:
                    with receiver._cond:
                        receiver.received.append(item)
                        receiver._cond.notify_all()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block until ``count`` requests were received (bounded), return them all."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.stop()
