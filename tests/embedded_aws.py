"""The demo's embedded AWS (moto plus sesmon's SES middleware) for a test, reset before and after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from sesmon.demo.moto_server import EmbeddedAws


def _reset(server: EmbeddedAws) -> None:
    httpx.post(f"{server.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()


@contextmanager
def fresh_embedded_aws() -> Iterator[EmbeddedAws]:
    """A new server (its middleware keeps event destinations of its own, which a moto reset keeps),
    started empty; reset and stopped afterwards even when the test or the reset fails."""
    server = EmbeddedAws().start()
    try:
        _reset(server)
        yield server
        _reset(server)
    finally:
        server.stop()
