"""A small local SQS endpoint for the benchmarks: SQS's JSON protocol (AWS JSON 1.0), in memory.

boto3 1.34+ speaks this protocol to SQS (``X-Amz-Target: AmazonSQS.<Operation>``), so the daemon's own
client code runs against it unchanged. It answers the operations the daemon and the benchmarks use
(ReceiveMessage with long polling, DeleteMessageBatch, SendMessageBatch, GetQueueAttributes, and STS
GetCallerIdentity for the daemon's start-up) in constant time per message, unlike moto's SQS, which
rescans the whole queue on every call and would dominate the figures. It does not check signatures.
Messages received and not deleted stay in flight (the benchmarks delete everything they receive).
"""

from __future__ import annotations

import hashlib
import itertools
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

ACCOUNT = "123456789012"
_IDENTITY = (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    f"<GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT}:user/bench</Arn><UserId>AIDBENCH</UserId>"
    f"<Account>{ACCOUNT}</Account></GetCallerIdentityResult>"
    "<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>"
    "</GetCallerIdentityResponse>"
).encode()


@dataclass
class QueueStats:
    """What the endpoint saw: requests by operation, messages received and deleted."""

    requests: dict[str, int] = field(default_factory=dict)
    received: int = 0
    deleted: int = 0


class LocalQueue:
    """One in-memory queue: visible messages, in-flight ones by receipt handle, a condition for long polls."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._visible: deque[dict[str, Any]] = deque()
        self._in_flight: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count()
        self.stats = QueueStats()
        self._on_delete: Callable[[int], None] | None = None
        self._closed = False

    def on_delete(self, callback: Callable[[int], None] | None) -> None:
        """Call ``callback(total deleted)`` after every delete request (the benchmarks' finish line)."""
        self._on_delete = callback

    def load(self, bodies: Iterable[str]) -> int:
        """Make ``bodies`` visible at once (a backlog); wake the long polls; return how many."""
        now_ms = str(int(time.time() * 1000))
        messages = []
        for body in bodies:
            n = next(self._ids)
            messages.append(
                {
                    "MessageId": f"00000000-0000-4000-8000-{n:012d}",
                    "ReceiptHandle": f"rh-{n}",
                    "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
                    "Body": body,
                    "Attributes": {"SentTimestamp": now_ms, "ApproximateReceiveCount": "1"},
                }
            )
        with self._cond:
            self._visible.extend(messages)
            self._cond.notify_all()
        return len(messages)

    def receive(self, limit: int, wait: float) -> list[dict[str, Any]]:
        """Up to ``limit`` visible messages, waiting up to ``wait`` seconds for one to arrive."""
        deadline = time.monotonic() + wait
        with self._cond:
            while not self._visible:
                if self._closed:
                    return []
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)
            out = [self._visible.popleft() for _ in range(min(limit, len(self._visible)))]
            for message in out:
                self._in_flight[message["ReceiptHandle"]] = message
            self.stats.received += len(out)
        return out

    def delete(self, handles: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
        """Delete by receipt handle; return the entry ids that succeeded and those that did not."""
        ok: list[str] = []
        bad: list[str] = []
        with self._cond:
            for entry_id, handle in handles:
                (ok if self._in_flight.pop(handle, None) is not None else bad).append(entry_id)
            self.stats.deleted += len(ok)
            total = self.stats.deleted
        if self._on_delete is not None:
            self._on_delete(total)
        return ok, bad

    def close(self) -> None:
        """End every long poll now and answer later ones at once (the consumers are stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def depth(self) -> int:
        """Visible plus in-flight messages."""
        with self._cond:
            return len(self._visible) + len(self._in_flight)

    def count(self, operation: str) -> None:
        """Record one request of ``operation``."""
        with self._cond:
            self.stats.requests[operation] = self.stats.requests.get(operation, 0) + 1


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as SQS offers it: botocore's pool then reuses its connections.
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without NODELAY, Nagle's algorithm and the
        # client's delayed ACK would hold every response ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - stdlib signature
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target") or ""
        queue = self.server.queue
        if not target:
            # The query protocol: only STS GetCallerIdentity (the daemon asks for its account once).
            queue.count("GetCallerIdentity")
            self._reply(200, _IDENTITY, "text/xml")
            return
        operation = target.rsplit(".", 1)[-1]
        queue.count(operation)
        request = orjson.loads(body) if body else {}
        if operation == "ReceiveMessage":
            messages = queue.receive(
                int(request.get("MaxNumberOfMessages", 1)), float(request.get("WaitTimeSeconds", 0))
            )
            self._json({"Messages": messages} if messages else {})
        elif operation == "DeleteMessageBatch":
            ok, bad = queue.delete([(e["Id"], e["ReceiptHandle"]) for e in request["Entries"]])
            failed = [
                {"Id": i, "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": "unknown"}
                for i in bad
            ]
            self._json({"Successful": [{"Id": i} for i in ok], "Failed": failed})
        elif operation == "DeleteMessage":
            queue.delete([("0", request["ReceiptHandle"])])
            self._json({})
        elif operation == "SendMessageBatch":
            queue.load(e["MessageBody"] for e in request["Entries"])
            self._json(
                {
                    "Successful": [
                        {"Id": e["Id"], "MessageId": e["Id"], "MD5OfMessageBody": _md5(e["MessageBody"])}
                        for e in request["Entries"]
                    ],
                    "Failed": [],
                }
            )
        elif operation == "GetQueueAttributes":
            self._json({"Attributes": {"ApproximateNumberOfMessages": str(queue.depth())}})
        else:
            self._reply(
                400,
                orjson.dumps({"__type": "com.amazonaws.sqs#UnsupportedOperation", "message": operation}),
                "application/x-amz-json-1.0",
            )

    def _json(self, payload: dict[str, Any]) -> None:
        self._reply(200, orjson.dumps(payload), "application/x-amz-json-1.0")

    def _reply(self, code: int, payload: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(payload)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    queue: LocalQueue

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A consumer stopped mid-connection (the benchmark ends it): nothing to report.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LocalSqs:
    """The endpoint on 127.0.0.1 (an ephemeral port), served from a thread; use as a context manager."""

    def __init__(self) -> None:
        self.queue = LocalQueue()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.queue = self.queue
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-sqs", daemon=True)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def queue_url(self) -> str:
        """The one queue's URL (any queue URL reaches the same queue)."""
        return f"{self.endpoint}/{ACCOUNT}/ses-events"

    def __enter__(self) -> LocalSqs:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
