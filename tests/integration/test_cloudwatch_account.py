"""CloudWatch reputation and SES account polling against moto: 3 targets, 2 regions, 2 accounts."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from prometheus_client import CollectorRegistry

from sesmon import statuspage
from sesmon.aws_health import ACCOUNT_LEVEL, AwsHealthComponent
from sesmon.config import Config
from sesmon.metrics import build_registry
from sesmon.signals import SignalProvider
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.sources.discovery import RateLimiter
from sesmon.targets import TargetDirectory

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef

OTHER_ACCOUNT = "111111111111"
DEFAULT_ACCOUNT = "123456789012"  # moto's account for plain credentials


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._data


def headers(values: dict[str, str]) -> HTTPHeaders:
    """Response headers in the type botocore's parsers read."""
    out = HTTPHeaders()
    for name, value in values.items():
        out[name] = value
    return out


def account_response(
    status: str = "HEALTHY",
    production: bool = True,
    sending: bool = True,
    max_24h: float = 50000.0,
    sent: float = 1250.0,
    rate: float = 14.0,
) -> dict[str, Any]:
    """A GetAccount (SES v2) answer in the wire shape AWS documents."""
    return {
        "EnforcementStatus": status,
        "ProductionAccessEnabled": production,
        "SendingEnabled": sending,
        "SendQuota": {"Max24HourSend": max_24h, "SentLast24Hours": sent, "MaxSendRate": rate},
        "DedicatedIpAutoWarmupEnabled": False,
    }


def stub_get_account(
    clients: AwsClients, body: Callable[[], dict[str, Any]], available: Callable[[], bool] = lambda: True
) -> None:
    """Answer SES v2 GetAccount locally: moto 5.2's server does not implement it (it has no
    ``get_account`` in ``moto/sesv2/responses.py``). Only that operation is stubbed, on the real client,
    at the ``before-send`` hook, so serialisation, response parsing and request counting run as with
    AWS. When ``available()`` is False the request goes to the real endpoint (which then fails like
    every other call when the endpoint is down)."""

    def answer(request: Any, **_kwargs: Any) -> AWSResponse | None:
        if not available():
            return None
        raw = _Body(json.dumps(body()).encode())
        return AWSResponse(request.url, 200, headers({"Content-Type": "application/json"}), raw)

    events = clients.client("sesv2").meta.events
    # One stub per client: a later stub replaces an earlier one.
    events.unregister("before-send.sesv2.GetAccount", unique_id="test-get-account")
    events.register(
        "before-send.sesv2.GetAccount",
        answer,  # type: ignore[arg-type]  # the stubs say None; a before-send hook may answer
        unique_id="test-get-account",
    )


def make_config(endpoint: str, state_path: str = ":memory:", **cloudwatch: Any) -> Config:
    targets: list[dict[str, Any]] = [
        {"name": "east", "region": "us-east-1"},
        {"name": "west", "region": "eu-west-1"},
        {
            "name": "other",
            "region": "us-east-1",
            "role_arn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/sesmon-read",
            "external_id": "ext-id-1234",
        },
    ]
    for target in targets:
        target["endpoint_url"] = endpoint
        if cloudwatch:
            target["cloudwatch"] = cloudwatch
    return Config.model_validate({"targets": targets, "state": {"path": state_path}})


def put_reputation(clients: AwsClients, value: float, when: float, configuration_set: str | None) -> None:
    """Publish a Reputation.* pair into AWS/SES as SES does (set-level ones with the set dimension)."""
    dims: list[DimensionTypeDef] = (
        [{"Name": "ses:configuration-set", "Value": configuration_set}] if configuration_set else []
    )
    stamp = datetime.fromtimestamp(when, tz=UTC)
    clients.client("cloudwatch").put_metric_data(
        Namespace="AWS/SES",
        MetricData=[
            {"MetricName": "Reputation.BounceRate", "Dimensions": dims, "Timestamp": stamp, "Value": value},
            {
                "MetricName": "Reputation.ComplaintRate",
                "Dimensions": dims,
                "Timestamp": stamp,
                "Value": value / 10,
            },
        ],
    )


def create_sets(clients: AwsClients, reputation: dict[str, bool]) -> None:
    sesv2 = clients.client("sesv2")
    for name, enabled in reputation.items():
        sesv2.create_configuration_set(
            ConfigurationSetName=name, ReputationOptions={"ReputationMetricsEnabled": enabled}
        )


class World:
    """A configured component over moto with its own API-call counter and registry."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.counter = ApiCallCounter()
        self.directory = TargetDirectory(config.targets)
        self.clients = {t.name: AwsClients(t, self.counter) for t in config.targets}
        self.now = time.time()
        self.sleeps: list[float] = []
        self.component = AwsHealthComponent(
            config,
            self.clients,
            self.directory,
            self.counter,
            clock=lambda: self.now,
            limiter=self._limiter,
        )
        self.registry: CollectorRegistry = build_registry(self.component.collectors())
        # Seeding goes through separate clients so it never shows in the component's counts.
        seed_counter = ApiCallCounter()
        self.seed = {t.name: AwsClients(t, seed_counter) for t in config.targets}

    def _limiter(self) -> RateLimiter:
        # Rate limiting is real, but its waits advance a fake clock and are recorded, not slept.
        elapsed = [0.0]

        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            elapsed[0] += seconds

        return RateLimiter(monotonic=lambda: elapsed[0], sleep=sleep)

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


@pytest.fixture
def world(moto_server: Any) -> World:
    w = World(make_config(moto_server.endpoint_url))
    values = {"east": 0.011, "west": 0.022, "other": 0.033}
    for name, seed in w.seed.items():
        create_sets(seed, {f"{name}-marketing": True, f"{name}-billing": True, f"{name}-quiet": False})
        # moto matches a query without dimensions against every series of the metric name, while AWS
        # keeps the account-level series apart; publishing the account datapoint in a later 5-minute
        # period than the per-set ones makes the newest account-level datapoint unambiguous in both.
        put_reputation(seed, values[name] / 2, w.now - 2400, f"{name}-marketing")
        put_reputation(seed, values[name] * 2, w.now - 2400, f"{name}-billing")
        put_reputation(seed, values[name], w.now - 1500, None)
        stub_get_account(
            w.clients[name],
            lambda name=name: account_response(  # type: ignore[misc]
                status="PROBATION" if name == "west" else "HEALTHY",
                production=name != "other",
                sent=1000.0 if name == "east" else 0.0,
            ),
        )
    return w


def test_values_match_what_was_put_for_three_targets(world: World) -> None:
    world.component.poll_all(world.now)
    expected = {"east": (DEFAULT_ACCOUNT, "us-east-1", 0.011), "west": (DEFAULT_ACCOUNT, "eu-west-1", 0.022)}
    expected["other"] = (OTHER_ACCOUNT, "us-east-1", 0.033)
    for name, (account, region, value) in expected.items():
        base = {"target": name, "account_id": account, "region": region}
        assert world.value("sesmon_account_reputation_bounce_ratio", **base) == pytest.approx(value)
        assert world.value("sesmon_account_reputation_complaint_ratio", **base) == pytest.approx(value / 10)
        marketing = {**base, "configuration_set": f"{name}-marketing"}
        billing = {**base, "configuration_set": f"{name}-billing"}
        quiet = {**base, "configuration_set": f"{name}-quiet"}
        assert world.value("sesmon_configuration_set_reputation_bounce_ratio", **marketing) == pytest.approx(
            value / 2
        )
        assert world.value("sesmon_configuration_set_reputation_bounce_ratio", **billing) == pytest.approx(
            value * 2
        )
        assert world.value("sesmon_configuration_set_reputation_complaint_ratio", **billing) == pytest.approx(
            value * 2 / 10
        )
        # Reputation metrics disabled: never queried, flagged as such.
        assert world.value("sesmon_configuration_set_reputation_bounce_ratio", **quiet) is None
        assert world.value("sesmon_configuration_set_reputation_metrics_enabled", **quiet) == 0.0
        assert world.value("sesmon_configuration_set_reputation_metrics_enabled", **marketing) == 1.0
        # moto 5.2 answers GetConfigurationSet with SendingOptions.SendingEnabled holding the whole
        # options dict, which parses as false whatever was set, so only presence is checked here; the
        # enabled/disabled mapping is unit-tested on AWS-shaped responses.
        assert world.value("sesmon_configuration_set_sending_enabled", **marketing) is not None
        age = world.value("sesmon_cloudwatch_data_age_seconds", **base, metric="Reputation.BounceRate")
        # The newest datapoint is the account one, put 1500 s ago into a 5-minute period.
        assert age is not None
        assert 1500 <= age < 1500 + 300
        # 3 sets, 2 with reputation metrics: (1 + 2) x 2 metrics in one call.
        assert world.value("sesmon_cloudwatch_metrics_requested_total", **base) == 6.0
        assert (
            world.value(
                "sesmon_aws_api_requests_total", **base, service="cloudwatch", operation="GetMetricData"
            )
            == 1.0
        )


def test_account_state_and_labels_per_target(world: World) -> None:
    world.component.poll_all(world.now)
    east = {"target": "east", "account_id": DEFAULT_ACCOUNT, "region": "us-east-1"}
    west = {"target": "west", "account_id": DEFAULT_ACCOUNT, "region": "eu-west-1"}
    other = {"target": "other", "account_id": OTHER_ACCOUNT, "region": "us-east-1"}
    assert world.directory.get("other").account_id == OTHER_ACCOUNT
    assert world.value("sesmon_account_enforcement_status", **west, status="PROBATION") == 1.0
    assert world.value("sesmon_account_enforcement_status", **west, status="HEALTHY") == 0.0
    assert world.value("sesmon_account_enforcement_status", **east, status="HEALTHY") == 1.0
    assert world.value("sesmon_account_enforcement_status", **east, status="SHUTDOWN") == 0.0
    assert world.value("sesmon_account_production_access_enabled", **other) == 0.0
    assert world.value("sesmon_account_production_access_enabled", **east) == 1.0
    assert world.value("sesmon_send_quota_usage_ratio", **east) == pytest.approx(1000 / 50000)
    assert world.value("sesmon_send_quota_max_rate", **east) == 14.0
    by_signal = {
        s: {(o.label("target"), o.label("configuration_set")): o for o in world.component.observe(s, None, 0)}
        for s in world.component.provided_signals()
    }
    assert by_signal["enforcement_status"][("west", "")].value == 1.0
    assert by_signal["enforcement_status"][("west", "")].detail == "status=PROBATION"
    assert by_signal["sandbox"][("other", "")].value == 1.0
    assert by_signal["sandbox"][("east", "")].value == 0.0
    assert by_signal["cloudwatch_bounce_rate"][("east", ACCOUNT_LEVEL)].value == pytest.approx(0.011)
    assert by_signal["cloudwatch_complaint_rate"][("west", "west-billing")].value == pytest.approx(0.0044)
    assert ("east", "east-quiet") in by_signal["configuration_set_sending_disabled"]
    assert by_signal["quota_usage"][("east", "")].value == pytest.approx(0.02)
    assert isinstance(world.component, SignalProvider)
    rows = {r.target: r for r in world.component.status().rows}
    assert rows["east"].quota_usage == pytest.approx(0.02)
    assert rows["east"].cloudwatch_bounce_ratio == pytest.approx(0.011)
    assert (rows["west"].enforcement_status, rows["west"].ok) == ("PROBATION", False)
    assert rows["east"].ok
    page = statuspage.render_section(world.component.status())
    assert "PROBATION" in page
    assert "2.00%" in page  # east: 1000 of 50000 sent
    assert "1.10%" in page  # east: CloudWatch account bounce rate
    # SES's 1 call/s limit for configuration-set calls: 1 list + 3 gets per target, spaced by waits.
    assert world.counter.snapshot()[("sesv2", "GetConfigurationSet")] == 9
    assert sum(world.sleeps) == pytest.approx(3 * 3.0)


def test_unknown_enforcement_status_joins_the_state_set(world: World) -> None:
    status = {"value": "HEALTHY"}
    stub_get_account(world.clients["east"], lambda: account_response(status=status["value"]))
    world.component.poll_all(world.now)
    status["value"] = "UNDER_REVIEW"
    world.component.poll_all(world.now + 300)
    status["value"] = "HEALTHY"
    world.component.poll_all(world.now + 600)
    east = {"target": "east", "account_id": DEFAULT_ACCOUNT, "region": "us-east-1"}
    assert world.value("sesmon_account_enforcement_status", **east, status="UNDER_REVIEW") == 0.0
    assert world.value("sesmon_account_enforcement_status", **east, status="HEALTHY") == 1.0


def test_scrape_makes_no_aws_call(world: World) -> None:
    world.component.poll_all(world.now)
    before = world.counter.total()
    for _ in range(3):
        world.registry.collect()
        list(world.registry.collect())
    statuspage.render_section(world.component.status())
    assert world.counter.total() == before > 0


def test_configuration_sets_are_rediscovered_after_15_minutes(world: World) -> None:
    world.component.poll_all(world.now)
    create_sets(world.seed["east"], {"east-late": True})
    world.component.poll_all(world.now + 600)
    east = {"target": "east", "account_id": DEFAULT_ACCOUNT, "region": "us-east-1"}
    late = {**east, "configuration_set": "east-late"}
    assert world.value("sesmon_configuration_set_reputation_metrics_enabled", **late) is None
    # 15 minutes after the first refresh ended (its 1 call/s spacing took 3 s of the fake clock).
    world.component.poll_all(world.now + 903)
    assert world.value("sesmon_configuration_set_reputation_metrics_enabled", **late) == 1.0
    assert world.counter.snapshot()[("sesv2", "ListConfigurationSets")] == 6
