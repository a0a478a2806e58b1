"""Every dashboard query returns data from a real Prometheus scraping ``sesmon demo``.

Starts the demo (embedded AWS, simulated traffic with a bounce spike, the real daemon) and the Debian
``prometheus`` binary on loopback, scraping every second, then evaluates each panel target and each
template-variable query of each dashboard through Prometheus's HTTP API the way Grafana would send it.
The same scrape must pass ``promtool check metrics``.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import environment_without_aws
from tests.grafana_generator import generate

ROOT = Path(__file__).resolve().parents[2]
# The bounce spike starts 20 s into the demo; alert rules then need their windows and `for` to pass.
DEMO_SECONDS = 280
DEADLINE_SECONDS = 200
# Families of capabilities the demo does not turn on (the canary, guarded actions, a PostgreSQL
# fleet): their panels have no series to return here. tests/contract/test_dashboards_schema.py still
# checks that each is on a panel and that the queries are valid PromQL.
NOT_IN_DEMO = ("sesmon_canary_", "sesmon_actions_", "sesmon_leader")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(300),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(
    what: str, check: Callable[[], bool], processes: list[subprocess.Popen[bytes]], seconds: float
) -> None:
    """Poll ``check`` until true; fail early if one of ``processes`` died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args!r} exited with {process.returncode} while waiting for {what}")
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"timed out after {seconds:.0f}s waiting for {what}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Stack:
    """The running demo and Prometheus."""

    demo_url: str
    prometheus_url: str
    processes: list[subprocess.Popen[bytes]]
    logs: Path
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluate an instant query; a parse error fails the test with Prometheus's message."""
        response = self.client.post(f"{self.prometheus_url}/api/v1/query", data={"query": expr})
        body = response.json()
        if body.get("status") != "success":
            pytest.fail(f"Prometheus rejected {expr!r}: {body.get('errorType')}: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def label_values(self, label: str, selector: str | None) -> list[str]:
        params = {"match[]": selector} if selector else {}
        response = self.client.get(f"{self.prometheus_url}/api/v1/label/{label}/values", params=params)
        body = response.json()
        if body.get("status") != "success":
            pytest.fail(f"Prometheus rejected label_values({selector}, {label}): {body.get('error')}")
        values: list[str] = body["data"]
        return values

    def diagnostics(self) -> str:
        tails = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(encoding="utf-8", errors="replace")
            tails.append(f"--- {log.name} (tail)\n{text[-3000:]}")
        return "\n".join(tails)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, prometheus_binary: str) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("dashboards-e2e")
    demo_port, prometheus_port = _free_port(), _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    with (workdir / "demo.log").open("wb") as demo_log, (workdir / "prometheus.log").open("wb") as prom_log:
        try:
            demo = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sesmon.cli",
                    "demo",
                    "--listen",
                    f"127.0.0.1:{demo_port}",
                    "--duration",
                    str(DEMO_SECONDS),
                    "--scenario",
                    "bounce-spike",
                ],
                cwd=workdir,
                env=environment_without_aws(),
                stdout=demo_log,
                stderr=subprocess.STDOUT,
            )
            processes.append(demo)
            demo_url = f"http://127.0.0.1:{demo_port}"
            _wait_for(
                "sesmon demo /metrics",
                lambda: httpx.get(f"{demo_url}/metrics", timeout=5).status_code == 200,
                processes,
                90,
            )
            config = workdir / "prometheus.yml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                        "scrape_configs": [
                            {
                                "job_name": "sesmon",
                                "scrape_timeout": "1s",
                                "static_configs": [{"targets": [f"127.0.0.1:{demo_port}"]}],
                            }
                        ],
                    }
                ),
                encoding="utf-8",
            )
            prometheus = subprocess.Popen(
                [
                    prometheus_binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                    "--log.level=warn",
                ],
                cwd=workdir,
                stdout=prom_log,
                stderr=subprocess.STDOUT,
            )
            processes.append(prometheus)
            prometheus_url = f"http://127.0.0.1:{prometheus_port}"
            _wait_for(
                "Prometheus ready",
                lambda: httpx.get(f"{prometheus_url}/-/ready", timeout=5).status_code == 200,
                processes,
                60,
            )
            running = Stack(demo_url, prometheus_url, processes, workdir)
            # A few scrapes, so that rate() and increase() have at least two samples to work with.
            _wait_for(
                "five scrapes of the demo",
                lambda: any(
                    float(s["value"][1]) >= 5 for s in running.query('count_over_time(up{job="sesmon"}[5m])')
                ),
                processes,
                60,
            )
            yield running
        finally:
            for process in reversed(processes):
                _stop(process)


def _grafana_regex_escape(value: str) -> str:
    """Grafana's escaping of a selected value inside a PromQL regex string literal."""
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value)


def _variable_values(stack: Stack, data: dict[str, Any], *, all_selected: bool) -> dict[str, str]:
    """Values as Grafana sends them: "All" (the allValue regex) or every option selected, regex-joined."""
    variables = {v["name"]: v for v in data["templating"]["list"]}
    values: dict[str, str] = {}
    for name, selector, label in generate.variable_queries(data):
        options = stack.label_values(label, generate.substitute(selector, values) if selector else None)
        if not options:
            return {}
        variable = variables[name]
        # Grafana's Prometheus formatting of a multi-value selection: regex-escaped, joined by |.
        every = "(" + "|".join(map(_grafana_regex_escape, options)) + ")"
        if variable.get("includeAll") and all_selected:
            values[name] = variable.get("allValue") or every
        elif variable.get("multi"):
            values[name] = every
        else:
            values[name] = sorted(options)[0]
    return values


def _empty_queries(stack: Stack, *, all_selected: bool) -> list[str]:
    empty = []
    for filename, build in generate.DASHBOARDS.items():
        data = generate.to_data(build())
        values = _variable_values(stack, data, all_selected=all_selected)
        if not values:
            empty.append(f"{filename}: a template variable has no values yet")
            continue
        for where, expr in generate.panel_queries(data):
            if any(name in expr for name in NOT_IN_DEMO):
                continue
            if not stack.query(generate.substitute(expr, values)):
                empty.append(f"{filename}: {where}: {expr}")
    return empty


def test_every_panel_query_returns_series_with_all_selected(stack: Stack) -> None:
    # Some series appear only as the demo unfolds (the bounce spike, then the alert it fires), so
    # poll until each query has data, bounded by a deadline; an empty query then fails the test.
    deadline = time.monotonic() + DEADLINE_SECONDS
    empty = _empty_queries(stack, all_selected=True)
    while empty and time.monotonic() < deadline:
        time.sleep(2)
        empty = _empty_queries(stack, all_selected=True)
    assert empty == [], "queries without series:\n" + "\n".join(empty) + "\n" + stack.diagnostics()


def test_every_panel_query_returns_series_with_each_value_selected(stack: Stack) -> None:
    # Concrete account/region/configuration-set values only match series that really carry those
    # labels, so this also proves every AWS-derived series is labelled as the dashboards assume.
    empty = _empty_queries(stack, all_selected=False)
    assert empty == [], "queries without series:\n" + "\n".join(empty)


def test_every_template_variable_query_has_values(stack: Stack) -> None:
    for build in generate.DASHBOARDS.values():
        data = generate.to_data(build())
        values: dict[str, str] = {}
        for name, selector, label in generate.variable_queries(data):
            options = stack.label_values(label, generate.substitute(selector, values) if selector else None)
            assert options, f"variable {name}: label_values({selector}, {label}) is empty"
            values[name] = ".*"


def test_a_query_with_a_typo_is_reported_as_empty(stack: Stack) -> None:
    # The check above can fail: a misspelt metric returns nothing, a syntax error is rejected.
    assert stack.query('sesmon_window_bounce_ration{window=~".*"}') == []
    response = stack.client.post(f"{stack.prometheus_url}/api/v1/query", data={"query": "sum by (x (up)"})
    assert response.json()["status"] == "error"


def test_promtool_check_metrics_is_clean_on_a_scrape(stack: Stack, promtool: str) -> None:
    exposition = stack.client.get(f"{stack.demo_url}/metrics").text
    assert "sesmon_build_info" in exposition
    result = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""


def test_every_exported_family_is_on_a_panel(stack: Stack) -> None:
    exposition = stack.client.get(f"{stack.demo_url}/metrics").text
    families = {
        line.split()[2]
        for line in exposition.splitlines()
        if line.startswith("# TYPE ")
        and line.split()[2].startswith(("sesmon_", "process_cpu", "process_res"))
    }
    assert {"sesmon_notifications_given_up_total", "sesmon_send_quota_usage_ratio"} <= families
    queries = "\n".join(
        expr
        for build in generate.DASHBOARDS.values()
        for _, expr in generate.panel_queries(generate.to_data(build()))
    )
    missing = sorted(
        family
        for family in families
        # A counter's family is named with _total; a histogram is queried through its _bucket series.
        if not re.search(
            rf"\b{re.escape(family.removesuffix('_total'))}(_total|_bucket|_sum|_count)?\b", queries
        )
    )
    assert missing == [], f"exported families on no dashboard panel: {missing}"
