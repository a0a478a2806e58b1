"""Event-routing self-check on moto: configuration sets listed from moto, destinations stubbed."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from sesmon import statuspage
from sesmon.config import Config
from sesmon.config_loader import parse_config
from sesmon.identity_health import IdentityHealthComponent
from sesmon.metrics import build_registry
from sesmon.model import EventType
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.sources.identities import OperationPacer
from sesmon.sources.routing import RoutingSource
from sesmon.targets import TargetDirectory

REGION = "us-east-1"
ALL_TYPES = ["SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY"]
SETS = ("marketing", "trans-main", "trans-empty", "trans-gone", "internal-tests")

# moto implements no SES v2 event-destination API at all, so GetConfigurationSetEventDestinations is
# answered here, before the request is sent; the configuration sets themselves are moto's.
DESTINATIONS: dict[str, list[dict[str, Any]]] = {
    "marketing": [
        {
            "Name": "to-queue",
            "Enabled": True,
            "MatchingEventTypes": [*ALL_TYPES, "OPEN", "CLICK"],
            "SnsDestination": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events"},
        }
    ],
    "trans-main": [
        {
            "Name": "bus",
            "Enabled": True,
            "MatchingEventTypes": ["SEND", "BOUNCE"],
            "EventBridgeDestination": {
                "EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"
            },
        },
        {
            "Name": "paused",
            "Enabled": False,
            "MatchingEventTypes": ["COMPLAINT", "DELIVERY"],
            "SnsDestination": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events"},
        },
        {
            "Name": "dashboards",
            "Enabled": True,
            "MatchingEventTypes": ["DELIVERY", "REJECT", "DELIVERY_DELAY"],
            "CloudWatchDestination": {"DimensionConfigurations": []},
        },
    ],
    "trans-empty": [],
}


def _stub_event_destinations(client: Any, asked: list[str]) -> None:
    def answer(params: dict[str, Any], **_kwargs: Any) -> tuple[AWSResponse, dict[str, Any]]:
        name = params["url_path"].split("/")[-2]
        asked.append(name)
        if name not in DESTINATIONS:
            error = {"Error": {"Code": "NotFoundException", "Message": f"{name} does not exist"}}
            return AWSResponse("", 404, HTTPHeaders(), None), error
        return AWSResponse("", 200, HTTPHeaders(), None), {"EventDestinations": DESTINATIONS[name]}

    client.meta.events.register("before-call.sesv2.GetConfigurationSetEventDestinations", answer)


def _config(endpoint: str, sets: str = "['marketing', 'trans-*']", cap: int = 100) -> Config:
    return parse_config(
        f"""
targets:
  - name: prod
    region: {REGION}
    endpoint_url: '{endpoint}'
    configuration_sets: {sets}
    max_configuration_sets: {cap}
""",
        {},
    )


class _NoWait:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def endpoint(moto_server: Any) -> str:
    sesv2 = boto3.client("sesv2", region_name=REGION, endpoint_url=moto_server.endpoint_url)
    for name in SETS:
        sesv2.create_configuration_set(ConfigurationSetName=name)
    return str(moto_server.endpoint_url)


def _component(config: Config) -> tuple[IdentityHealthComponent, list[str]]:
    clients = AwsClients(config.targets[0], ApiCallCounter())
    asked: list[str] = []
    _stub_event_destinations(clients.client("sesv2"), asked)
    clock = _NoWait()
    component = IdentityHealthComponent(
        config,
        {"prod": clients},
        TargetDirectory(config.targets),
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    return component, asked


def test_routing_per_configuration_set_and_event_type(endpoint: str) -> None:
    component, asked = _component(_config(endpoint))
    component.poll_identities("prod")

    # Only the sets the globs allow are read; one was deleted between the list and the read.
    assert sorted(asked) == ["marketing", "trans-empty", "trans-gone", "trans-main"]
    routing = component.views()[0].routing
    assert routing is not None
    assert [s.configuration_set for s in routing.sets] == ["marketing", "trans-empty", "trans-main"]

    registry = build_registry(component.collectors())

    def routed(configuration_set: str, event_type: str) -> float | None:
        labels = {"target": "prod", "account_id": "unknown", "region": REGION}
        return registry.get_sample_value(
            "sesmon_configuration_set_event_type_routed",
            {**labels, "configuration_set": configuration_set, "event_type": event_type},
        )

    types = [
        t.value
        for t in (
            EventType.SEND,
            EventType.DELIVERY,
            EventType.BOUNCE,
            EventType.COMPLAINT,
            EventType.REJECT,
            EventType.DELIVERY_DELAY,
        )
    ]
    assert types == ["send", "delivery", "bounce", "complaint", "reject", "delivery_delay"]
    assert {t: routed("marketing", t) for t in types} == dict.fromkeys(types, 1.0)
    assert {t: routed("trans-empty", t) for t in types} == dict.fromkeys(types, 0.0)
    assert {t: routed("trans-main", t) for t in types} == {
        "send": 1.0,
        "delivery": 0.0,  # enabled only towards CloudWatch, and disabled towards SNS
        "bounce": 1.0,
        "complaint": 0.0,  # its only destination is disabled
        "reject": 0.0,  # CloudWatch cannot feed the queue
        "delivery_delay": 0.0,
    }
    assert routed("marketing", "open") is None  # only the checked types are reported
    assert routed("internal-tests", "send") is None


def test_not_routed_signal_and_status_page(endpoint: str) -> None:
    component, _asked = _component(_config(endpoint))
    component.poll_identities("prod")
    observations = {
        (o.label("configuration_set"), o.label("event_type")): o
        for o in component.observe("event_type_not_routed", None, 0)
    }
    assert len(observations) == 3 * 6
    assert observations["marketing", "bounce"].value == 0.0
    assert observations["trans-main", "complaint"].value == 1.0
    assert observations["trans-main", "complaint"].detail == "no enabled destination publishes it"
    assert observations["trans-main", "reject"].detail == (
        "published only to destinations that cannot reach the queue (not SNS or EventBridge)"
    )
    assert observations["trans-empty", "send"].detail == "no event destinations"
    assert observations["trans-empty", "send"].label("target") == "prod"

    status = component.status()
    assert status is not None
    gaps = {(g.configuration_set, g.event_type) for t in status.targets if t.routing for g in t.routing.gaps}
    assert ("trans-main", "reject") in gaps
    assert not any(cs == "marketing" for cs, _ in gaps)
    page = statuspage.render_section(status)
    assert "Event routing gaps" in page
    assert "<td>trans-main</td><td>reject</td>" in page
    assert "<td>marketing</td>" not in page


def test_listing_is_paged_capped_and_paced(endpoint: str) -> None:
    config = _config(endpoint, sets="['*']", cap=3)
    clients = AwsClients(config.targets[0], ApiCallCounter())
    asked: list[str] = []
    _stub_event_destinations(clients.client("sesv2"), asked)
    clock = _NoWait()
    source = RoutingSource(
        config.targets[0],
        lambda: clients.client("sesv2"),
        OperationPacer(monotonic=clock.monotonic, sleep=clock.sleep),
        page_size=2,
    )
    snapshot = source.poll()
    assert clients.counter.snapshot()[("sesv2", "ListConfigurationSets")] == 3  # 5 sets, pages of 2
    # Sorted, then capped at three: internal-tests, marketing, trans-empty.
    assert asked == ["internal-tests", "marketing", "trans-empty"]
    assert snapshot.dropped == 2
    # Three paced reads need two one-second waits (on the injected clock).
    assert clock.now >= 2.0
