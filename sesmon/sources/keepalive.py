"""Kept-alive HTTP/1.1 POSTs for the lean SQS client: one socket per thread, responses parsed by httptools.

http.client parses every response's headers with the ``email`` package, about 35 µs of CPU per
request, and builds requests a header at a time; at two requests per ten events that was a fifth of
what the daemon spent per event. Here a request is one ``sendall`` of bytes built at once, and the
response is parsed by llhttp (through httptools, the parser uvicorn uses), which also handles
chunked bodies and keep-alive rules.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from dataclasses import dataclass, field
from typing import Final

import httptools

RECV_BYTES: Final = 64 * 1024


class ResponseTooLarge(http.client.HTTPException):
    """The response body exceeded the client's cap (its connection is dropped)."""


@dataclass
class Response:
    """A whole HTTP response: status, headers (names lower-cased, as received), body."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    keep_alive: bool = False
    complete: bool = False


class _Collector:
    """httptools callbacks filling a :class:`Response`, refusing a body over ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.response = Response()
        self._limit = limit
        self.parser = httptools.HttpResponseParser(self)

    def on_headers_complete(self) -> None:
        # Read here: llhttp resets both once the message is complete, within the same feed.
        self.response.status = self.parser.get_status_code()
        self.response.keep_alive = self.parser.should_keep_alive()

    def on_header(self, name: bytes, value: bytes) -> None:
        self.response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.response.body += body
        if len(self.response.body) > self._limit:
            raise ResponseTooLarge(f"response body over {self._limit} bytes")

    def on_message_complete(self) -> None:
        self.response.complete = True


class KeptAliveConnections:
    """POSTs to one host over a kept-alive connection per calling thread (thread-safe).

    A thread never waits for another's connection. A reused connection that the server had closed
    while idle is reopened once, transparently; every other failure raises (``TimeoutError`` for
    the connect or read timeout, ``OSError`` for the network, ``http.client.HTTPException`` for a
    malformed or oversized response) and drops that thread's connection.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        host_header: str,
        connect_timeout: float,
        read_timeout: float,
        max_body: int,
    ) -> None:
        self._address = (host, port)
        self._tls = tls
        self._server_name = host
        self._host_header = host_header
        self._timeouts = (connect_timeout, read_timeout)
        self._max_body = max_body
        self._local = threading.local()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def post(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Send one POST; return the whole response."""
        head = [f"POST {path} HTTP/1.1", f"Host: {self._host_header}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        request = "\r\n".join(head).encode("latin-1") + body
        for reused in (True, False):
            sock = getattr(self._local, "sock", None)
            fresh = sock is None
            if sock is None:
                sock = self._connect()
            try:
                return self._exchange(sock, request)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self._drop()
                # An idle connection the server had closed: try once more on a new one.
                if not reused or fresh:
                    raise
            except BaseException:
                self._drop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            sock.close()

    def _connect(self) -> socket.socket:
        connect, read = self._timeouts
        sock = socket.create_connection(self._address, timeout=connect)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)
            # Connected within the connect timeout; the long poll then has the read timeout.
            sock.settimeout(read)
        except BaseException:
            sock.close()
            raise
        self._local.sock = sock
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _drop(self) -> None:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            with self._lock:
                self._sockets.discard(sock)
            sock.close()

    def _exchange(self, sock: socket.socket, request: bytes) -> Response:
        collector = _Collector(self._max_body)
        try:
            return self._read(sock, request, collector)
        finally:
            # The parser and its collector refer to each other. Left as a cycle, every response
            # (its body: a receive's 10 messages) would wait for a full garbage collection, rare
            # under sesmon.runtime's thresholds: about 16 MB of them piled up under a backlog.
            del collector.parser

    def _read(self, sock: socket.socket, request: bytes, collector: _Collector) -> Response:
        sock.sendall(request)
        parser = collector.parser
        received = False
        while not collector.response.complete:
            data = sock.recv(RECV_BYTES)
            if not data:
                if received:
                    raise http.client.IncompleteRead(bytes(collector.response.body))
                raise http.client.RemoteDisconnected("the server closed the connection without a response")
            received = True
            try:
                parser.feed_data(data)
            except httptools.HttpParserCallbackError as exc:
                # Only on_body raises (the size cap): the parser keeps it as the context.
                cause = exc.__context__
                raise cause if isinstance(cause, ResponseTooLarge) else ResponseTooLarge(str(exc)) from None
            except httptools.HttpParserError as exc:
                raise http.client.HTTPException(f"malformed HTTP response: {exc}") from None
        response = collector.response
        if not response.keep_alive:
            self._drop()
        return response
