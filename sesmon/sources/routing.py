"""Event-routing self-check: which SES event types each configuration set publishes where sesmon sees them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sesmon.config import TargetConfig
from sesmon.logs import get_logger
from sesmon.model import EventType
from sesmon.sources.discovery import each_set, list_configuration_sets
from sesmon.sources.identities import OperationPacer

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

log = get_logger("sesmon.sources.routing")

# The event types the rates and alerts are built from: if one is not routed, its counters stay at zero
# and every rate derived from it looks perfect.
CHECKED_EVENT_TYPES: dict[str, EventType] = {
    "SEND": EventType.SEND,
    "DELIVERY": EventType.DELIVERY,
    "BOUNCE": EventType.BOUNCE,
    "COMPLAINT": EventType.COMPLAINT,
    "REJECT": EventType.REJECT,
    "DELIVERY_DELAY": EventType.DELIVERY_DELAY,
}
# Events reach sesmon's SQS queue through an SNS topic or an EventBridge bus; CloudWatch, Firehose and
# Pinpoint destinations are real destinations, but nothing sent there ever reaches the queue.
QUEUE_DESTINATIONS = ("SnsDestination", "EventBridgeDestination")


@dataclass(frozen=True, slots=True)
class RoutingInfo:
    """Routing of one configuration set's checked event types.

    ``routed``: published to an enabled SNS or EventBridge destination. ``elsewhere``: published only to
    enabled destinations that cannot feed the queue (shown on the status page as the likely cause).
    """

    configuration_set: str
    routed: frozenset[EventType]
    elsewhere: frozenset[EventType]
    destinations: int

    @property
    def missing(self) -> tuple[EventType, ...]:
        """Checked event types not routed to the queue, in catalogue order."""
        return tuple(t for t in CHECKED_EVENT_TYPES.values() if t not in self.routed)


@dataclass(frozen=True, slots=True)
class RoutingSnapshot:
    """Routing of every allowed configuration set of a target; ``dropped`` sets exceeded the cap."""

    sets: tuple[RoutingInfo, ...] = ()
    dropped: int = 0


def routing_from_destinations(name: str, destinations: Iterable[Mapping[str, Any]]) -> RoutingInfo:
    """A GetConfigurationSetEventDestinations response's destinations reduced to routing per type."""
    routed: set[EventType] = set()
    elsewhere: set[EventType] = set()
    count = 0
    for destination in destinations:
        count += 1
        if not destination.get("Enabled", False):
            continue
        types = {
            CHECKED_EVENT_TYPES[t]
            for t in destination.get("MatchingEventTypes", ())
            if t in CHECKED_EVENT_TYPES
        }
        if any(destination.get(kind) for kind in QUEUE_DESTINATIONS):
            routed |= types
        else:
            elsewhere |= types
    return RoutingInfo(name, frozenset(routed), frozenset(elsewhere - routed), count)


class RoutingSource:
    """Lists the target's allowed configuration sets and reads each one's event destinations."""

    def __init__(
        self,
        target: TargetConfig,
        sesv2: Callable[[], SESV2Client],
        pacer: OperationPacer,
        page_size: int | None = None,
    ) -> None:
        self._target = target
        self._sesv2 = sesv2
        self._pacer = pacer
        # None leaves the page size to SES.
        self._page_size = page_size

    def poll(self) -> RoutingSnapshot:
        """Routing of every allowed set (sorted by name, at most ``max_configuration_sets``)."""
        client = self._sesv2()
        kept, dropped = list_configuration_sets(
            client, self._target, lambda: self._pacer.wait("ListConfigurationSets"), self._page_size
        )
        infos = [
            routing_from_destinations(name, response.get("EventDestinations", []))
            for name, response in each_set(
                kept,
                lambda: self._pacer.wait("GetConfigurationSetEventDestinations"),
                lambda name: client.get_configuration_set_event_destinations(ConfigurationSetName=name),
            )
        ]
        return RoutingSnapshot(tuple(infos), dropped)
