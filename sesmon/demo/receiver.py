"""The demo's webhook receiver: prints each notification readably and checks its HMAC signature."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from sesmon.alerts.sinks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sesmon.demo import console
from sesmon.servers import ServerHandle, serve_in_thread


@dataclass(frozen=True, slots=True)
class Received:
    """One alert of one notification, as the receiver understood it."""

    at: float
    status: str
    rule: str
    severity: str
    configuration_set: str
    value: float | None
    threshold: float | None
    summary: str
    reason: str
    signature: str  # "ok", "unsigned" or "bad"
    # Which target (and, for source_down, which source) the alert is about.
    target: str = ""
    source: str = ""


def describe(payload: dict[str, Any], at: float, signature: str) -> list[Received]:
    """The alerts in an Alertmanager-style (version 4) webhook body."""
    reason = str((payload.get("sesmon") or {}).get("reason", ""))
    found: list[Received] = []
    for alert in payload.get("alerts") or []:
        labels = alert.get("labels") or {}
        notes = alert.get("annotations") or {}
        found.append(
            Received(
                at=at,
                status=str(alert.get("status") or payload.get("status") or "?"),
                rule=str(labels.get("alertname", "?")),
                severity=str(labels.get("severity", "")),
                configuration_set=str(labels.get("configuration_set", "")),
                value=_number(notes.get("value")),
                threshold=_number(notes.get("threshold")),
                summary=str(notes.get("summary", "")),
                reason=reason,
                signature=signature,
                target=str(labels.get("target", "")),
                source=str(labels.get("source", "")),
            )
        )
    return found


def _number(text: object) -> float | None:
    try:
        return float(str(text))
    except ValueError:
        return None


def format_line(item: Received, started: float | None = None) -> str:
    """One console line: status, severity, rule, what it is about, value vs threshold, signature."""
    clock = f"t+{item.at - started:5.1f}s" if started is not None else time.strftime("%H:%M:%S")
    head = f"[webhook {clock}] {item.status.upper():8s} {item.severity:8s} {item.rule}"
    parts = [head]
    for name, value in (
        ("target", item.target),
        ("source", item.source),
        ("configuration_set", item.configuration_set),
    ):
        if value:
            parts.append(f"{name}={value}")
    if item.value is not None and item.threshold is not None:
        parts.append(f"{item.value * 100:.2f}% vs threshold {item.threshold * 100:.2f}%")
    if item.reason and item.reason not in ("fired", "firing"):
        parts.append(f"({item.reason})")
    parts.append(f"signature {item.signature}")
    line = "  ".join(parts)
    return f"{line}\n    {item.summary}" if item.summary else line


class DemoReceiver:
    """A threaded HTTP server on loopback that accepts sesmon's webhook notifications."""

    def __init__(
        self,
        secret: str | None,
        out: TextIO,
        clock: Callable[[], float] = time.time,
        started: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.secret = secret
        self.out = out
        self.clock = clock
        self.started = started
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._arrived = threading.Condition(self._lock)
        self._handle: ServerHandle | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> DemoReceiver:
        """Serve in a daemon thread; returns self."""
        server = ThreadingHTTPServer((host, port), self._handler())
        server.daemon_threads = True
        self._handle = serve_in_thread(server, "demo-webhook")
        return self

    @property
    def url(self) -> str:
        """Where sesmon posts notifications."""
        if self._handle is None:
            raise RuntimeError("the receiver is not started")
        return f"http://{self._handle.host}:{self._handle.port}/sesmon"

    def stop(self) -> None:
        """Stop serving and join the server's thread."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def received(self) -> list[Received]:
        """Every alert received so far, in arrival order."""
        with self._lock:
            return list(self._received)

    def accept(self, body: bytes, headers: dict[str, str]) -> int:
        """Handle one POST; returns the HTTP status to answer."""
        at = self.clock()
        signature = self._check(body, headers)
        if signature == "bad":
            console.say(self.out, f"[webhook] rejected a body with a bad signature ({len(body)} bytes)")
            return 401
        try:
            payload = json.loads(body)
        except ValueError:
            console.say(self.out, "[webhook] rejected a body that is not JSON")
            return 400
        if not isinstance(payload, dict):
            return 400
        items = describe(payload, at, signature)
        with self._arrived:
            self._received.extend(items)
            self._arrived.notify_all()
        for item in items:
            console.say(self.out, format_line(item, self.started()))
        return 200

    def _check(self, body: bytes, headers: dict[str, str]) -> str:
        if not self.secret:
            return "unsigned"
        given = headers.get(SIGNATURE_HEADER.lower(), "")
        timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
        if not given or not timestamp:
            return "bad"
        return "ok" if hmac.compare_digest(sign(self.secret, timestamp, body), given) else "bad"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.accept(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                del format, args  # the console shows notifications, not access logs

        return Handler
