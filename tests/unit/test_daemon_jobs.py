"""The composition root records every job's outcome as source health, masks secrets, stops cleanly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prometheus_client.registry import Collector

from sesmon import redact, statuspage
from sesmon.component import BaseComponent, Job
from sesmon.config_loader import parse_config
from sesmon.daemon import SCHEDULER_STALL_SECONDS, Daemon
from sesmon.health import Heartbeats


class _Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class _Probe(BaseComponent):
    name = "probe"

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.fail_with: Exception | None = None
        self.stopped = False

    def jobs(self) -> Sequence[Job]:
        return [Job("probe:local", 60, self.poll, source="probe", target="local", run_at_start=False)]

    def collectors(self) -> Sequence[Collector]:
        return ()

    def poll(self, now: float) -> None:
        self.calls.append(now)
        if self.fail_with is not None:
            raise self.fail_with

    def stop(self, deadline: float) -> None:
        self.stopped = True


def _daemon(tmp_path: Path, probe: _Probe, clock: _Clock, heartbeats: Heartbeats | None = None) -> Daemon:
    config = parse_config(
        "targets:\n  - {name: local, region: us-east-1}\n"
        f"state: {{path: '{tmp_path / 'state.db'}'}}\nserver: {{listen: '127.0.0.1:0'}}\n",
        {},
    )
    return Daemon(config, clock=clock, components=[probe], heartbeats=heartbeats)


def test_job_success_and_failure_become_source_health(tmp_path: Path) -> None:
    probe, clock = _Probe(), _Clock()
    daemon = _daemon(tmp_path, probe, clock)
    daemon.start()
    try:
        assert daemon.pending() == ["probe/local (no successful cycle yet)"]
        job = probe.jobs()[0]
        run = daemon._runner(job)

        run()
        assert probe.calls == [clock.now]
        assert daemon.pending() == []
        assert (
            daemon.registry.get_sample_value(
                "sesmon_source_up",
                {"source": "probe", "target": "local", "account_id": "unknown", "region": "us-east-1"},
            )
            == 1.0
        )

        redact.register("sekrit-token-123")
        probe.fail_with = RuntimeError("POST https://hooks.example/sekrit-token-123 refused")
        clock.now += 60
        run()
        status = daemon.health.all()[0]
        assert not status.up
        assert status.failing_since == clock.now
        assert status.last_error == "RuntimeError: POST https://hooks.example/*** refused"
        assert (
            daemon.registry.get_sample_value(
                "sesmon_source_up",
                {"source": "probe", "target": "local", "account_id": "unknown", "region": "us-east-1"},
            )
            == 0.0
        )
        report = daemon.status()
        assert report.sources[0].last_error == "RuntimeError: POST https://hooks.example/*** refused"
        assert "sekrit" not in statuspage.render(report)
    finally:
        assert daemon.shutdown() == 0
    assert probe.stopped
    assert not daemon.alive()


def test_jobs_do_not_run_after_stop_is_requested(tmp_path: Path) -> None:
    probe, clock = _Probe(), _Clock()
    daemon = _daemon(tmp_path, probe, clock)
    daemon.start()
    daemon.request_stop()
    daemon._runner(probe.jobs()[0])()
    assert probe.calls == []
    daemon.shutdown()


def test_a_source_that_never_succeeded_keeps_the_daemon_unready_with_its_error(tmp_path: Path) -> None:
    probe, clock = _Probe(), _Clock()
    daemon = _daemon(tmp_path, probe, clock)
    daemon.start()
    try:
        probe.fail_with = RuntimeError("Unable to locate credentials")
        run = daemon._runner(probe.jobs()[0])
        run()
        run()
        assert daemon.pending() == ["probe/local (last error: RuntimeError: Unable to locate credentials)"]
        probe.fail_with = None
        run()
        assert daemon.pending() == []
        probe.fail_with = RuntimeError("later outage")
        run()  # readiness is about having succeeded once; a later outage shows in source_up
        assert daemon.pending() == []
        assert daemon.alive()  # and never in liveness
    finally:
        daemon.shutdown()


class _Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_liveness_fails_only_when_a_loop_stops_making_progress(tmp_path: Path) -> None:
    probe, clock, mono = _Probe(), _Clock(), _Monotonic()
    daemon = _daemon(tmp_path, probe, clock, Heartbeats(mono))
    daemon.start()
    try:
        assert daemon.alive()
        mono.now += SCHEDULER_STALL_SECONDS - 1
        daemon.heartbeats.beat("scheduler")  # what the scheduler's own job does every few seconds
        mono.now += SCHEDULER_STALL_SECONDS - 1
        assert daemon.alive()
        mono.now += 2
        assert not daemon.alive()
        assert daemon.wedged() == [f"scheduler (no progress for {SCHEDULER_STALL_SECONDS + 1:.0f}s)"]
    finally:
        daemon.shutdown()


def test_registry_serves_the_standard_process_and_python_families(tmp_path: Path) -> None:
    daemon = _daemon(tmp_path, _Probe(), _Clock())
    daemon.start()
    try:
        names = {metric.name for metric in daemon.registry.collect()}
        assert {
            "process_resident_memory_bytes",
            "process_cpu_seconds",
            "python_info",
            "python_gc_objects_collected",
        } <= names
        assert (daemon.registry.get_sample_value("process_resident_memory_bytes") or 0) > 0
    finally:
        daemon.shutdown()
