"""The WSGI app: routing, readiness body, metrics exposition and the status page."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from sesmon.status import AlertsStatus, SourceRow, StatusReport
from sesmon.web import Probes, make_app


def _call(app: Callable[..., Iterable[bytes]], path: str) -> tuple[str, dict[str, str], str]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status
        seen["headers"] = dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": ""}, start_response))
    return seen["status"], seen["headers"], body.decode()


def _probes(alive: bool = True, pending: list[str] | None = None) -> Probes:
    report = StatusReport(
        version="1.2.3",
        pending=tuple(pending or ()),
        sources=(SourceRow("sqs", "prod<&>", up=False, last_error="<script>x</script>"),),
        sections=(("alerts <&>", AlertsStatus(firing=(), sinks=())),),
    )
    return Probes(alive=lambda: alive, pending=lambda: list(pending or []), status=lambda: report)


def test_metrics_exposes_the_given_registry_only() -> None:
    registry = CollectorRegistry()
    Counter("sesmon_test_things", "Things.", registry=registry).inc(3)
    status, headers, body = _call(make_app(registry, _probes()), "/metrics")
    assert status == "200 OK"
    assert headers["Content-Type"].startswith("text/plain")
    assert "sesmon_test_things_total 3.0" in body
    assert "python_gc" not in body  # not the global default registry


def test_healthz_follows_liveness() -> None:
    assert _call(make_app(CollectorRegistry(), _probes(alive=True)), "/healthz")[0] == "200 OK"
    status, _, body = _call(make_app(CollectorRegistry(), _probes(alive=False)), "/healthz")
    assert status == "503 Service Unavailable"
    assert body == "not alive: stopped\n"
    wedged = Probes(
        alive=lambda: False,
        pending=list,
        status=_probes().status,
        wedged=lambda: ["sesmon-sqs-prod-0 (no progress for 400s)"],
    )
    status, _, body = _call(make_app(CollectorRegistry(), wedged), "/healthz")
    assert (status, body) == (
        "503 Service Unavailable",
        "not alive: no progress: sesmon-sqs-prod-0 (no progress for 400s)\n",
    )


def test_readyz_names_what_is_pending() -> None:
    waiting = ["sqs/prod (last error: NoCredentialsError: Unable to locate credentials)", "cloudwatch/prod"]
    status, _, body = _call(make_app(CollectorRegistry(), _probes(pending=waiting)), "/readyz")
    assert status == "503 Service Unavailable"
    assert body == "not ready; waiting for:\n" + "".join(f"{w}\n" for w in waiting)
    assert _call(make_app(CollectorRegistry(), _probes()), "/readyz")[1:] == (
        {"Content-Type": "text/plain; charset=utf-8"},
        "ready\n",
    )


def test_status_page_escapes_titles_and_shows_state() -> None:
    status, headers, body = _call(make_app(CollectorRegistry(), _probes(pending=["sqs/prod"])), "/")
    assert status == "200 OK"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<h1>sesmon 1.2.3</h1>" in body
    assert "<h2>alerts &lt;&amp;&gt;</h2><h3>Firing alerts</h3><p>No alerts firing.</p>" in body
    row = "<td>prod&lt;&amp;&gt;</td><td class='bad'>down</td><td>&lt;script&gt;x&lt;/script&gt;</td>"
    assert row in body
    assert body.count("<script>") == 1  # the page's own refresh script; the error text is escaped
    assert "<script>x" not in body
    assert "starting (waiting for sqs/prod)" in body


def test_status_fragment_is_the_live_part_of_the_page() -> None:
    app = make_app(CollectorRegistry(), _probes(pending=["sqs/prod"]))
    status, headers, fragment = _call(app, "/status/fragment")
    assert status == "200 OK"
    assert headers == {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    assert fragment.startswith("<p>State: starting (waiting for sqs/prod)</p><section><h2>Sources</h2>")
    page = _call(app, "/")[2]
    assert f"<main id='status'>{fragment}</main>" in page
    assert "<html" not in fragment


def test_unknown_path_is_404() -> None:
    assert _call(make_app(CollectorRegistry(), _probes()), "/admin")[0] == "404 Not Found"
