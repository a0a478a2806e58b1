"""Collectors for what SES event ingestion produces: event counters, windows, SQS outcomes, lag."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon.batch import BATCH_BUCKETS, LAG_BUCKETS
from sesmon.config import MetricsConfig
from sesmon.counting import (
    DELAY_TYPES,
    FEEDBACK_TYPES,
    KNOWN_BOUNCES,
    NONE_LABEL,
    RECIPIENT_SCOPED,
    SQS_CONTROL,
    SQS_INVALID,
    CounterKey,
)
from sesmon.denominators import EVENTS
from sesmon.model import EventType
from sesmon.targets import TargetDirectory
from sesmon.windows import SENT, Totals


@dataclass
class TargetReadout:
    """A consistent copy of one target's ingestion state, taken under the ingestion lock."""

    target: str
    counters: dict[CounterKey, int]
    windows: dict[str, dict[str, Totals]]  # configuration_set → window label (or "volume") → totals
    last_events: dict[str, float]  # configuration_set → newest SES event time
    lag_counts: list[int]  # per LAG_BUCKETS bound (not cumulative), then the +Inf overflow
    lag_sum: float
    preinit_sets: tuple[str, ...] = ()  # configured literal names, emitted at 0 before any event
    window_labels: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    invalid_reasons: tuple[str, ...] = ()
    # Per BATCH_BUCKETS bound (not cumulative), then the overflow.
    batch_counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))
    batch_sum: int = 0


_COUNTER_FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "events": ("sesmon_events", "SES events counted, by type.", ("configuration_set", "event_type")),
    "recipients": (
        "sesmon_recipients",
        "Recipients of recipient-scoped SES events, by type.",
        ("configuration_set", "event_type"),
    ),
    "bounces": (
        "sesmon_bounces",
        "Bounced recipients by bounce type and subtype.",
        ("configuration_set", "bounce_type", "bounce_subtype"),
    ),
    "complaints": (
        "sesmon_complaints",
        "Complained recipients by feedback type and complaint subtype.",
        ("configuration_set", "feedback_type", "complaint_subtype"),
    ),
    "delays": (
        "sesmon_delivery_delays",
        "Delayed recipients by delay type.",
        ("configuration_set", "delay_type"),
    ),
    "providers": (
        "sesmon_recipients_by_provider",
        "Recipients by mailbox-provider group and event type.",
        ("configuration_set", "provider", "event_type"),
    ),
}

_BASE = ("target", "account_id", "region")
# The event-count families (counters, windows, last event) are the ones that grow with the sets, so
# they carry only the target; its account and region are on sesmon_target_info, one series per
# target, joined in queries with ``* on(job, instance, target) group_left(account_id, region)``.
# Written out on every series the two labels were about a third of a 1,000-set exposition.
_COUNTED = ("target",)

# The window families: name, help, and the rate of their ratio (None: the sent recipients).
_WINDOW_FAMILIES: tuple[tuple[str, str, str | None], ...] = (
    ("sesmon_window_bounce_ratio", "AWS-comparable bounce rate over the window.", "bounce_rate"),
    ("sesmon_window_complaint_ratio", "AWS-comparable complaint rate over the window.", "complaint_rate"),
    (
        "sesmon_window_sent_recipients",
        "Sent recipients over the window (the AWS-comparable rates' denominator; "
        "denominator says whether Send events or CloudWatch Send counted them).",
        None,
    ),
)


# Families left out unless one of their details is on: without one they would only repeat a
# sesmon_recipients_total series per set (event_type bounce, complaint or delivery_delay).
_NEEDS_DETAIL = frozenset({"providers", "bounces", "complaints", "delays"})


def _kept(family: str, details: MetricsConfig) -> tuple[int, ...] | None:
    """Which of ``family``'s own labels are exported (their positions), or None to leave it out."""
    labels = _COUNTER_FAMILIES[family][2]
    # Each family's detail labels and whether they are exported; its other labels always are.
    detail_labels = {
        "events": {"configuration_set": details.events_per_set},
        "providers": {"provider": details.providers},
        "bounces": {
            "bounce_type": details.exports_bounce_types,
            "bounce_subtype": details.bounce_subtypes,
        },
        "complaints": {
            "feedback_type": details.complaint_types,
            "complaint_subtype": details.complaint_subtypes,
        },
        "delays": {"delay_type": details.delay_types},
    }.get(family, {})
    if family in _NEEDS_DETAIL and not any(detail_labels.values()):
        return None
    return tuple(i for i, label in enumerate(labels) if detail_labels.get(label, True))


def _preinit(readout: TargetReadout) -> dict[str, list[tuple[str, ...]]]:
    """Label tuples (without the base labels) emitted at 0 until they are counted."""
    out: dict[str, list[tuple[str, ...]]] = {name: [] for name in _COUNTER_FAMILIES}
    for cs in readout.preinit_sets:
        out["events"] += [(cs, t.value) for t in EventType]
        out["recipients"] += [(cs, t.value) for t in RECIPIENT_SCOPED]
        out["bounces"] += [(cs, bt, bs) for bt, bs in KNOWN_BOUNCES]
        out["complaints"] += [(cs, ft, NONE_LABEL) for ft in FEEDBACK_TYPES]
        out["delays"] += [(cs, d) for d in DELAY_TYPES]
        out["providers"] += [(cs, p, t.value) for p in readout.providers for t in RECIPIENT_SCOPED]
    return out


class EventsCollector(Collector):
    """Emits the ingestion series of every target, e.g. (by default)::

    sesmon_target_info{target="prod",account_id="123456789012",region="us-east-1"} 1
    sesmon_events_total{target="prod",event_type="send"} 1200
    sesmon_recipients_total{target="prod",configuration_set="tx",event_type="bounce"} 12
    sesmon_window_bounce_ratio{target="prod",configuration_set="tx",window="1h",denominator="events"} 0.0075
    sesmon_window_complaint_ratio{...,configuration_set="tx",window="volume",denominator="events"} 0.0001
    sesmon_window_sent_recipients{...,configuration_set="tx",window="24h",denominator="events"} 1200
    sesmon_window_bounce_ratio{...,configuration_set="(none)",window="1h",denominator="cloudwatch"} 0.02
    sesmon_configuration_set_last_event_timestamp_seconds{target="prod",configuration_set="tx"} 1.76e9

    A window without a denominator (no Send events and no CloudWatch Send) has no ratio series at
    all: an unknown rate is absent, never 0. The ``metrics`` details add labels and families::

    sesmon_events_total{target="prod",configuration_set="tx",event_type="send"} 1200  (events_per_set)
    sesmon_bounces_total{...,bounce_type="Permanent"} 9                                (bounce_types)
    sesmon_bounces_total{...,bounce_type="Permanent",bounce_subtype="General"} 9       (bounce_subtypes)
    sesmon_complaints_total{...,feedback_type="abuse",complaint_subtype="none"} 1     (complaint_*)
    sesmon_delivery_delays_total{...,configuration_set="tx",delay_type="MailboxFull"} 3  (delay_types)
    sesmon_recipients_by_provider_total{...,provider="gmail",event_type="send"} 700    (providers)

    The per-target ingestion series keep the account and region written out::

    sesmon_sqs_messages_received_total{target="prod",account_id="123456789012",region="us-east-1"} 1300
    sesmon_sqs_messages_deleted_total{...} 1290
    sesmon_sqs_messages_duplicate_total{...} 88
    sesmon_sqs_messages_control_total{...} 1
    sesmon_sqs_messages_invalid_total{...,reason="not_json"} 2
    sesmon_event_lag_seconds_bucket{...,le="5.0"} 1100
    """

    def __init__(
        self,
        readouts: Callable[[], Sequence[TargetReadout]],
        targets: TargetDirectory,
        details: MetricsConfig | None = None,
    ) -> None:
        self._readouts = readouts
        self._targets = targets
        details = details or MetricsConfig()
        # Family → the positions of its labels that are exported; a detail turned off is summed away.
        self._kept = {name: kept for name in _COUNTER_FAMILIES if (kept := _kept(name, details)) is not None}

    def collect(self) -> Iterator[Metric]:
        readouts = self._readouts()
        yield self._target_info(readouts)
        yield from self._counters(readouts)
        yield from self._windows(readouts)
        yield from self._sqs(readouts)
        yield self._lag(readouts)
        yield self._batches(readouts)

    def _base(self, target: str) -> list[str]:
        ident = self._targets.get(target)
        return [target, ident.account_id, ident.region]

    def _target_info(self, readouts: Sequence[TargetReadout]) -> Metric:
        info = GaugeMetricFamily(
            "sesmon_target_info",
            "1 per target whose events are counted: its account and region, for the event-count "
            "families, which carry only the target.",
            labels=list(_BASE),
        )
        for readout in readouts:
            info.add_metric(self._base(readout.target), 1.0)
        return info

    def _counters(self, readouts: Sequence[TargetReadout]) -> Iterator[Metric]:
        kept = self._kept
        # Folded values first (label tuples → ints, small); then one family at a time, so a
        # rendering holds one family's samples at once, not every family's.
        folded = [([readout.target], self._folded(readout)) for readout in readouts]
        for key, (name, doc, labels) in _COUNTER_FAMILIES.items():
            if key not in kept:
                continue
            family = CounterMetricFamily(name, doc, labels=[*_COUNTED, *(labels[i] for i in kept[key])])
            for base, values in folded:
                for label_values, value in sorted(values[key].items()):
                    family.add_metric([*base, *label_values], value)
            yield family
            del family

    def _folded(self, readout: TargetReadout) -> dict[str, dict[tuple[str, ...], int]]:
        """Family → exported label values → value, the dropped details summed away."""
        kept = self._kept
        values: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in kept}
        for name, label_sets in _preinit(readout).items():
            if name in kept:
                for labels in label_sets:
                    values[name][tuple(labels[i] for i in kept[name])] = 0
        for key, value in readout.counters.items():
            bucket = values.get(key[0])
            if bucket is not None:
                folded = tuple(key[1 + i] for i in kept[key[0]])
                bucket[folded] = bucket.get(folded, 0) + value
        return values

    def _windows(self, readouts: Sequence[TargetReadout]) -> Iterator[Metric]:
        labels = [*_COUNTED, "configuration_set", "window", "denominator"]
        prepared: list[tuple[list[str], TargetReadout, dict[str, Mapping[str, Totals]]]] = []
        for readout in readouts:
            windows: dict[str, Mapping[str, Totals]] = {cs: {} for cs in readout.preinit_sets}
            windows.update(readout.windows)
            prepared.append(([readout.target], readout, windows))
        # One family at a time, as in _counters; ``rate`` None is the sent-recipients family.
        for name, doc, rate in _WINDOW_FAMILIES:
            family = GaugeMetricFamily(name, doc, labels=labels)
            for base, readout, windows in prepared:
                for cs in sorted(windows):
                    per_window = windows[cs]
                    for label in readout.window_labels:
                        totals = per_window.get(label)
                        if totals is None:
                            if rate is None:
                                family.add_metric([*base, cs, label, EVENTS], 0.0)
                            continue
                        values = [*base, cs, label, totals.denominator]
                        if rate is None:
                            family.add_metric(values, float(totals[SENT]))
                        elif (ratio := totals.rate(rate)[0]) is not None:
                            family.add_metric(values, ratio)
            yield family
            del family
        last = GaugeMetricFamily(
            "sesmon_configuration_set_last_event_timestamp_seconds",
            "SES timestamp of the newest event counted for the configuration set.",
            labels=[*_COUNTED, "configuration_set"],
        )
        for base, readout, _ in prepared:
            for cs, when in sorted(readout.last_events.items()):
                last.add_metric([*base, cs], when)
        yield last

    def _sqs(self, readouts: Sequence[TargetReadout]) -> Iterator[Metric]:
        simple = {
            outcome: CounterMetricFamily(f"sesmon_sqs_messages_{outcome}", doc, labels=list(_BASE))
            for outcome, doc in (
                ("received", "SQS messages received (each delivery, redeliveries included)."),
                (
                    "deleted",
                    "SQS messages deleted after their effect was stored; counted in the batch's own "
                    "commit, so exact across crashes.",
                ),
                ("duplicate", "SQS messages already counted (redeliveries, duplicate publications)."),
                ("control", "SQS messages that carry no SES event (SNS confirmations, SES setup)."),
            )
        }
        invalid = CounterMetricFamily(
            "sesmon_sqs_messages_invalid",
            "SQS messages whose body is not a countable SES event, by reason.",
            labels=[*_BASE, "reason"],
        )
        for readout in readouts:
            base = self._base(readout.target)
            totals = dict.fromkeys(simple, 0)
            reasons = dict.fromkeys(readout.invalid_reasons, 0)
            for key, value in readout.counters.items():
                if key[0] != "sqs":
                    continue
                if key[1] == SQS_CONTROL:
                    totals["control"] += value
                elif key[1] == SQS_INVALID:
                    reasons[key[2]] = reasons.get(key[2], 0) + value
                elif key[1] in totals:
                    totals[key[1]] += value
            for outcome, family in simple.items():
                family.add_metric(base, totals[outcome])
            for reason, value in sorted(reasons.items()):
                invalid.add_metric([*base, reason], value)
        yield from simple.values()
        yield invalid

    def _lag(self, readouts: Sequence[TargetReadout]) -> Metric:
        lag = HistogramMetricFamily(
            "sesmon_event_lag_seconds",
            "Processing time minus the SES event's own timestamp.",
            labels=list(_BASE),
        )
        for readout in readouts:
            lag.add_metric(
                self._base(readout.target), _cumulative(LAG_BUCKETS, readout.lag_counts), readout.lag_sum
            )
        return lag

    def _batches(self, readouts: Sequence[TargetReadout]) -> Metric:
        batches = HistogramMetricFamily(
            "sesmon_sqs_batch_messages",
            "SQS messages per stored batch (one commit) since this process started: up to 10 is one "
            "receive, more is a backlog gathered (sqs.commit_messages).",
            labels=list(_BASE),
        )
        for readout in readouts:
            buckets = _cumulative(BATCH_BUCKETS, readout.batch_counts)
            batches.add_metric(self._base(readout.target), buckets, float(readout.batch_sum))
        return batches


def _cumulative(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    """Per-bucket counts (then the overflow) as the cumulative ``le`` buckets of a histogram."""
    total = 0
    buckets: list[tuple[str, float]] = []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        total += count
        buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), total))
    return buckets
