"""HTTP endpoints: /metrics, /healthz, /readyz and the status page, served by waitress from a thread."""

from __future__ import annotations

import contextlib
import logging
import resource
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CollectorRegistry, make_wsgi_app
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from sesmon import statuspage
from sesmon.coalesce import Coalesced
from sesmon.config import ServerConfig
from sesmon.logs import get_logger, log_event
from sesmon.metrics.exposition import CONTENT_TYPE, Exposition
from sesmon.servers import JOIN_SECONDS, ServerHandle, serve_in_thread
from sesmon.status import StatusReport

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = get_logger("sesmon.web")
# waitress warns on every request that waits for a worker, which a burst of scrapers makes routine.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
# /metrics, the probes and the status page only read: any other method is refused (405).
ALLOWED_METHODS = ("GET", "HEAD")
# Prometheus scrapes every few seconds at the most: an answer a second old is as good as new.
SHARE_SECONDS = 1.0


@dataclass(frozen=True)
class Probes:
    """What the endpoints ask the daemon; each callable is cheap and never calls AWS."""

    alive: Callable[[], bool]
    pending: Callable[[], list[str]]  # empty when ready
    status: Callable[[], StatusReport]  # the status page's rows; statuspage renders them
    wedged: Callable[[], list[str]] = list  # loops that stopped making progress (why not alive)


def make_app(
    registry: CollectorRegistry | Exposition, probes: Probes, share_seconds: float = SHARE_SECONDS
) -> Callable[..., Iterable[bytes]]:
    """The WSGI application; pure apart from reading ``registry`` and ``probes``.

    With an :class:`Exposition` (the daemon's), /metrics serves its ready bytes; with a bare registry
    it is rendered at most once per ``share_seconds``, as the status page always is: requests in
    that time, and those that arrive while a rendering runs, get the same bytes.
    """

    exposition = make_wsgi_app(registry) if isinstance(registry, CollectorRegistry) else None

    def metrics_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert exposition is not None
        # prometheus_client answers only GET; for HEAD the server sends the headers alone.
        result: Iterable[bytes] = exposition({**environ, "REQUEST_METHOD": "GET"}, start_response)
        return result

    def page_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        report = probes.status()
        whole = environ.get("PATH_INFO", "/") == "/"
        page = statuspage.render(report) if whole else statuspage.render_main(report)
        start_response(
            "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]
        )
        return [page.encode()]

    # The expensive answers are shared (see sesmon.coalesce); the probes are always live.
    metrics = Coalesced(metrics_app, share_seconds)
    page = Coalesced(page_app, share_seconds)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ALLOWED_METHODS:
            return _text(start_response, 405, "method not allowed\n", [("Allow", ", ".join(ALLOWED_METHODS))])
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            if isinstance(registry, Exposition):
                return _metrics(registry, environ, start_response)
            return metrics(environ, start_response)
        if path == "/healthz":
            if probes.alive():
                return _text(start_response, 200, "ok\n")
            stalled = probes.wedged()
            reason = "no progress: " + ", ".join(stalled) if stalled else "stopped"
            return _text(start_response, 503, f"not alive: {reason}\n")
        if path == "/readyz":
            waiting = probes.pending()
            if not waiting:
                return _text(start_response, 200, "ready\n")
            # One line per source: its name and its last (already redacted) error.
            return _text(
                start_response, 503, "not ready; waiting for:\n" + "".join(f"{w}\n" for w in waiting)
            )
        if path in ("/", "/" + statuspage.FRAGMENT_PATH):
            # The page, or the live part of it that the page's script fetches to refresh itself.
            return page(environ, start_response)
        return _text(start_response, 404, "not found\n")

    return app


def _metrics(exposition: Exposition, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    rendered = exposition.current()
    headers = [("Content-Type", CONTENT_TYPE)]
    body = rendered.body
    if "gzip" in environ.get("HTTP_ACCEPT_ENCODING", ""):
        headers.append(("Content-Encoding", "gzip"))
        body = rendered.gzipped
    headers.append(("Content-Length", str(len(body))))
    start_response("200 OK", headers)
    return [body]


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def _text(
    start_response: StartResponse, code: int, body: str, headers: Iterable[tuple[str, str]] = ()
) -> list[bytes]:
    start_response(f"{code} {_REASONS[code]}", [("Content-Type", "text/plain; charset=utf-8"), *headers])
    return [body.encode()]


# Connections that may wait for accept(): far above the stdlib's 5, which overflowed under 50
# concurrent scrapers; the kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 1024
# How often idle connections and slow request heads are looked for (the timeouts' resolution).
SWEEP_SECONDS = 1.0
# /metrics and the probes take no body; a request line and headers fit in a few KB.
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024
# File descriptors kept for everything but HTTP connections (state, AWS connections, logs).
SPARE_FILES = 256


class ListenError(OSError):
    """The HTTP address cannot be bound (in use, not permitted, not local)."""


class _Server(TcpWSGIServer):
    """waitress's server plus a header timeout: a request whose line and headers are still arriving
    after ``header_timeout`` is closed, so a trickling client cannot hold a connection for ever
    (waitress's own ``channel_timeout`` only closes connections that are silent)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], header_timeout: float, **settings: Any) -> None:
        self.header_timeout = header_timeout
        # Channel → (the request being parsed, when it was first seen unfinished).
        self._heads: dict[int, tuple[object, float]] = {}
        super().__init__(app, **settings)

    def maintenance(self, now: float) -> None:  # waitress passes time.time()
        super().maintenance(now)  # type: ignore[arg-type]
        heads: dict[int, tuple[object, float]] = {}
        # The stubs type active_channels as one channel; it is waitress's fd → channel map.
        channels: dict[int, Any] = cast("dict[int, Any]", self.active_channels)
        for key, channel in channels.items():
            parser = getattr(channel, "request", None)
            if parser is None:
                # Connected, and not a byte since: the request line is late too.
                silent = channel.last_activity == channel.creation_time and not channel.requests
                if silent and now - channel.creation_time >= self.header_timeout:
                    channel.will_close = True
                continue
            if parser.headers_finished:
                continue
            seen = self._heads.get(key)
            since = seen[1] if seen is not None and seen[0] is parser else now
            heads[key] = (parser, since)
            if now - since >= self.header_timeout:
                channel.will_close = True
        self._heads = heads


class _Workers(ThreadedTaskDispatcher):
    """waitress's worker pool, with threads that are joined when it shuts down."""

    def __init__(self) -> None:
        super().__init__()
        self._started: list[threading.Thread] = []

    def start_new_thread(self, target: Callable[[int], object], thread_no: int) -> None:
        thread = threading.Thread(
            target=target, name=f"sesmon-http-{thread_no}", args=(thread_no,), daemon=True
        )
        self._started.append(thread)
        thread.start()

    def join(self, deadline: float) -> None:
        for thread in self._started:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Waitress:
    """A waitress server in the :class:`sesmon.servers.Serving` shape."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        # waitress's loop internals (trigger, socket map, bound address), which its stubs mistype.
        self._loop: Any = server
        self._stopped = threading.Event()

    @property
    def server_address(self) -> tuple[str, int]:
        return (str(self._loop.effective_host), int(self._loop.effective_port))

    def serve_forever(self) -> None:
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        # Workers first, while the loop still runs: a request being answered finishes writing (the
        # loop flushes it) and queued ones are cancelled. Then the loop, which exits once its socket
        # map is empty; only its own thread may empty it.
        deadline = time.monotonic() + JOIN_SECONDS
        self._stop_workers(deadline)
        self._loop.trigger.pull_trigger(self._close_all)
        self._stopped.wait(max(0.0, deadline - time.monotonic()))

    def _stop_workers(self, deadline: float) -> None:
        workers = self._server.task_dispatcher
        workers.shutdown(timeout=int(JOIN_SECONDS))
        if isinstance(workers, _Workers):
            workers.join(deadline)

    def _close_all(self) -> None:
        for dispatcher in list(self._loop._map.values()):
            # Connections and the trigger close as on a hang-up; the listener simply closes.
            if dispatcher is self._server:
                dispatcher.close()
            else:
                dispatcher.handle_close()

    def server_close(self) -> None:
        self._stop_workers(time.monotonic() + JOIN_SECONDS)  # already stopped unless the loop died
        if self._loop.socket is not None:
            self._server.close()


def _fit_open_files(connections: int) -> int:
    """Raise the soft open-files limit to fit ``connections`` (up to the hard limit); return how many
    connections fit. Past the limit, accept() would fail in a loop instead of leaving clients queued."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return connections
    fitted = max(16, soft - SPARE_FILES)
    log_event(
        log,
        logging.WARNING,
        "http_connections_limited",
        max_connections=connections,
        fitted=fitted,
        open_files_limit=soft,
        hint="raise the open-files limit (ulimit -n) or lower server.max_connections",
    )
    return fitted


def start_server(
    host: str,
    port: int,
    app: Callable[..., Iterable[bytes]],
    settings: ServerConfig | None = None,
) -> ServerHandle:
    """Bind ``host:port`` now and serve ``app`` with waitress in a background thread.

    Raises :class:`ListenError` (one line naming the address) when the address cannot be bound.
    """
    settings = settings or ServerConfig()
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        workers = _Workers()
        workers.set_thread_count(settings.threads)
        server = _Server(
            app,
            settings.header_timeout,
            dispatcher=workers,
            host=host,
            port=port,
            connection_limit=_fit_open_files(settings.max_connections),
            backlog=LISTEN_BACKLOG,
            channel_timeout=settings.idle_timeout,
            cleanup_interval=SWEEP_SECONDS,
            asyncore_use_poll=True,  # select() stops at 1,024 descriptors
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_BODY_BYTES,
            ident="sesmon",
            clear_untrusted_proxy_headers=False,
        )
    except OSError as exc:
        workers.shutdown(timeout=int(JOIN_SECONDS))
        workers.join(time.monotonic() + JOIN_SECONDS)
        raise ListenError(f"cannot listen on {address}: {exc.strerror or exc}") from None
    return serve_in_thread(_Waitress(server), "sesmon-http")
