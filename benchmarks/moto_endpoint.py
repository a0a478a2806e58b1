"""The local SQS endpoint the ingestion benchmarks drain: moto's server on 127.0.0.1, quiet."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from typing import Any


def start_moto() -> tuple[Any, str]:
    """A started moto server on a free loopback port, and its endpoint URL (stop it when done)."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only the SQS parts need moto

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _dummy_credentials()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def start_moto_process() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in a process of its own (so the endpoint does not share an interpreter lock
    with the measuring process), on a free loopback port, once it answers; stop it when done."""
    _dummy_credentials()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(
        [sys.executable, "-c", "from moto.server import main; main()", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, endpoint
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("moto's server did not start") from None
            time.sleep(0.1)


def _dummy_credentials() -> None:
    # boto3 signs every request, moto accepts any key: this process never reaches AWS.
    for var, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(var, value)
