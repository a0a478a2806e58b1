"""CloudWatch AWS/SES polling: Reputation.* and, for sets without Send events, Send, batched into
GetMetricData calls."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sesmon.config import TargetConfig
from sesmon.denominators import SendBoard, SendSeries
from sesmon.model import NO_CONFIGURATION_SET, OTHER_CONFIGURATION_SET
from sesmon.sources.discovery import ConfigurationSetDiscovery

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataResultTypeDef

NAMESPACE = "AWS/SES"
BOUNCE = "Reputation.BounceRate"
COMPLAINT = "Reputation.ComplaintRate"
METRICS = (BOUNCE, COMPLAINT)
# Sent recipients, the denominator of sets whose Send events never reach sesmon (sesmon.denominators).
SEND = "Send"
SEND_STAT = "Sum"
CONFIGURATION_SET_DIMENSION = "ses:configuration-set"
# GetMetricData accepts at most 500 queries per request.
MAX_QUERIES_PER_CALL = 500
# Reputation rates are fractions already: Average of a period is the rate; Sum would add rates up.
STAT = "Average"
PERIOD_SECONDS = 300
# How far back to look for the newest datapoint. SES publishes reputation datapoints irregularly
# (per-set ones only with traffic), so look back hours; billing is per metric, not per datapoint.
# 72 datapoints x 500 queries stays well under GetMetricData's 100,800-datapoint page.
LOOKBACK_SECONDS = 6 * 3600


@dataclass(frozen=True, slots=True)
class Query:
    """One metric to fetch: ``configuration_set`` None means the account-level series."""

    id: str
    metric: str
    configuration_set: str | None
    stat: str = STAT


@dataclass(frozen=True, slots=True)
class Reading:
    """The newest datapoint of one query (``value`` None when the lookback held no datapoint)."""

    metric: str
    configuration_set: str | None
    value: float | None
    timestamp: float | None


@dataclass(frozen=True, slots=True)
class CloudWatchSnapshot:
    """The result of one poll of one target."""

    polled_at: float
    readings: tuple[Reading, ...]
    calls: int
    metrics_requested: int
    configuration_sets: tuple[str, ...] = ()
    # Send series fetched for the sets that asked for a CloudWatch denominator (None: the account).
    sends: Mapping[str | None, SendSeries] = field(default_factory=dict)

    def account(self, metric: str) -> Reading | None:
        """The account-level reading of ``metric``."""
        return next((r for r in self.readings if r.metric == metric and r.configuration_set is None), None)

    def newest_timestamp(self, metric: str) -> float | None:
        """Timestamp of the newest datapoint of ``metric`` over every series."""
        stamps = [r.timestamp for r in self.readings if r.metric == metric and r.timestamp is not None]
        return max(stamps) if stamps else None


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The [start, end) interval a poll asks for, aligned to the period."""

    start: float
    end: float


def build_queries(configuration_sets: Iterable[str], sends: Iterable[str | None] = ()) -> list[Query]:
    """Account-level queries first, then one per metric and configuration set, then the Send queries
    of ``sends`` (None: the account level), with stable ids."""
    subjects: list[str | None] = [None, *configuration_sets]
    queries: list[Query] = []
    for subject in subjects:
        for metric in METRICS:
            # Ids must start with a lower-case letter and use only [a-zA-Z0-9_].
            queries.append(Query(f"q{len(queries)}", metric, subject))
    for subject in sends:
        queries.append(Query(f"q{len(queries)}", SEND, subject, SEND_STAT))
    return queries


def send_subjects(wanted: Iterable[str]) -> list[str | None]:
    """The Send series that give ``wanted`` sets a denominator: the account's (the fallback, and the
    only one for ``(none)``/``(other)``), then each named set's own dimension; empty when none is wanted."""
    asked = set(wanted)
    if not asked:
        return []
    return [None, *sorted(asked - {NO_CONFIGURATION_SET, OTHER_CONFIGURATION_SET})]


def to_api(query: Query, period: int = PERIOD_SECONDS) -> dict[str, Any]:
    """The MetricDataQuery structure of ``query``."""
    dimensions = (
        [{"Name": CONFIGURATION_SET_DIMENSION, "Value": query.configuration_set}]
        if query.configuration_set is not None
        else []
    )
    return {
        "Id": query.id,
        "MetricStat": {
            "Metric": {"Namespace": NAMESPACE, "MetricName": query.metric, "Dimensions": dimensions},
            "Period": period,
            "Stat": query.stat,
        },
        "ReturnData": True,
    }


def chunk(queries: Sequence[Query], size: int = MAX_QUERIES_PER_CALL) -> list[Sequence[Query]]:
    """Split ``queries`` into request-sized batches (one batch up to ``size``)."""
    return [queries[i : i + size] for i in range(0, len(queries), size)]


def time_range(
    now: float, delay: float, lookback: float = LOOKBACK_SECONDS, period: int = PERIOD_SECONDS
) -> TimeRange:
    """The interval to ask for: ending ``delay`` before now (late datapoints), aligned to the period."""
    end = (int(now - delay) // period) * period
    return TimeRange(float(end - lookback), float(end))


def newest_points(results: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    """Query id → (timestamp, value) of its newest datapoint, merged over result pages."""
    newest: dict[str, tuple[float, float]] = {}
    for result in results:
        for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
            ts = _epoch(stamp)
            old = newest.get(result["Id"])
            if old is None or ts > old[0]:
                newest[result["Id"]] = (ts, float(value))
    return newest


def all_points(results: Iterable[Mapping[str, Any]]) -> dict[str, tuple[tuple[float, float], ...]]:
    """Query id → every ``(timestamp, value)`` it returned, oldest first, merged over result pages."""
    merged: dict[str, dict[float, float]] = {}
    for result in results:
        points = merged.setdefault(result["Id"], {})
        for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
            points[_epoch(stamp)] = float(value)
    return {key: tuple(sorted(points.items())) for key, points in merged.items()}


def _epoch(stamp: datetime | float) -> float:
    if isinstance(stamp, datetime):
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
    return float(stamp)


def readings(queries: Sequence[Query], newest: dict[str, tuple[float, float]]) -> tuple[Reading, ...]:
    """One reading per query, empty where no datapoint came back."""
    out: list[Reading] = []
    for query in queries:
        point = newest.get(query.id)
        out.append(
            Reading(
                query.metric,
                query.configuration_set,
                point[1] if point else None,
                point[0] if point else None,
            )
        )
    return tuple(out)


@dataclass
class CloudWatchPoller:
    """Polls one target's reputation metrics; every call goes through the target's CloudWatch client."""

    target: TargetConfig
    cloudwatch: Callable[[], CloudWatchClient]
    discovery: ConfigurationSetDiscovery
    on_metrics_requested: Callable[[int], None] = field(default=lambda _n: None)
    # Where ingestion asks for Send denominators; Send is fetched only for sets that asked.
    sends: SendBoard | None = None
    # How far back Send must reach: the longest sliding window.
    send_lookback: float = LOOKBACK_SECONDS

    def poll(self, now: float) -> CloudWatchSnapshot:
        """Fetch the newest datapoint of every query; raises on AWS errors (no partial snapshot)."""
        sets = self.discovery.catalog.reputation_enabled
        wanted = send_subjects(self.sends.wanted(self.target.name)) if self.sends is not None else []
        queries = build_queries(sets, wanted)
        # One time range serves every query of a call, so Send's longer reach widens it only when asked.
        lookback = max(LOOKBACK_SECONDS, self.send_lookback) if wanted else LOOKBACK_SECONDS
        span = time_range(now, self.target.cloudwatch.delay, lookback)
        client = self.cloudwatch()
        results: list[MetricDataResultTypeDef] = []
        calls = requested = 0
        for batch in chunk(queries):
            api_queries = [to_api(q) for q in batch]
            token: str | None = None
            while True:
                args: dict[str, Any] = {
                    "MetricDataQueries": api_queries,
                    "StartTime": datetime.fromtimestamp(span.start, tz=UTC),
                    "EndTime": datetime.fromtimestamp(span.end, tz=UTC),
                    "ScanBy": "TimestampDescending",
                }
                if token:
                    args["NextToken"] = token
                page = client.get_metric_data(**args)
                # AWS bills GetMetricData per metric requested in each answered call, follow-up pages
                # included; a failed attempt returns no data and is not billed.
                calls += 1
                requested += len(api_queries)
                self.on_metrics_requested(len(api_queries))
                results.extend(page.get("MetricDataResults", []))
                token = page.get("NextToken")
                if not token:
                    break
        reputation = [q for q in queries if q.metric != SEND]
        snapshot = CloudWatchSnapshot(
            now,
            readings(reputation, newest_points(results)),
            calls,
            requested,
            sets,
            sends=send_series(queries, all_points(results), span),
        )
        if self.sends is not None:
            self.sends.publish(self.target.name, snapshot.sends)
        return snapshot


def send_series(
    queries: Sequence[Query], points: Mapping[str, tuple[tuple[float, float], ...]], span: TimeRange
) -> dict[str | None, SendSeries]:
    """The Send series of every Send query (empty where CloudWatch returned no datapoint)."""
    return {
        q.configuration_set: SendSeries(points.get(q.id, ()), span.start, span.end, PERIOD_SECONDS)
        for q in queries
        if q.metric == SEND
    }
