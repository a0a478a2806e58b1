"""Guarded pauses on moto: a spike pauses exactly the allowed set, once; dry run, guards, restarts, resume.

moto has no PutConfigurationSetSendingOptions (nor PutAccountSendingAttributes); the demo's AWS
middleware (sesmon/demo/middleware.py), which these tests run in front of moto, answers it by
setting moto's own configuration-set flag, so GetConfigurationSet from moto reports the change.
Everything else is moto's: the sets, the reads, the clients the daemon builds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from sesmon import cli
from sesmon.actions.runner import ActionRunner
from sesmon.actions.ses import SesActuator
from sesmon.alerts.component import AlertsComponent
from sesmon.alerts.sinks import SendResult
from sesmon.config import Config, SinkConfig
from sesmon.config_loader import load_config
from sesmon.demo.moto_server import REGION, EmbeddedAws
from sesmon.rules import Notification
from sesmon.signals import Observation
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.state.factory import open_state
from sesmon.statuspage import render_section
from tests.embedded_aws import fresh_embedded_aws

SETS = ("marketing", "transactional")


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with fresh_embedded_aws() as server:
        yield server


@pytest.fixture
def sets(aws: EmbeddedAws) -> Iterator[None]:
    client = aws.sesv2()
    for name in SETS:
        client.create_configuration_set(ConfigurationSetName=name)
    yield
    for name in SETS:
        client.delete_configuration_set(ConfigurationSetName=name)


def sending(aws: EmbeddedAws, name: str) -> bool:
    options = aws.sesv2().get_configuration_set(ConfigurationSetName=name)["SendingOptions"]
    return bool(options["SendingEnabled"])


class Spike:
    """The signal provider: a bounce rate per configuration set, set by the test."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[float, int]] = {}

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"bounce_rate"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        del signal, window, now
        return [
            Observation(
                "bounce_rate",
                Observation.make_labels(target="prod", configuration_set=cs),
                value,
                recipients=sent,
                events=int(value * sent),
            )
            for cs, (value, sent) in sorted(self.values.items())
        ]


class Recorder:
    """A sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.config = SinkConfig(name="ops", type="webhook", url="http://127.0.0.1:9/hook")
        self.sent: list[Notification] = []

    def send(self, notification: Notification, now: float) -> SendResult:
        del now
        self.sent.append(notification)
        return SendResult(ok=True)

    def close(self) -> None:
        return None


def write_config(tmp_path: Path, aws: EmbeddedAws, **guards: Any) -> Path:
    actions = {"mode": "enforce", "configuration_sets": ["marketing"], "min_recipients": 500, **guards}
    data = {
        "targets": [{"name": "prod", "region": REGION, "endpoint_url": aws.endpoint_url}],
        "state": {"path": str(tmp_path / "state.db")},
        "alerts": {
            "actions": actions,
            "rules": [
                {
                    "name": "BounceRateSpike",
                    "signal": "bounce_rate",
                    "window": "1h",
                    "warning": 0.05,
                    "critical": 0.1,
                    "actions": ["pause_configuration_set"],
                }
            ],
        },
    }
    path = tmp_path / "sesmon.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class World:
    """An alerts component as the daemon builds it, over the test's provider, sink and store."""

    def __init__(self, config: Config, spike: Spike) -> None:
        self.config = config
        self.calls = ApiCallCounter()
        target = config.targets[0]
        self.actuator = SesActuator({target.name: AwsClients(target, self.calls).lazy("sesv2")})
        self.store = open_state(config.state)
        self.closed = False
        self.sink = Recorder()
        self.runner = ActionRunner(config.alerts, self.store, self.actuator)
        self.alerts = AlertsComponent(
            config.alerts, self.store, [spike], lambda: 0.0, sinks={"ops": self.sink}, actions=self.runner
        )

    def flush(self, now: float) -> None:
        """Deliver everything queued (the dispatcher sends one row per alert per round)."""
        while self.alerts.dispatch(now):
            pass

    def pauses(self) -> int:
        return self.calls.snapshot().get(("sesv2", "PutConfigurationSetSendingOptions"), 0)

    def counted(self, result: str) -> float:
        registry = CollectorRegistry()
        for collector in self.alerts.collectors():
            registry.register(collector)
        value = registry.get_sample_value(
            "sesmon_actions_total", {"action": "pause_configuration_set", "result": result}
        )
        assert value is not None
        return value

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.store.close()


@pytest.fixture
def spike() -> Spike:
    return Spike()


@pytest.fixture
def worlds() -> Iterator[list[World]]:
    made: list[World] = []
    yield made
    for world in made:
        world.close()


def world(tmp_path: Path, aws: EmbeddedAws, spike: Spike, made: list[World], **guards: Any) -> World:
    made.append(World(load_config(write_config(tmp_path, aws, **guards), {}), spike))
    return made[-1]


@pytest.mark.usefixtures("sets")
def test_a_spike_pauses_exactly_the_allowed_set_once(
    tmp_path: Path, aws: EmbeddedAws, spike: Spike, worlds: list[World]
) -> None:
    w = world(tmp_path, aws, spike, worlds)
    spike.values = {"marketing": (0.2, 5000), "transactional": (0.2, 5000)}
    w.alerts.evaluate(100.0)
    assert sending(aws, "marketing") is False  # the flag flipped in moto
    assert sending(aws, "transactional") is True  # firing too, but not in the allow-list
    assert w.pauses() == 1
    assert (w.counted("done"), w.counted("refused"), w.counted("dry_run")) == (1, 1, 0)
    w.alerts.evaluate(200.0)  # still firing: no new transition, nothing more
    assert w.pauses() == 1
    w.flush(200.0)
    texts = {
        n.label("configuration_set"): [x.description for x in w.sink.sent if x.labels == n.labels]
        for n in w.sink.sent
    }
    assert any("pausing configuration set marketing now" in d for d in texts["marketing"])
    assert any("paused configuration set marketing" in d for d in texts["marketing"])  # the follow-up
    assert any("not in alerts.actions.configuration_sets" in d for d in texts["transactional"])
    page = render_section(w.alerts.status())
    assert "Actions (mode enforce)" in page
    assert "configuration set marketing" in page


@pytest.mark.usefixtures("sets")
def test_dry_run_changes_nothing_and_notifies(
    tmp_path: Path, aws: EmbeddedAws, spike: Spike, worlds: list[World]
) -> None:
    w = world(tmp_path, aws, spike, worlds, mode="dry_run")
    spike.values = {"marketing": (0.2, 5000)}
    w.alerts.evaluate(100.0)
    assert sending(aws, "marketing") is True
    assert w.pauses() == 0
    assert w.counted("dry_run") == 1
    w.flush(100.0)
    (fired,) = w.sink.sent
    assert "would pause configuration set marketing" in fired.description


@pytest.mark.usefixtures("sets")
def test_a_restart_in_between_does_not_act_twice(
    tmp_path: Path, aws: EmbeddedAws, spike: Spike, worlds: list[World]
) -> None:
    spike.values = {"marketing": (0.2, 5000)}
    first = world(tmp_path, aws, spike, worlds)

    class Crash(BaseException):
        pass

    def crash(*_args: object) -> None:
        raise Crash  # the process dies after the decision committed, before the SES call

    first.actuator.apply = crash  # type: ignore[method-assign,assignment]
    with pytest.raises(Crash):
        first.alerts.evaluate(100.0)
    assert sending(aws, "marketing") is True
    first.close()
    second = world(tmp_path, aws, spike, worlds)  # restarted on the same state
    second.alerts.evaluate(115.0)  # the alert is still firing: no new transition, the pending call runs
    assert sending(aws, "marketing") is False
    assert second.pauses() == 1
    second.close()
    third = world(tmp_path, aws, spike, worlds)
    third.alerts.evaluate(130.0)
    assert third.pauses() == 0  # done is done
    assert sending(aws, "marketing") is False


@pytest.mark.usefixtures("sets")
def test_resume_reenables_and_rearms(
    tmp_path: Path, aws: EmbeddedAws, spike: Spike, worlds: list[World], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, aws, cooldown="6h", max_per_day=5)
    w = world(tmp_path, aws, spike, worlds, cooldown="6h", max_per_day=5)
    spike.values = {"marketing": (0.2, 5000)}
    w.alerts.evaluate(100.0)
    assert sending(aws, "marketing") is False
    assert cli.main(["resume", "--config", str(path), "--configuration-set", "marketing"]) == 0
    assert "resumed sending of configuration set marketing on target prod" in capsys.readouterr().out
    assert sending(aws, "marketing") is True
    w.alerts.evaluate(200.0)  # the rate has not recovered, but it has not fired anew: no re-pause
    assert sending(aws, "marketing") is True
    spike.values = {"marketing": (0.0, 5000)}
    w.alerts.evaluate(300.0)  # recovered
    spike.values = {"marketing": (0.2, 5000)}
    w.alerts.evaluate(400.0)  # fires again within the cooldown: resume re-armed it
    assert sending(aws, "marketing") is False
    assert w.pauses() == 2


@pytest.mark.usefixtures("sets")
def test_without_resume_the_cooldown_refuses(
    tmp_path: Path, aws: EmbeddedAws, spike: Spike, worlds: list[World]
) -> None:
    w = world(tmp_path, aws, spike, worlds, cooldown="6h", max_per_day=5)
    spike.values = {"marketing": (0.2, 5000)}
    w.alerts.evaluate(100.0)
    spike.values = {"marketing": (0.0, 5000)}
    w.alerts.evaluate(200.0)
    spike.values = {"marketing": (0.2, 5000)}
    w.alerts.evaluate(300.0)
    assert w.pauses() == 1
    w.flush(300.0)
    assert w.counted("refused") == 1
    assert any("cooldown: configuration set marketing was paused" in n.description for n in w.sink.sent)


def test_resume_names_a_missing_set_in_one_line(
    tmp_path: Path, aws: EmbeddedAws, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, aws)
    assert cli.main(["resume", "--config", str(path), "--configuration-set", "nope"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("sesmon resume: NotFoundException")
    assert len(err.splitlines()) == 1
    assert cli.main(["resume", "--config", str(path), "--configuration-set", "x", "--target", "b"]) == 2
