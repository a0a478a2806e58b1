"""HTTP endpoints: /metrics, /healthz, /readyz and the status page, served from a background thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from sesmon import statuspage
from sesmon.status import StatusReport

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment


@dataclass(frozen=True)
class Probes:
    """What the endpoints ask the daemon; each callable is cheap and never calls AWS."""

    alive: Callable[[], bool]
    pending: Callable[[], list[str]]  # empty when ready
    status: Callable[[], StatusReport]  # the status page's rows; statuspage renders them


def make_app(registry: CollectorRegistry, probes: Probes) -> Callable[..., Iterable[bytes]]:
    """The WSGI application; pure apart from reading ``registry`` and ``probes``."""

    metrics_app = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            result: Iterable[bytes] = metrics_app(environ, start_response)
            return result
        if path == "/healthz":
            ok = probes.alive()
            return _text(start_response, 200 if ok else 503, "ok\n" if ok else "scheduler stopped\n")
        if path == "/readyz":
            waiting = probes.pending()
            if not waiting:
                return _text(start_response, 200, "ready\n")
            return _text(start_response, 503, "not ready; waiting for: " + ", ".join(waiting) + "\n")
        if path == "/":
            page = statuspage.render(probes.status()).encode()
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page]
        return _text(start_response, 404, "not found\n")

    return app


_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


def _text(start_response: StartResponse, code: int, body: str) -> list[bytes]:
    start_response(f"{code} {_REASONS[code]}", [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - stdlib signature
        # Access logs would drown the structured log; scrapes arrive every few seconds.
        return


@dataclass
class ServerHandle:
    """A running server: its bound port and a way to stop it."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The bound port (useful when listening on port 0)."""
        return int(self.server.server_address[1])

    def close(self) -> None:
        """Stop serving and release the socket."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_server(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> ServerHandle:
    """Serve ``app`` on ``host:port`` in a daemon thread."""
    server_class = _IPv6Server if ":" in host else _Server
    server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="sesmon-http", daemon=True)
    thread.start()
    return ServerHandle(server, thread)
