"""Real faults on loopback: a proxy in front of moto that throttles or drops chosen SQS calls, and an
endpoint that only records what reached it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sesmon.servers import ServerHandle, serve_in_thread

# What SQS's JSON protocol answers, with HTTP 400, when a caller is throttled.
THROTTLED = b'{"__type": "com.amazonaws.sqs#ThrottlingException", "message": "Rate exceeded"}'
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class SqsFaultProxy:
    """Forwards every request to ``upstream``, except the SQS operations set to fail.

    ``fail(operation, how)``: ``throttle`` answers 400 ThrottlingException; ``drop`` closes the
    connection without an answer, as a dead endpoint or a reset would. Operations are named as in
    the ``X-Amz-Target`` header (``ReceiveMessage``, ``DeleteMessageBatch`` …). Every call is counted
    by operation, and ``calls_changed`` is notified after each, so tests wait on conditions.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.faults: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.calls_changed = threading.Condition()
        self._client = httpx.Client(timeout=60)
        self._handle: ServerHandle | None = None

    def start(self) -> SqsFaultProxy:
        self._handle = serve_in_thread(_server(self._handler()), "sqs-fault-proxy")
        return self

    @property
    def endpoint_url(self) -> str:
        assert self._handle is not None
        return f"http://127.0.0.1:{self._handle.port}"

    def fail(self, operation: str, how: str) -> None:
        with self.calls_changed:
            self.faults[operation] = how

    def heal(self) -> None:
        with self.calls_changed:
            self.faults.clear()

    def wait_for(self, condition: object, timeout: float = 60.0) -> None:
        """Wait until ``condition()`` holds, re-checked after each call through the proxy."""
        assert callable(condition)
        with self.calls_changed:
            if not self.calls_changed.wait_for(condition, timeout):
                raise AssertionError(f"condition not met within {timeout}s: {self.calls} {self.failed}")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._client.close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2] or "?"
                with proxy.calls_changed:
                    how = proxy.faults.get(operation)
                    proxy.calls[operation] += 1
                    if how is not None:
                        proxy.failed[operation] += 1
                    proxy.calls_changed.notify_all()
                if how == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if how == "throttle":
                    self._answer(400, THROTTLED, [("Content-Type", "application/x-amz-json-1.0")])
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
                upstream = proxy._client.post(proxy.upstream + self.path, content=body, headers=headers)
                kept = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS]
                self._answer(upstream.status_code, upstream.content, kept)

            def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        return Handler


class RecordingEndpoint:
    """Answers every request 500 and records it: proof of whether anything tried to reach AWS."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self._handle: ServerHandle | None = None

    def start(self) -> RecordingEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one_request(self) -> None:
                # Any method at all: record it, then answer 500.
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                endpoint.requests.append(f"{self.command} {self.path}")
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self._handle = serve_in_thread(_server(Handler), "recording-endpoint")
        return self

    @property
    def url(self) -> str:
        assert self._handle is not None
        return f"http://127.0.0.1:{self._handle.port}"

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def _server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


@pytest.fixture
def recording_endpoint() -> Iterator[RecordingEndpoint]:
    endpoint = RecordingEndpoint().start()
    yield endpoint
    endpoint.close()
