"""An endpoint that goes down or throttles marks only its own sources down, and they recover by themselves."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto.server import ThreadedMotoServer

from sesmon.config import Config
from sesmon.daemon import Daemon
from tests.integration.test_cloudwatch_account import _Body, account_response, headers, stub_get_account


class RestartableMoto:
    """A moto server on a fixed loopback port, so it can be stopped and started again at the same URL."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._server: ThreadedMotoServer | None = None
        self.start()

    @property
    def up(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        # Bounded wait until the port accepts connections again.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as conn:
                if conn.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("moto server did not come back")

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture
def flaky_endpoint() -> Iterator[RestartableMoto]:
    server = RestartableMoto()
    yield server
    server.stop()


def _daemon(tmp_path: Path, flaky: str, steady: str) -> Daemon:
    config = Config.model_validate(
        {
            "targets": [
                {"name": "flaky", "region": "eu-west-1", "endpoint_url": flaky},
                {"name": "steady", "region": "us-east-1", "endpoint_url": steady},
            ],
            "state": {"path": str(tmp_path / "state.db")},
            "server": {"listen": "127.0.0.1:0"},
            "dns": {"enabled": False},
        }
    )
    return Daemon(config)


def _run_jobs(daemon: Daemon) -> None:
    # The daemon's own job runner (what the scheduler calls), so health is recorded exactly as in
    # production, without waiting for the intervals.
    for component in daemon.components:
        if component.name != "aws":
            continue
        for job in component.jobs():
            daemon._runner(job)()


def _up(daemon: Daemon) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for family in daemon.registry.collect():
        if family.name == "sesmon_source_up":
            for sample in family.samples:
                out[(sample.labels["source"], sample.labels["target"])] = sample.value
    return out


ALL_UP = {
    ("state", ""): 1.0,  # the state backend: an AWS outage never touches it
    ("cloudwatch", "flaky"): 1.0,
    ("account", "flaky"): 1.0,
    ("cloudwatch", "steady"): 1.0,
    ("account", "steady"): 1.0,
}


def test_endpoint_down_then_back(tmp_path: Path, moto_server: Any, flaky_endpoint: RestartableMoto) -> None:
    daemon = _daemon(tmp_path, flaky_endpoint.endpoint_url, moto_server.endpoint_url)
    # moto has no SES v2 GetAccount: stubbed; the flaky stub answers only while its server is up.
    stub_get_account(daemon.context.aws["flaky"], account_response, lambda: flaky_endpoint.up)
    stub_get_account(daemon.context.aws["steady"], account_response)
    try:
        _run_jobs(daemon)
        assert _up(daemon) == ALL_UP

        flaky_endpoint.stop()
        _run_jobs(daemon)
        assert _up(daemon) == {
            ("state", ""): 1.0,
            ("cloudwatch", "flaky"): 0.0,
            ("account", "flaky"): 0.0,
            ("cloudwatch", "steady"): 1.0,
            ("account", "steady"): 1.0,
        }
        status = {(s.source, s.target): s for s in daemon.health.all()}
        assert status[("cloudwatch", "flaky")].last_error
        assert status[("cloudwatch", "flaky")].consecutive_failures == 1

        flaky_endpoint.start()
        _run_jobs(daemon)
        assert _up(daemon) == ALL_UP
    finally:
        daemon.store.close()


def test_throttling_marks_the_source_down_and_counts_every_attempt(tmp_path: Path, moto_server: Any) -> None:
    daemon = _daemon(tmp_path, moto_server.endpoint_url, moto_server.endpoint_url)
    throttled = {"on": False}

    def answer(request: Any, **_kwargs: Any) -> AWSResponse:
        if throttled["on"]:
            body = _Body(json.dumps({"message": "Rate exceeded"}).encode())
            error = {"Content-Type": "application/json", "x-amzn-ErrorType": "TooManyRequestsException"}
            return AWSResponse(request.url, 429, headers(error), body)
        return AWSResponse(request.url, 200, headers({}), _Body(json.dumps(account_response()).encode()))

    # moto has no SES v2 GetAccount: this stub stands in for it and can throttle like SES does.
    events = daemon.context.aws["flaky"].client("sesv2").meta.events
    events.register(
        "before-send.sesv2.GetAccount",
        answer,  # type: ignore[arg-type]  # the stubs say None; a before-send hook may answer
    )
    stub_get_account(daemon.context.aws["steady"], account_response)
    try:
        _run_jobs(daemon)
        assert _up(daemon) == ALL_UP

        throttled["on"] = True
        _run_jobs(daemon)
        up = _up(daemon)
        assert up[("account", "flaky")] == 0.0
        assert up[("cloudwatch", "flaky")] == 1.0
        assert up[("account", "steady")] == 1.0
        # Standard retry mode: 3 attempts, each one a request AWS throttles (and counts).
        calls = daemon.api_calls.by_target()
        assert calls[("flaky", "sesv2", "GetAccount")] == 1 + 3
        assert calls[("steady", "sesv2", "GetAccount")] == 2

        throttled["on"] = False
        _run_jobs(daemon)
        assert _up(daemon) == ALL_UP
        assert (
            daemon.registry.get_sample_value(
                "sesmon_aws_api_requests_total",
                {
                    "target": "flaky",
                    "account_id": "123456789012",
                    "region": "eu-west-1",
                    "service": "sesv2",
                    "operation": "GetAccount",
                },
            )
            == 5.0
        )
    finally:
        daemon.store.close()
