"""SesEvent → counter increments and window-bucket counts, per docs/ARCHITECTURE.md#counting-rules (pure).

Counter keys are tuples whose first item names the family (the metric) and whose other items are its
label values in a fixed order; every label value comes from a bounded vocabulary:

=============  ==========================================================  =======================
family         key                                                         metric
=============  ==========================================================  =======================
``events``     (configuration_set, event_type)                             sesmon_events_total
``recipients`` (configuration_set, event_type)                             sesmon_recipients_total
``bounces``    (configuration_set, bounce_type, bounce_subtype)            sesmon_bounces_total
``complaints`` (configuration_set, feedback_type, complaint_subtype)       sesmon_complaints_total
``delays``     (configuration_set, delay_type)                             sesmon_delivery_delays_total
``providers``  (configuration_set, provider, event_type)                   sesmon_recipients_by_provider_total
``sqs``        (outcome,) or (outcome, reason)                             sesmon_sqs_messages_*_total
=============  ==========================================================  =======================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Final

from sesmon import globs
from sesmon.config import TargetConfig
from sesmon.events import vocabulary
from sesmon.events.vocabulary import BOUNCE_SUBTYPES, BOUNCE_TYPES, COMPLAINT_SUBTYPES
from sesmon.model import (
    NO_CONFIGURATION_SET,
    OTHER_CONFIGURATION_SET,
    PROVIDERS_OTHER,
    EventType,
    SesEvent,
)
from sesmon.windows import (
    BOUNCED,
    BOUNCED_RATE,
    COMPLAINED,
    COMPLAINED_RATE,
    DELAYED,
    DELIVERED,
    EVENTS,
    REJECTED,
    RENDERING_FAILED,
    SENT,
    SENT_ALL,
    TRANSIENT,
)

CounterKey = tuple[str, ...]

# SES's documented vocabularies (sesmon.events.vocabulary). Anything else folds into OTHER_LABEL /
# NONE_LABEL so label cardinality stays bounded even if a payload carries free text.
FEEDBACK_TYPES: Final = vocabulary.COMPLAINT_FEEDBACK_TYPES
DELAY_TYPES: Final = vocabulary.DELAY_TYPES
OTHER_LABEL: Final = "Other"  # a value outside SES's documented vocabulary
NONE_LABEL: Final = "none"  # the field is absent (e.g. a complaint without a feedback report)

# Pairs worth pre-initialising at zero for configured sets (the ones SES documents as occurring).
KNOWN_BOUNCES: Final = tuple((kind, sub) for kind in BOUNCE_TYPES for sub in BOUNCE_SUBTYPES[kind])

SQS_RECEIVED: Final = ("sqs", "received")
SQS_COUNTED: Final = ("sqs", "counted")
SQS_DELETED: Final = ("sqs", "deleted")
SQS_DUPLICATE: Final = ("sqs", "duplicate")
SQS_CONTROL: Final = "control"
SQS_INVALID: Final = "invalid"

_BOUNCE_TYPES: Final = frozenset(BOUNCE_TYPES)
_BOUNCE_SUBTYPES: Final = frozenset(chain.from_iterable(BOUNCE_SUBTYPES.values()))
_FEEDBACK_TYPES: Final = frozenset(FEEDBACK_TYPES)
_COMPLAINT_SUBTYPES: Final = frozenset(COMPLAINT_SUBTYPES)
_DELAY_TYPES: Final = frozenset(DELAY_TYPES)
_ENGAGEMENT: Final = frozenset(t for t in EventType if not t.recipient_scoped)


def _bounded(value: str | None, allowed: frozenset[str], other: str = OTHER_LABEL) -> str:
    if value is None or value == "":
        return NONE_LABEL
    return value if value in allowed else other


def bounce_labels(event: SesEvent) -> tuple[str, str]:
    """Bounded ``(bounce_type, bounce_subtype)`` label values."""
    return _bounded(event.bounce_type, _BOUNCE_TYPES), _bounded(event.bounce_subtype, _BOUNCE_SUBTYPES)


def complaint_labels(event: SesEvent) -> tuple[str, str]:
    """Bounded ``(feedback_type, complaint_subtype)`` label values."""
    # SES's own feedback vocabulary has a lowercase "other", so reuse it for unknown values.
    return (
        _bounded(event.complaint_feedback_type, _FEEDBACK_TYPES, "other"),
        _bounded(event.complaint_subtype, _COMPLAINT_SUBTYPES),
    )


def delay_label(event: SesEvent) -> str:
    """Bounded ``delay_type`` label value."""
    return _bounded(event.delay_type, _DELAY_TYPES)


class ConfigurationSets:
    """Resolves raw configuration-set names to label values for one target.

    ``None`` → ``(none)``; a name matching none of the target's ``configuration_sets`` globs, or a new
    name once ``max_configuration_sets`` distinct names have been admitted, → ``(other)``. Names listed
    literally in the config are always admitted. Admissions are persisted by the caller so the folding
    is the same after a restart. Not thread-safe: the caller serialises.
    """

    def __init__(self, target: TargetConfig, admitted: Iterable[str] = ()) -> None:
        self.patterns = target.configuration_sets
        self.limit = target.max_configuration_sets
        self.literals = frozenset(globs.literals(self.patterns))
        # The store also remembers (none) and (other) (for their last-event time): not admissions.
        folded = {NO_CONFIGURATION_SET, OTHER_CONFIGURATION_SET}
        self.admitted: set[str] = (set(admitted) - folded) | set(self.literals)
        self._memo: dict[str, bool] = {}

    def _allowed(self, name: str) -> bool:
        found = self._memo.get(name)
        if found is None:
            found = globs.matches_any(name, self.patterns)
            if len(self._memo) < 10_000:  # bounded: arbitrary names must not grow memory
                self._memo[name] = found
        return found

    def resolve(self, raw: str | None, pending: set[str]) -> str:
        """Label value for ``raw``; a newly admitted name is added to ``pending`` (commit it with
        :meth:`commit` once it is durably stored)."""
        if raw is None or raw == "":
            return NO_CONFIGURATION_SET
        if raw in self.admitted or raw in pending:
            return raw
        if not self._allowed(raw):
            return OTHER_CONFIGURATION_SET
        if len(self.admitted - self.literals) + len(pending) >= self.limit:
            return OTHER_CONFIGURATION_SET
        pending.add(raw)
        return raw

    def commit(self, names: Iterable[str]) -> None:
        """Make admissions from :meth:`resolve` permanent."""
        self.admitted.update(names)


# The members the hot path compares with, as module constants: a global read per event,
# where ``EventType.SEND`` would be a class attribute lookup.
_SEND: Final = EventType.SEND
_DELIVERY: Final = EventType.DELIVERY
_BOUNCE: Final = EventType.BOUNCE
_COMPLAINT: Final = EventType.COMPLAINT
_DELIVERY_DELAY: Final = EventType.DELIVERY_DELAY
_REJECT: Final = EventType.REJECT
_RENDERING_FAILURE: Final = EventType.RENDERING_FAILURE

# EventType.value is a Python-level property; this lookup is what the hot path uses instead.
_LABELS: Final = {t: t.value for t in EventType}


class CountLayout:
    """Where each provider group's count lives in a :class:`BatchCounts` cell vector (built once per
    target from the domain → provider map)."""

    __slots__ = ("domain_slot", "other_slot", "providers", "width")

    def __init__(self, domain_to_provider: Mapping[str, str]) -> None:
        # Cells: [events, recipients, one per provider group (``other`` included)].
        self.providers = tuple(dict.fromkeys((*domain_to_provider.values(), PROVIDERS_OTHER)))
        slot = {name: 2 + i for i, name in enumerate(self.providers)}
        self.domain_slot = {domain: slot[name] for domain, name in domain_to_provider.items()}
        self.other_slot = slot[PROVIDERS_OTHER]
        self.width = 2 + len(self.providers)


class BatchCounts:
    """Counter increments of many events, turned into counter keys once (:meth:`drain`).

    Per event only integer cells of its (configuration set, event type) are added to: building and
    hashing label tuples per event would cost more than the rest of counting it.
    """

    __slots__ = ("_cells", "_details", "_layout")

    def __init__(self, layout: CountLayout) -> None:
        self._layout = layout
        self._cells: dict[str, dict[EventType, list[int]]] = {}
        self._details: dict[CounterKey, int] = {}  # bounces, complaints, delays (rarer types)

    def cells_of(self, configuration_set: str) -> dict[EventType, list[int]]:
        """The cells of ``configuration_set``, by event type, for :meth:`add_to` (a caller counting
        many events of one set looks them up once)."""
        by_type = self._cells.get(configuration_set)
        if by_type is None:
            by_type = self._cells[configuration_set] = {}
        return by_type

    def add_to(
        self, by_type: dict[EventType, list[int]], event: SesEvent, configuration_set: str, bucket: list[int]
    ) -> None:
        """:meth:`add`, given ``by_type`` = ``cells_of(configuration_set)``."""
        cs = configuration_set
        kind = event.event_type
        cells = by_type.get(kind)
        if cells is None:
            cells = by_type[kind] = [0] * self._layout.width
        cells[0] += 1
        bucket[EVENTS] += 1
        if kind in _ENGAGEMENT:
            return
        recipients = event.recipients
        n = len(recipients)
        cells[1] += n
        slots, other = self._layout.domain_slot, self._layout.other_slot
        for address in recipients:
            cells[slots.get(address[address.rfind("@") + 1 :], other)] += 1
        if kind is _SEND:
            bucket[SENT] += event.rate_recipients
            bucket[SENT_ALL] += n
        elif kind is _DELIVERY:
            bucket[DELIVERED] += n
        elif kind is _BOUNCE:
            bounce_type, subtype = bounce_labels(event)
            self._detail(("bounces", cs, bounce_type, subtype), n)
            bucket[BOUNCED] += n
            bucket[BOUNCED_RATE] += event.rate_recipients
            if bounce_type == "Transient":
                bucket[TRANSIENT] += n
        elif kind is _COMPLAINT:
            feedback, subtype = complaint_labels(event)
            self._detail(("complaints", cs, feedback, subtype), n)
            bucket[COMPLAINED] += n
            bucket[COMPLAINED_RATE] += event.rate_recipients
        elif kind is _DELIVERY_DELAY:
            self._detail(("delays", cs, delay_label(event)), n)
            bucket[DELAYED] += n
        elif kind is _REJECT:
            bucket[REJECTED] += n
        elif kind is _RENDERING_FAILURE:
            bucket[RENDERING_FAILED] += n

    def _detail(self, key: CounterKey, n: int) -> None:
        self._details[key] = self._details.get(key, 0) + n

    def drain(self, counters: dict[CounterKey, int]) -> None:
        """Add everything counted so far to ``counters`` (keys as in the module docstring) and reset."""
        providers = self._layout.providers
        for cs, by_type in self._cells.items():
            for kind, cells in by_type.items():
                label = _LABELS[kind]
                key: CounterKey = ("events", cs, label)
                counters[key] = counters.get(key, 0) + cells[0]
                if kind in _ENGAGEMENT:
                    continue
                key = ("recipients", cs, label)
                counters[key] = counters.get(key, 0) + cells[1]
                for provider, value in zip(providers, cells[2:], strict=True):
                    if value:
                        key = ("providers", cs, provider, label)
                        counters[key] = counters.get(key, 0) + value
        for key, value in self._details.items():
            counters[key] = counters.get(key, 0) + value
        self._cells = {}
        self._details = {}


def providers_with_other(providers: Iterable[str]) -> tuple[str, ...]:
    """Provider label values: the configured groups then ``other``."""
    return (*providers, PROVIDERS_OTHER)


RECIPIENT_SCOPED: Final = tuple(t for t in EventType if t.recipient_scoped)
