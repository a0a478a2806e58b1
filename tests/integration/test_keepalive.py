"""Kept-alive POSTs of the lean SQS client against a scripted server on loopback: reuse, reconnects,
chunked and split responses, size cap, malformed answers, timeouts and TLS."""

from __future__ import annotations

import contextlib
import datetime
import gc
import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sesmon.sources import keepalive
from sesmon.sources.keepalive import KeptAliveConnections, ResponseTooLarge

# What the server does with one request on a connection: send these bytes, then close or keep it.
Step = Callable[[socket.socket], bool]  # returns whether to keep the connection open


def answer(raw: bytes, *, close: bool = False, split: bool = False) -> Step:
    def step(conn: socket.socket) -> bool:
        if split:
            for i in range(len(raw)):
                conn.sendall(raw[i : i + 1])
        else:
            conn.sendall(raw)
        return not close

    return step


def ok(body: bytes = b'{"ok":1}', extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@dataclass
class ScriptedServer:
    """Accepts connections on 127.0.0.1 and answers each request with the next step of ``plan``."""

    plan: list[Step] = field(default_factory=list)
    tls: ssl.SSLContext | None = None  # the server's side of TLS, when set
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    silent: threading.Event = field(default_factory=threading.Event)  # set: hold requests unanswered

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except OSError:
                    conn.close()
                    continue
            self.connections += 1
            self._open.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buffer += data
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buffer = rest[length:]
                if self.silent.is_set():
                    self._stop.wait(30)
                    return
                step = self.plan.pop(0) if self.plan else answer(ok())
                if not step(conn):
                    return

    def close(self) -> None:
        self._stop.set()
        # shutdown() wakes the blocked accept() and recv() calls; close() alone would not.
        for sock in (self.sock, *self._open):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


def connections_to(
    port: int, *, tls: ssl.SSLContext | None = None, read_timeout: float = 5, max_body: int = 1000
) -> KeptAliveConnections:
    return KeptAliveConnections(
        "127.0.0.1",
        port,
        tls=tls,
        host_header=f"127.0.0.1:{port}",
        connect_timeout=5,
        read_timeout=read_timeout,
        max_body=max_body,
    )


@pytest.fixture
def connections(server: ScriptedServer) -> Iterator[KeptAliveConnections]:
    pool = connections_to(server.port)
    yield pool
    pool.close()


def post(pool: KeptAliveConnections, body: bytes = b"{}") -> tuple[int, bytes, dict[str, str]]:
    response = pool.post("/", {"Content-Type": "application/x-amz-json-1.0"}, body)
    return response.status, bytes(response.body), response.headers


def test_requests_reuse_one_connection_and_carry_host_and_length(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    server.plan = [answer(ok(f'{{"n":{i}}}'.encode(), f"X-Amzn-RequestId: r{i}\r\n")) for i in range(3)]
    got = [post(connections, f'{{"i":{i}}}'.encode())[:2] for i in range(3)]
    assert got == [(200, f'{{"n":{i}}}'.encode()) for i in range(3)]
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    assert b"Content-Length: 7\r\n" in first
    assert first.endswith(b'{"i":0}')


def test_a_response_is_freed_without_waiting_for_the_garbage_collector(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    # The daemon collects cycles rarely (sesmon.runtime): a response must go by reference counting.
    server.plan = [answer(ok(b'{"n":1}')), answer(ok(b'{"n":2}', "Connection: close\r\n"), close=True)]
    gc.collect()
    gc.disable()
    try:
        assert post(connections)[:2] == (200, b'{"n":1}')
        assert post(connections)[:2] == (200, b'{"n":2}')  # and one whose connection is then closed
        left = [o for o in gc.get_objects() if isinstance(o, keepalive._Collector)]
    finally:
        gc.enable()
    assert left == []


def test_headers_are_lower_cased_and_error_statuses_returned(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    body = b'{"__type":"ThrottlingException"}'
    server.plan = [
        answer(
            b"HTTP/1.1 400 Bad Request\r\nX-Amzn-Query-Error: Throttling;Sender\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    ]
    status, got, headers = post(connections)
    assert (status, got) == (400, body)
    assert headers["x-amzn-query-error"] == "Throttling;Sender"


def test_an_idle_connection_the_server_closed_is_reopened_once(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    server.plan = [answer(ok(), close=True)]  # closes without saying so (an idle timeout)
    assert post(connections)[0] == 200
    assert post(connections)[0] == 200
    assert server.connections == 2


def test_connection_close_is_honoured(server: ScriptedServer, connections: KeptAliveConnections) -> None:
    server.plan = [answer(ok(extra="Connection: close\r\n"), close=True), answer(ok())]
    assert post(connections)[0] == 200
    assert post(connections)[0] == 200
    assert server.connections == 2


def test_chunked_and_byte_by_byte_responses_are_whole(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    chunked = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'
    server.plan = [answer(chunked), answer(ok(b'{"b":2}'), split=True)]
    assert post(connections)[:2] == (200, b'{"a":1}')
    assert post(connections)[:2] == (200, b'{"b":2}')
    assert server.connections == 1


def test_an_oversized_body_is_refused_and_its_connection_dropped(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    server.plan = [answer(ok(b"x" * 1001)), answer(ok())]
    with pytest.raises(ResponseTooLarge):
        post(connections)
    assert post(connections)[0] == 200
    assert server.connections == 2


def test_a_malformed_response_is_an_http_exception(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    server.plan = [answer(b"NOT HTTP AT ALL\r\n\r\n"), answer(ok())]
    with pytest.raises(http.client.HTTPException):
        post(connections)
    assert post(connections)[0] == 200


def test_a_response_cut_short_is_an_incomplete_read(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    server.plan = [answer(ok(b'{"long":"body"}')[:-5], close=True)]
    with pytest.raises(http.client.IncompleteRead):
        post(connections)


def test_no_answer_within_the_read_timeout_raises_timeout(server: ScriptedServer) -> None:
    pool = connections_to(server.port, read_timeout=0.2)
    server.silent.set()
    try:
        with pytest.raises(TimeoutError):
            post(pool)
    finally:
        pool.close()


def test_each_thread_has_its_own_connection(
    server: ScriptedServer, connections: KeptAliveConnections
) -> None:
    results: list[int] = []

    def worker() -> None:
        for _ in range(5):
            results.append(post(connections)[0])

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 15
    assert server.connections == 3


def test_a_refused_connection_raises_connection_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = int(probe.getsockname()[1])
    pool = connections_to(port)
    try:
        with pytest.raises(ConnectionRefusedError):
            post(pool)
    finally:
        pool.close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), valid now, signed by itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sesmon test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_connections_verify_the_server_and_are_kept_alive(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    scripted = ScriptedServer(tls=server_side)
    trusting = ssl.create_default_context(cafile=str(cert))
    pool = connections_to(scripted.port, tls=trusting)
    # The system's CAs: the self-signed server is refused.
    untrusting = connections_to(scripted.port, tls=ssl.create_default_context())
    try:
        scripted.plan = [answer(ok(b'{"tls":1}')), answer(ok(b'{"tls":2}'))]
        assert post(pool)[:2] == (200, b'{"tls":1}')
        assert post(pool)[:2] == (200, b'{"tls":2}')
        assert scripted.connections == 1
        with pytest.raises(ssl.SSLCertVerificationError):
            post(untrusting)
    finally:
        pool.close()
        untrusting.close()
        scripted.close()
