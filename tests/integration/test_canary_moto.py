"""The pipeline canary end to end on moto: SendEmail → SNS → SQS → sesmon, measured; a broken route fails.

moto accepts SES v2 SendEmail but publishes no configuration-set events. The demo's AWS middleware
(which these tests run in front of moto) stands in for that one step: after moto accepts a message
to the mailbox simulator through a configuration set, it publishes the Send and Delivery records to
the set's SNS event destination, in moto's own SNS. From there it is moto's SNS → SQS delivery and
sesmon's real ingestion. Deleting the event destination breaks the route as it breaks in AWS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sesmon.config import Config
from sesmon.config_loader import parse_config
from sesmon.daemon import Daemon
from sesmon.demo.moto_server import ACCOUNT_ID, REGION, EmbeddedAws
from sesmon.demo.provision import Provisioned, provision
from sesmon.statuspage import render_section
from tests.embedded_aws import fresh_embedded_aws


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    with fresh_embedded_aws() as server:
        yield server


@pytest.fixture
def provisioned(aws: EmbeddedAws) -> Provisioned:
    return provision(aws.sesv2(), aws.sns(), aws.sqs())


def config(aws: EmbeddedAws, provisioned: Provisioned, tmp_path: Path, deadline: str) -> Config:
    text = f"""
targets:
  - name: demo
    region: {REGION}
    endpoint_url: {aws.endpoint_url}
    sqs: {{queue_url: '{provisioned.queue_url}', wait_time_seconds: 1, receivers: 1}}
    cloudwatch: {{enabled: false}}
    account: {{enabled: false}}
    identities: {{enabled: false}}
    canary:
      interval: 1h
      deadline: {deadline}
      configuration_sets: [marketing]
      from_address: canary@{provisioned.domain}
dns: {{enabled: false}}
state: {{path: '{tmp_path / "state.db"}'}}
server: {{listen: '127.0.0.1:0'}}
alerts:
  evaluation_interval: 1h
  rules:
    - {{name: CanaryFailed, signal: canary_failed, severity: critical}}
"""
    return parse_config(text, {})


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.shutdown()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        event.wait(0.05)


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    every = {"target": "demo", "account_id": ACCOUNT_ID, "region": REGION, "configuration_set": "marketing"}
    return daemon.registry.get_sample_value(name, {**every, **labels})


def counted(daemon: Daemon, name: str, **labels: str) -> float | None:
    """A sample of an event-count family, labelled by target and set only (the account is on target_info)."""
    every = {"target": "demo", "configuration_set": "marketing"}
    return daemon.registry.get_sample_value(name, {**every, **labels})


def test_round_trip_is_measured_and_never_counts_in_rates(
    aws: EmbeddedAws, provisioned: Provisioned, tmp_path: Path, daemons: list[Daemon]
) -> None:
    daemon = Daemon(config(aws, provisioned, tmp_path, deadline="2m"), drain_seconds=5)
    daemons.append(daemon)
    daemon.start()  # the canary job runs at start: one probe through marketing
    wait_for(lambda: (sample(daemon, "sesmon_canary_roundtrip_seconds_count") or 0) >= 1)
    roundtrip = sample(daemon, "sesmon_canary_roundtrip_seconds_sum")
    assert roundtrip is not None
    assert 0 <= roundtrip < 60
    assert (sample(daemon, "sesmon_canary_last_success_timestamp_seconds") or 0) > 0
    # The probe went through the real counting path (its Send is counted) …
    assert counted(daemon, "sesmon_recipients_total", event_type="send") == 1
    # … but a mailbox-simulator recipient is not in the AWS-comparable rates' denominator.
    assert counted(daemon, "sesmon_window_sent_recipients", window="1h", denominator="events") == 0
    canary = next(c for c in daemon.components if c.name == "canary")
    (obs,) = canary.observe("canary_failed", None, time.time())  # type: ignore[attr-defined]
    assert obs.value == 0.0
    section = canary.status()
    assert section is not None
    assert "simulator recipients never count in the rates" in render_section(section)


def test_a_broken_route_makes_canary_failed_fire(
    aws: EmbeddedAws, provisioned: Provisioned, tmp_path: Path, daemons: list[Daemon]
) -> None:
    sesv2 = aws.sesv2()
    for destination in sesv2.get_configuration_set_event_destinations(ConfigurationSetName="marketing")[
        "EventDestinations"
    ]:
        sesv2.delete_configuration_set_event_destination(
            ConfigurationSetName="marketing", EventDestinationName=destination["Name"]
        )
    daemon = Daemon(config(aws, provisioned, tmp_path, deadline="1s"), drain_seconds=5)
    daemons.append(daemon)
    daemon.start()
    canary = next(c for c in daemon.components if c.name == "canary")
    alerts = next(c for c in daemon.components if c.name == "alerts")

    def failed() -> bool:
        canary.expire(time.time())  # type: ignore[attr-defined]
        return [o.value for o in canary.observe("canary_failed", None, time.time())] == [1.0]  # type: ignore[attr-defined]

    wait_for(failed)
    fired = alerts.evaluate(time.time())  # type: ignore[attr-defined]
    assert [(n.rule, n.status, n.label("configuration_set")) for n in fired] == [
        ("CanaryFailed", "firing", "marketing")
    ]
    assert "no delivery, send event within 1s" in fired[0].detail
    assert sample(daemon, "sesmon_canary_roundtrip_seconds_count") == 0
