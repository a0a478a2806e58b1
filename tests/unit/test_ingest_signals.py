"""The ingestion component as alert rules, Prometheus and the status page see it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sesmon import statuspage
from sesmon.batch import Message
from sesmon.config import Config
from sesmon.health import SourceHealth
from sesmon.ingest import IngestComponent
from sesmon.metrics import build_registry
from sesmon.signals import SignalProvider
from sesmon.state.sqlite import SqliteState
from sesmon.targets import TargetDirectory
from sesmon.windows import EVENTS, SENT
from tests.sesgen import SesEventGenerator

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

NOW = 1_790_000_000.0
LABELS = {"target": "prod", "account_id": "123456789012", "region": "us-east-1"}


def component(tmp_path: Path, clock: list[float]) -> IngestComponent:
    config = Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"},
                    "configuration_sets": ["transactional", "marketing", "quiet", "promo-*"],
                }
            ],
            "state": {"path": str(tmp_path / "s.db")},
        }
    )
    store = SqliteState(config.state.path)
    comp = IngestComponent(
        config,
        store,
        health=SourceHealth(),
        targets=TargetDirectory(config.targets),
        clock=lambda: clock[0],
        sqs_clients={"prod": lambda: cast("SQSClient", _NoClient())},
    )
    for ingest in comp.ingests.values():
        ingest.restore(clock[0])
    return comp


class _NoClient:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError("no AWS call expected")


def feed(comp: IngestComponent, sends: int, bounces: int, at: float, cs: str = "transactional") -> None:
    gen = SesEventGenerator(seed=int(at) + sends + bounces, start=at, spread=1.0, simulator_share=0.0)
    bodies = [gen.event("Send", cs).body for _ in range(sends)]
    bodies += [b.body for b in (gen.event("Bounce", cs) for _ in range(bounces * 20)) if b.rate_recipients][
        :bounces
    ]
    ingest = comp.ingests["prod"]
    ingest.process([Message(f"{at}-{i}", b) for i, b in enumerate(bodies)], at)


def test_rates_per_window_and_volume(tmp_path: Path) -> None:
    clock = [NOW]
    comp = component(tmp_path, clock)
    assert isinstance(comp, SignalProvider)
    feed(comp, sends=100, bounces=0, at=NOW - 2 * 3600)  # in 24h, not in 1h
    feed(comp, sends=100, bounces=5, at=NOW - 60)
    sent_recent = comp.ingests["prod"].totals(NOW)["transactional"]["1h"].rate("bounce_rate")[2]
    by_window = {window: comp.observe("bounce_rate", window, NOW)[0] for window in ("1h", "24h", "volume")}
    one_hour = by_window["1h"]
    assert one_hour.label("configuration_set") == "transactional"
    assert one_hour.label("target") == "prod"
    assert (one_hour.events, one_hour.recipients) == (5, sent_recent)
    assert one_hour.value == 5 / sent_recent
    day = by_window["24h"]
    assert day.events == 5
    assert day.recipients > sent_recent
    assert by_window["volume"].recipients == day.recipients  # fewer than 10,000: all of max_age
    assert comp.observe("complaint_rate", "1h", NOW)[0].value == 0.0
    assert comp.observe("bounce_rate", None, NOW) == []


def test_no_events_flags_a_set_that_went_quiet(tmp_path: Path) -> None:
    clock = [NOW]
    comp = component(tmp_path, clock)
    feed(comp, sends=3, bounces=0, at=NOW - 2 * 3600, cs="quiet")
    feed(comp, sends=3, bounces=0, at=NOW - 60, cs="transactional")
    silent = {o.label("configuration_set"): o.value for o in comp.observe("no_events", "1h", NOW)}
    assert silent == {"quiet": 1.0, "transactional": 0.0}
    silent_day = {o.label("configuration_set"): o.value for o in comp.observe("no_events", "24h", NOW)}
    assert silent_day == {"quiet": 0.0, "transactional": 0.0}


def test_metrics_preinitialised_and_counted(tmp_path: Path) -> None:
    clock = [NOW]
    comp = component(tmp_path, clock)
    registry = build_registry(comp.collectors())
    # The event-count families carry the target only; its account and region are on target_info.
    assert registry.get_sample_value("sesmon_target_info", LABELS) == 1
    quiet = {"target": "prod", "configuration_set": "quiet"}
    # Literal configured names are exported at zero before any event; globs are not.
    assert registry.get_sample_value("sesmon_recipients_total", {**quiet, "event_type": "bounce"}) == 0
    volume = {**quiet, "window": "volume", "denominator": "events"}
    assert registry.get_sample_value("sesmon_window_sent_recipients", volume) == 0
    # No denominator yet: no ratio, which is not a ratio of 0.
    assert registry.get_sample_value("sesmon_window_bounce_ratio", volume) is None
    assert (
        registry.get_sample_value("sesmon_sqs_messages_invalid_total", {**LABELS, "reason": "not_json"}) == 0
    )
    assert registry.get_sample_value("sesmon_sqs_messages_received_total", LABELS) == 0
    promo = {**quiet, "configuration_set": "promo-*", "event_type": "send"}
    assert registry.get_sample_value("sesmon_recipients_total", promo) is None
    feed(comp, sends=10, bounces=1, at=NOW - 30)
    tx = {"target": "prod", "configuration_set": "transactional"}
    recipients = registry.get_sample_value("sesmon_recipients_total", {**tx, "event_type": "send"})
    assert recipients is not None
    assert recipients >= 10
    # Per target by default (metrics.events_per_set): the sends of every set.
    assert registry.get_sample_value("sesmon_events_total", {"target": "prod", "event_type": "send"}) == 10
    one_hour = {**tx, "window": "1h", "denominator": "events"}
    sent = registry.get_sample_value("sesmon_window_sent_recipients", one_hour)
    assert sent == recipients
    ratio = registry.get_sample_value("sesmon_window_bounce_ratio", one_hour)
    assert ratio is not None
    assert abs(ratio - 1 / sent) < 1e-12
    assert registry.get_sample_value("sesmon_configuration_set_last_event_timestamp_seconds", tx) is not None
    assert registry.get_sample_value("sesmon_event_lag_seconds_count", LABELS) == 11
    assert registry.get_sample_value("sesmon_sqs_messages_received_total", LABELS) == 11


def test_status_rows_list_sets_and_render(tmp_path: Path) -> None:
    clock = [NOW]
    comp = component(tmp_path, clock)
    empty = comp.status()
    assert empty is not None
    assert empty.rows == ()
    assert "No SES events" in statuspage.render_section(empty)
    feed(comp, sends=4, bounces=1, at=NOW - 30, cs="marketing")
    status = comp.status()
    assert status is not None
    assert status.windows == ("1h", "24h", "volume")
    hour = next(r for r in status.rows if r.configuration_set == "marketing" and r.window == "1h")
    assert hour.target == "prod"
    # The numbers the windows hold, unformatted.
    totals = comp.ingests["prod"].totals(NOW)["marketing"]["1h"]
    assert (hour.sent, hour.events) == (totals[SENT], totals[EVENTS])
    assert hour.sent == 4
    assert hour.bounce_ratio == totals.rate("bounce_rate")[0]
    assert hour.bounce_ratio is not None
    assert hour.bounce_ratio > 0
    assert hour.denominator == "events"
    assert hour.complaint_ratio == 0.0
    page = statuspage.render_section(status)
    assert "<td>marketing</td>" in page
    assert "<th scope='col'>bounce 1h</th>" in page
    # The last day, in quarter hours, from the same buckets: every send and bounce lands in the last.
    (day,) = [h for h in status.history if h.configuration_set == "marketing"]
    assert (day.target, day.step, len(day.sent)) == ("prod", 900, 96)
    assert sum(day.sent) == 4
    assert day.bounce[-1] == hour.bounce_ratio
    assert set(day.bounce[:-1]) == {None}
    assert "<svg class='spark bounce'" in page
