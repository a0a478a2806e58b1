"""``sesmon healthcheck``: ask the local daemon's /healthz, for container and service health checks."""

from __future__ import annotations

import http.client

# A daemon bound to every address answers on loopback; asking there keeps the probe inside the host.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104 - mapped away from


def local_address(listen: str, port: int | None = None) -> tuple[str, int, str]:
    """``HOST:PORT`` a server listens on → (host to reach it from this machine, port, base URL).

    ``port`` replaces the configured one (a server bound to port 0 knows its real port only later).
    """
    host, _, configured = listen.rpartition(":")
    host = host.strip("[]")
    host = _WILDCARDS.get(host, host)
    number = int(configured) if port is None else port
    shown = f"[{host}]" if ":" in host else host
    return host, number, f"http://{shown}:{number}"


def probe(listen: str, timeout: float) -> tuple[bool, str]:
    """(healthy, one line saying why): healthy only when /healthz answers 200 within ``timeout``."""
    host, port, base = local_address(listen)
    url = f"{base}/healthz"
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        body = response.read(200).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
        return False, f"unhealthy: {url}: {exc.__class__.__name__}: {exc}"
    finally:
        conn.close()
    if response.status != 200:
        return False, f"unhealthy: {url}: HTTP {response.status}: {body}"
    return True, f"healthy: {url}"
