"""Pure parts of the CloudWatch, account and discovery sources, driven by fake clients."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from sesmon.config import TargetConfig
from sesmon.sources.account import AccountPoller, enforcement_states, snapshot_from_response
from sesmon.sources.aws import ApiCallCounter
from sesmon.sources.cloudwatch import (
    CloudWatchPoller,
    build_queries,
    chunk,
    newest_points,
    readings,
    time_range,
    to_api,
)
from sesmon.sources.discovery import (
    Catalog,
    ConfigurationSetDiscovery,
    ConfigurationSetInfo,
    DiscoveryStoppedError,
    RateLimiter,
    info_from_response,
)


def stand_in(fake: object) -> Callable[[], Any]:
    """A client accessor for a fake that has just the calls the source under test makes."""
    return lambda: cast("Any", fake)


def target(**extra: Any) -> TargetConfig:
    return TargetConfig.model_validate({"name": "t", "region": "eu-west-1", **extra})


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


# -- query building ---------------------------------------------------------------------------


def test_queries_cover_account_then_each_set_with_valid_unique_ids() -> None:
    queries = build_queries(["a", "b"])
    assert [(q.metric, q.configuration_set) for q in queries] == [
        ("Reputation.BounceRate", None),
        ("Reputation.ComplaintRate", None),
        ("Reputation.BounceRate", "a"),
        ("Reputation.ComplaintRate", "a"),
        ("Reputation.BounceRate", "b"),
        ("Reputation.ComplaintRate", "b"),
    ]
    ids = [q.id for q in queries]
    assert len(set(ids)) == len(ids)
    assert all(i[0].islower() and i.replace("_", "").isalnum() for i in ids)


def test_api_query_shape_uses_average_and_the_set_dimension() -> None:
    account, _, per_set, _ = (to_api(q) for q in build_queries(["marketing"]))
    assert account["MetricStat"]["Metric"] == {
        "Namespace": "AWS/SES",
        "MetricName": "Reputation.BounceRate",
        "Dimensions": [],
    }
    assert per_set["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "ses:configuration-set", "Value": "marketing"}
    ]
    assert per_set["MetricStat"]["Stat"] == "Average"
    assert per_set["MetricStat"]["Period"] == 300


@pytest.mark.parametrize(("count", "sizes"), [(1, [1]), (500, [500]), (501, [500, 1]), (1002, [500, 500, 2])])
def test_chunk_splits_at_500(count: int, sizes: list[int]) -> None:
    queries = build_queries([])[:1] * count
    assert [len(c) for c in chunk(queries)] == sizes


def test_time_range_ends_delay_before_now_on_a_period_boundary() -> None:
    span = time_range(now=10_000.0, delay=600.0, lookback=3600.0, period=300)
    assert span.end == 9_300.0  # floor((10000 - 600) / 300) * 300
    assert span.start == 5_700.0


def test_newest_points_merge_pages_and_pick_the_latest() -> None:
    t1 = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    t2 = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    pages: list[dict[str, Any]] = [
        {"Id": "q0", "Timestamps": [t1], "Values": [0.1]},
        {"Id": "q0", "Timestamps": [t2], "Values": [0.2]},
        {"Id": "q1", "Timestamps": [], "Values": []},
    ]
    newest = newest_points(pages)
    assert newest == {"q0": (t2.timestamp(), 0.2)}
    out = readings(build_queries([])[:2], newest)
    assert out[0].value == 0.2
    assert out[1].value is None
    assert out[1].timestamp is None


# -- the poller -------------------------------------------------------------------------------


class FakeCloudWatch:
    """GetMetricData that pages with NextToken when asked to, recording each call."""

    def __init__(self, pages_per_call: int = 1) -> None:
        self.calls: list[dict[str, Any]] = []
        self.pages_per_call = pages_per_call

    def get_metric_data(self, **args: Any) -> dict[str, Any]:
        self.calls.append(args)
        assert len(args["MetricDataQueries"]) <= 500
        page = int(args.get("NextToken", "0"))
        stamp = datetime.fromtimestamp(1000.0 + page, tz=UTC)
        results = [
            {"Id": q["Id"], "Timestamps": [stamp], "Values": [0.01 * (page + 1)]}
            for q in args["MetricDataQueries"]
        ]
        response: dict[str, Any] = {"MetricDataResults": results}
        if page + 1 < self.pages_per_call:
            response["NextToken"] = str(page + 1)
        return response


class FixedDiscovery(ConfigurationSetDiscovery):
    def __init__(self, names: list[str]) -> None:
        super().__init__(target(), stand_in(None))
        self._fixed = Catalog(tuple(ConfigurationSetInfo(n, True, True) for n in names), 1.0)

    @property
    def catalog(self) -> Catalog:
        return self._fixed


@pytest.mark.parametrize(
    ("sets", "pages", "calls", "requested"),
    [
        (0, 1, 1, 2),
        (249, 1, 1, 500),  # (1 + 249) x 2 = 500 queries: still one call
        (250, 1, 2, 502),
        (999, 1, 4, 2000),
        (1, 3, 3, 12),  # one batch paged three times: each page is billed again
    ],
)
def test_poller_batches_and_pages(sets: int, pages: int, calls: int, requested: int) -> None:
    fake = FakeCloudWatch(pages_per_call=pages)
    billed: list[int] = []
    poller = CloudWatchPoller(
        target(), stand_in(fake), FixedDiscovery([f"s{i}" for i in range(sets)]), billed.append
    )
    snapshot = poller.poll(now=100_000.0)
    assert len(fake.calls) == snapshot.calls == calls
    assert snapshot.metrics_requested == sum(billed) == requested
    # Newest datapoint wins across pages.
    assert all(r.value == pytest.approx(0.01 * pages) for r in snapshot.readings)
    assert len(snapshot.readings) == (1 + sets) * 2
    first = fake.calls[0]
    assert first["EndTime"] == datetime.fromtimestamp((100_000 - 600) // 300 * 300, tz=UTC)


# -- discovery --------------------------------------------------------------------------------


class FakeSes:
    def __init__(self, sets: dict[str, dict[str, Any]], page_size: int = 2) -> None:
        self.sets = sets
        self.page_size = page_size
        self.calls: list[str] = []
        self.gone: set[str] = set()

    def list_configuration_sets(self, **args: Any) -> dict[str, Any]:
        self.calls.append("list")
        names = sorted(self.sets)
        start = int(args.get("NextToken", "0"))
        out: dict[str, Any] = {"ConfigurationSets": names[start : start + self.page_size]}
        if start + self.page_size < len(names):
            out["NextToken"] = str(start + self.page_size)
        return out

    def get_configuration_set(self, ConfigurationSetName: str) -> dict[str, Any]:  # noqa: N803
        self.calls.append(f"get:{ConfigurationSetName}")
        if ConfigurationSetName in self.gone:
            raise ClientError(
                {"Error": {"Code": "NotFoundException", "Message": "gone"}}, "GetConfigurationSet"
            )
        return self.sets[ConfigurationSetName]


def test_info_mapping_defaults_and_flags() -> None:
    assert info_from_response("a", {}) == ConfigurationSetInfo("a", True, False)
    assert info_from_response("a", {"ReputationOptions": None, "SendingOptions": None}) == (
        ConfigurationSetInfo("a", True, False)
    )
    response = {
        "SendingOptions": {"SendingEnabled": False},
        "ReputationOptions": {"ReputationMetricsEnabled": True},
    }
    assert info_from_response("b", response) == ConfigurationSetInfo("b", False, True)


def test_discovery_filters_caps_paginates_and_rate_limits() -> None:
    ses = FakeSes(
        {
            n: {"ReputationOptions": {"ReputationMetricsEnabled": n != "mk-2"}}
            for n in ["mk-1", "mk-2", "mk-3", "mk-4", "tx-1"]
        }
    )
    clock = FakeClock()
    discovery = ConfigurationSetDiscovery(
        target(configuration_sets=["mk-*"], max_configuration_sets=3),
        stand_in(ses),
        RateLimiter(1.0, clock.monotonic, clock.sleep),
    )
    catalog = discovery.current(now=1000.0)
    assert [s.name for s in catalog.sets] == ["mk-1", "mk-2", "mk-3"]
    assert catalog.reputation_enabled == ("mk-1", "mk-3")
    assert catalog.dropped == 1
    assert ses.calls == ["list", "list", "list", "get:mk-1", "get:mk-2", "get:mk-3"]
    # 6 calls at most 1/s: 5 waits of a second.
    assert clock.slept == [1.0] * 5
    # Cached for 15 minutes from the end of the refresh (which took 5 s), then refreshed.
    assert catalog.refreshed_at == 1005.0
    discovery.current(now=1005.0 + 899)
    assert len(ses.calls) == 6
    discovery.current(now=1005.0 + 900)
    assert len(ses.calls) == 12


def test_discovery_skips_a_set_deleted_between_list_and_get() -> None:
    ses = FakeSes({"a": {}, "b": {}})
    ses.gone.add("a")
    clock = FakeClock()
    discovery = ConfigurationSetDiscovery(
        target(), stand_in(ses), RateLimiter(1.0, clock.monotonic, clock.sleep)
    )
    assert [s.name for s in discovery.current(1.0).sets] == ["b"]


def test_discovery_failure_keeps_the_old_catalog_and_retries() -> None:
    ses = FakeSes({"a": {}})
    clock = FakeClock()
    discovery = ConfigurationSetDiscovery(
        target(), stand_in(ses), RateLimiter(1.0, clock.monotonic, clock.sleep)
    )
    discovery.current(1.0)
    ses.gone.add("a")

    def broken(**_args: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow"}}, "List")

    ses.list_configuration_sets = broken  # type: ignore[method-assign]
    with pytest.raises(ClientError):
        discovery.current(1.0 + 905)
    assert [s.name for s in discovery.catalog.sets] == ["a"]
    assert discovery.due(1.0 + 906)


def test_rate_limiter_spaces_calls_from_many_threads() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1.0, clock.monotonic, clock.sleep)
    threads = [threading.Thread(target=limiter.wait) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.slept == [1.0] * 4


# -- account ----------------------------------------------------------------------------------


def test_account_snapshot_mapping() -> None:
    response = {
        "EnforcementStatus": "PROBATION",
        "ProductionAccessEnabled": False,
        "SendingEnabled": True,
        "SendQuota": {"Max24HourSend": 200.0, "SentLast24Hours": 50.0, "MaxSendRate": 1.0},
    }

    class FakeSesv2:
        def get_account(self) -> dict[str, Any]:
            return response

    snap = AccountPoller(stand_in(FakeSesv2())).poll(5.0, Catalog())
    assert snap.enforcement_status == "PROBATION"
    assert snap.sandbox is True
    assert snap.sending_enabled is True
    assert snap.quota_usage == 0.25
    assert snap.max_rate == 1.0


def test_unlimited_quota_has_no_usage_ratio() -> None:
    snap = snapshot_from_response(
        {"SendQuota": {"Max24HourSend": -1.0, "SentLast24Hours": 9.0}}, 0.0, Catalog()
    )
    assert snap.quota_usage is None
    assert snap.enforcement_status == "HEALTHY"


def test_enforcement_state_set_includes_known_and_seen_states() -> None:
    assert enforcement_states(frozenset(), "HEALTHY") == {"HEALTHY": 1.0, "PROBATION": 0.0, "SHUTDOWN": 0.0}
    states = enforcement_states({"UNDER_REVIEW"}, "PROBATION")
    assert states == {"HEALTHY": 0.0, "PROBATION": 1.0, "SHUTDOWN": 0.0, "UNDER_REVIEW": 0.0}
    assert enforcement_states(set(), "NEW_STATE")["NEW_STATE"] == 1.0


# -- API-call counting -------------------------------------------------------------------------


def test_counter_is_thread_safe_and_keyed_by_target() -> None:
    counter = ApiCallCounter()

    def hammer() -> None:
        for _ in range(1000):
            counter.record("sqs", "ReceiveMessage", "a")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counter.record("sesv2", "GetAccount", "b")
    assert counter.snapshot() == {("sqs", "ReceiveMessage"): 8000, ("sesv2", "GetAccount"): 1}
    assert counter.by_target()[("a", "sqs", "ReceiveMessage")] == 8000
    assert counter.total() == 8001


def test_a_stopping_daemon_interrupts_a_long_refresh() -> None:
    stopping = threading.Event()
    ses = FakeSes({f"s{i}": {} for i in range(10)}, page_size=100)
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(ses.calls) == 3:
            stopping.set()

    discovery = ConfigurationSetDiscovery(
        target(), stand_in(ses), RateLimiter(1.0, clock.monotonic, sleep), stopping=stopping
    )
    with pytest.raises(DiscoveryStoppedError):
        discovery.current(1.0)
    assert len(ses.calls) == 3
    assert discovery.catalog.sets == ()
