"""The demo's stand-in for SES: publishes planned events to SNS when due and Reputation.* to CloudWatch."""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from sesmon.demo.traffic import SNS_SUBJECT, PlannedEvent, Tally, Traffic
from sesmon.logs import get_logger, log_event

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef, MetricDatumTypeDef
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sns.type_defs import PublishBatchRequestEntryTypeDef

log = get_logger("sesmon.demo.simulator")

NAMESPACE = "AWS/SES"
DIMENSION = "ses:configuration-set"
BATCH = 10  # PublishBatch's limit
PUT_LIMIT = 1000  # PutMetricData's limit of datums per call


@dataclass(frozen=True, slots=True)
class History:
    """Sending before the demo: AWS's reputation metrics cover a representative volume, not a minute."""

    sent: int
    bounce_rate: float
    complaint_rate: float


DEFAULT_HISTORY: dict[str, History] = {
    "transactional": History(sent=20_000, bounce_rate=0.003, complaint_rate=0.0),
    "marketing": History(sent=40_000, bounce_rate=0.006, complaint_rate=0.0002),
}


def reputation(tally: Tally, history: dict[str, History], name: str | None) -> tuple[float, float]:
    """(bounce, complaint) rate over history plus what the demo published, per set or account-wide."""
    names = [name] if name is not None else sorted(set(history) | set(tally.sent))
    sent = bounced = complained = 0.0
    for n in names:
        past = history.get(n, History(0, 0.0, 0.0))
        sent += past.sent + tally.sent.get(n, 0)
        bounced += past.sent * past.bounce_rate + tally.bounced.get(n, 0)
        complained += past.sent * past.complaint_rate + tally.complained.get(n, 0)
    if sent == 0:
        return 0.0, 0.0
    return bounced / sent, complained / sent


def reputation_datums(
    tally: Tally, history: dict[str, History], sets: Sequence[str], at: float
) -> list[MetricDatumTypeDef]:
    """Account-level and per-configuration-set Reputation.* datapoints as SES publishes them."""
    stamp = datetime.fromtimestamp(at, tz=UTC)
    datums: list[MetricDatumTypeDef] = []
    for name in (None, *sets):
        bounce, complaint = reputation(tally, history, name)
        dims: list[DimensionTypeDef] = [{"Name": DIMENSION, "Value": name}] if name is not None else []
        for metric, value in (("Reputation.BounceRate", bounce), ("Reputation.ComplaintRate", complaint)):
            datums.append(
                {"MetricName": metric, "Dimensions": dims, "Value": value, "Unit": "None", "Timestamp": stamp}
            )
    return datums


@dataclass
class TrafficSimulator:
    """A thread that turns :class:`Traffic` into SNS messages and CloudWatch datapoints in real time."""

    traffic: Traffic
    sns: SNSClient
    topic_arn: str
    cloudwatch: CloudWatchClient
    history: dict[str, History] = field(default_factory=lambda: dict(DEFAULT_HISTORY))
    clock: Callable[[], float] = time.time
    tick: float = 0.2
    metrics_every: float = 15.0
    tally: Tally = field(default_factory=Tally)
    _queue: list[tuple[float, int, PlannedEvent]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _recipients: int = 0
    _next_metrics: float = 0.0
    published: int = 0
    failures: int = 0

    @property
    def sets(self) -> list[str]:
        """Configuration set names the simulator sends with."""
        return [p.name for p in self.traffic.profiles]

    def seed_history(self, minutes: int = 60) -> None:
        """Put an hour of steady past datapoints, so the first CloudWatch poll already finds data."""
        now = self.clock()
        datums = [
            datum
            for minute in range(minutes, 0, -1)
            for datum in reputation_datums(Tally(), self.history, self.sets, now - minute * 60)
        ]
        for start in range(0, len(datums), PUT_LIMIT):
            self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=datums[start : start + PUT_LIMIT])

    def start(self) -> TrafficSimulator:
        """Start sending from now on."""
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; events not yet due are dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def sent_last_24_hours(self) -> float:
        """Recipients sent during the demo (GetAccount's SentLast24Hours)."""
        with self._lock:
            return float(self._recipients)

    def reputation(self, name: str | None = None) -> tuple[float, float]:
        """What CloudWatch's Reputation.* would say now, for one set or (None) the account."""
        with self._lock:
            return reputation(self.tally, self.history, name)

    def step(self, now: float) -> None:
        """Plan the mail sent until ``now``, publish every event due by then, put datapoints when due."""
        for event in self.traffic.advance(now):
            heapq.heappush(self._queue, (event.due, next(self._order), event))
        due: list[PlannedEvent] = []
        while self._queue and self._queue[0][0] <= now:
            due.append(heapq.heappop(self._queue)[2])
        self._publish(due, now)
        if now >= self._next_metrics:
            self._put_metrics(now)
            self._next_metrics = now + self.metrics_every

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step(self.clock())
            self._stop.wait(self.tick)

    def _publish(self, events: list[PlannedEvent], now: float) -> None:
        for start in range(0, len(events), BATCH):
            batch = events[start : start + BATCH]
            entries: list[PublishBatchRequestEntryTypeDef] = [
                {"Id": str(i), "Message": json.dumps(e.record, separators=(",", ":")), "Subject": SNS_SUBJECT}
                for i, e in enumerate(batch)
            ]
            try:
                result = self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
            except (BotoCoreError, ClientError) as exc:
                self._retry_later(batch, str(exc), now)
                continue
            failed = {f["Id"] for f in result.get("Failed", [])}
            if failed:
                self._retry_later(
                    [e for i, e in enumerate(batch) if str(i) in failed], "partial batch failure", now
                )
            for index, event in enumerate(batch):
                if str(index) not in failed:
                    self._count(event)

    def _count(self, event: PlannedEvent) -> None:
        with self._lock:
            self.tally.add(event)
            self.published += 1
            if event.event_type == "Send":
                self._recipients += len(event.record["mail"]["destination"])

    def _retry_later(self, events: list[PlannedEvent], error: str, now: float) -> None:
        self.failures += 1
        log_event(log, logging.WARNING, "demo_publish_failed", events=len(events), error=error[:200])
        retry_at = now + 1.0
        for event in events:
            heapq.heappush(self._queue, (retry_at, next(self._order), event))

    def _put_metrics(self, now: float) -> None:
        with self._lock:
            datums = reputation_datums(self.tally, self.history, self.sets, now)
        try:
            self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=datums)
        except (BotoCoreError, ClientError) as exc:
            log_event(log, logging.WARNING, "demo_put_metrics_failed", error=str(exc)[:200])
