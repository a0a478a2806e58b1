"""docs/ARCHITECTURE.md#counting-rules: recipient units, AWS-comparable rates, labels, set folding."""

from __future__ import annotations

import random
from itertools import chain
from pathlib import Path

import orjson
import pytest

from sesmon.batch import build_delta
from sesmon.config import DEFAULT_PROVIDERS, TargetConfig
from sesmon.counting import (
    ConfigurationSets,
    CounterKey,
    CountLayout,
    bounce_labels,
    complaint_labels,
    delay_label,
)
from sesmon.events import (
    BOUNCE_SUBTYPES,
    BOUNCE_TYPES,
    COMPLAINT_FEEDBACK_TYPES,
    COMPLAINT_SUBTYPES,
    DELAY_TYPES,
    invert_providers,
    parse_message,
)
from sesmon.model import EventType, SesEvent
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
    WindowSet,
)
from tests.sesgen import SesEventGenerator

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses-events"
PROVIDERS = invert_providers(DEFAULT_PROVIDERS)


def event(kind: EventType, recipients: tuple[str, ...], rate: int = 0, **fields: object) -> SesEvent:
    return SesEvent(
        event_type=kind,
        configuration_set="tx",
        timestamp=1_790_000_000.0,
        message_id="m",
        dedup_key="k",
        recipients=recipients,
        rate_recipients=rate,
        **fields,  # type: ignore[arg-type]
    )


def count(e: SesEvent, cs: str | None = None) -> tuple[dict[CounterKey, int], list[int]]:
    """``e`` through the daemon's own batch step (``batch.build_delta``) as a one-message batch: its
    counter increments (SQS bookkeeping left out) and its window bucket (filed under ``cs``, if given)."""
    windows = WindowSet({"1h": 3600.0}, 10_000, 14 * 86400.0, now=e.timestamp)
    built = build_delta(
        [e],
        [True],
        now=e.timestamp,
        received=1,
        deleted=0,
        sets=ConfigurationSets(target()),
        windows=windows,
        layout=CountLayout(PROVIDERS),
    )
    ((key, bucket),) = built.delta.buckets.items()
    assert cs is None or key[0] == cs
    return {k: v for k, v in built.delta.counters.items() if k[0] != "sqs"}, bucket


def test_send_counts_recipients_and_the_aws_denominator_without_simulator() -> None:
    counters, bucket = count(
        event(EventType.SEND, ("a@gmail.com", "b@outlook.com", "success@simulator.amazonses.com"), rate=2)
    )
    assert counters[("events", "tx", "send")] == 1
    assert counters[("recipients", "tx", "send")] == 3
    assert counters[("providers", "tx", "gmail", "send")] == 1
    assert counters[("providers", "tx", "microsoft", "send")] == 1
    assert counters[("providers", "tx", "other", "send")] == 1
    assert (bucket[EVENTS], bucket[SENT], bucket[SENT_ALL]) == (1, 2, 3)


def test_permanent_bounce_counts_toward_the_rate_transient_does_not() -> None:
    counters, bucket = count(
        event(
            EventType.BOUNCE,
            ("a@yahoo.com", "b@icloud.com"),
            rate=2,
            bounce_type="Permanent",
            bounce_subtype="General",
        )
    )
    assert counters[("bounces", "tx", "Permanent", "General")] == 2
    assert counters[("recipients", "tx", "bounce")] == 2
    assert (bucket[BOUNCED], bucket[BOUNCED_RATE], bucket[TRANSIENT]) == (2, 2, 0)
    _, soft = count(
        event(EventType.BOUNCE, ("a@x.org",), bounce_type="Transient", bounce_subtype="MailboxFull")
    )
    assert (soft[BOUNCED], soft[BOUNCED_RATE], soft[TRANSIENT]) == (1, 0, 1)


def test_complaints_delays_and_other_recipient_types() -> None:
    counters, bucket = count(
        event(EventType.COMPLAINT, ("a@x.org",), rate=1, complaint_feedback_type="abuse")
    )
    assert counters[("complaints", "tx", "abuse", "none")] == 1
    assert (bucket[COMPLAINED], bucket[COMPLAINED_RATE]) == (1, 1)
    counters, bucket = count(
        event(EventType.DELIVERY_DELAY, ("a@x.org", "b@x.org"), delay_type="MailboxFull")
    )
    assert counters[("delays", "tx", "MailboxFull")] == 2
    assert bucket[DELAYED] == 2
    assert count(event(EventType.REJECT, ("a@x.org",)))[1][REJECTED] == 1
    assert count(event(EventType.RENDERING_FAILURE, ("a@x.org",)))[1][RENDERING_FAILED] == 1
    assert count(event(EventType.DELIVERY, ("a@x.org",)))[1][DELIVERED] == 1


@pytest.mark.parametrize("kind", [EventType.OPEN, EventType.CLICK, EventType.SUBSCRIPTION])
def test_engagement_events_count_once_and_no_recipients(kind: EventType) -> None:
    counters, bucket = count(event(kind, ("a@gmail.com", "b@gmail.com")))
    assert counters == {("events", "tx", kind.value): 1}
    assert bucket[EVENTS] == 1
    assert sum(bucket) == 1


def test_labels_are_bounded_to_ses_vocabulary() -> None:
    odd = event(
        EventType.BOUNCE,
        ("a@x.org",),
        bounce_type="Permanent",
        bounce_subtype="user 123 said no",
        complaint_feedback_type="free text",
        complaint_subtype="weird",
        delay_type="Martian",
    )
    assert bounce_labels(odd) == ("Permanent", "Other")
    assert complaint_labels(odd) == ("other", "Other")
    assert delay_label(odd) == "Other"
    plain = event(EventType.COMPLAINT, ("a@x.org",))
    assert complaint_labels(plain) == ("none", "none")
    suppressed = event(EventType.COMPLAINT, ("a@x.org",), complaint_subtype="OnAccountSuppressionList")
    assert complaint_labels(suppressed) == ("none", "OnAccountSuppressionList")


def test_every_label_value_from_hostile_events_is_bounded_in_length_and_vocabulary() -> None:
    rng = random.Random(12)
    hostile = ["x" * 60_000, "evil\x1fname", 'q"uote', "new\nline", "caf\u00e9", "", "Permanent", "General"]
    vocabulary = {
        "bounces": (
            set(BOUNCE_TYPES) | {"Other", "none"},
            set(chain(*BOUNCE_SUBTYPES.values())) | {"Other", "none"},
        ),
        "complaints": (set(COMPLAINT_FEEDBACK_TYPES) | {"none"}, set(COMPLAINT_SUBTYPES) | {"Other", "none"}),
        "delays": (set(DELAY_TYPES) | {"Other", "none"},),
    }
    sets = ConfigurationSets(target(max_configuration_sets=5))
    providers = set(DEFAULT_PROVIDERS) | {"other"}
    events: list[SesEvent] = []
    for i in range(600):
        record = orjson.loads(
            orjson.loads((FIXTURES / "ep-bounce-permanent-general.sns.json").read_bytes())["Message"]
        )
        kind = rng.choice(["Bounce", "Complaint", "DeliveryDelay"])
        record["eventType"] = kind
        record["complaint"] = {
            "complainedRecipients": [{"emailAddress": f"u{i}@{rng.choice(hostile)}.example"}]
        }
        record["deliveryDelay"] = {"delayedRecipients": [{"emailAddress": "d@gmail.com"}]}
        record["bounce"].update(bounceType=rng.choice(hostile), bounceSubType=rng.choice(hostile))
        record["complaint"].update(
            complaintFeedbackType=rng.choice(hostile), complaintSubType=rng.choice(hostile)
        )
        record["deliveryDelay"]["delayType"] = rng.choice(hostile)
        record["mail"]["tags"]["ses:configuration-set"] = [rng.choice([*hostile, f"set-{i % 9}"])]
        parsed = parse_message(orjson.dumps(record))
        if not isinstance(parsed, SesEvent):
            assert parsed.reason == "bad_configuration_set"
            continue
        events.append(parsed)
    # One batch through what ingestion counts with; it admits at most max_configuration_sets names.
    built = build_delta(
        events,
        [True] * len(events),
        now=max(e.timestamp for e in events),
        received=len(events),
        deleted=0,
        sets=sets,
        windows=WindowSet({"1h": 3600.0}, 10_000, 14 * 86400.0, now=0.0),
        layout=CountLayout(PROVIDERS),
    )
    counters = {k: v for k, v in built.delta.counters.items() if k[0] != "sqs"}
    assert counters
    seen_sets = set()
    for family, cs, *labels in counters:
        seen_sets.add(cs)
        assert len(cs) <= 64
        if family in vocabulary:
            for value, allowed in zip(labels, vocabulary[family], strict=True):
                assert value in allowed, (family, value)
        elif family == "providers":
            assert labels[0] in providers
    assert len(seen_sets) <= 5 + 2  # the admitted sets, (none) and (other)


def target(**fields: object) -> TargetConfig:
    return TargetConfig.model_validate({"name": "prod", "region": "us-east-1", **fields})


def test_configuration_set_folding() -> None:
    sets = ConfigurationSets(target(configuration_sets=["tx", "mkt-*"], max_configuration_sets=3))
    pending: set[str] = set()
    assert sets.resolve(None, pending) == "(none)"
    assert sets.resolve("", pending) == "(none)"
    assert sets.resolve("tx", pending) == "tx"
    assert sets.resolve("unlisted", pending) == "(other)"
    assert sets.resolve("mkt-a", pending) == "mkt-a"
    assert sets.resolve("mkt-b", pending) == "mkt-b"
    assert sets.resolve("mkt-c", pending) == "mkt-c"
    # The limit counts admitted glob matches; literal names never fold.
    assert sets.resolve("mkt-d", pending) == "(other)"
    assert sets.resolve("mkt-a", pending) == "mkt-a"
    assert pending == {"mkt-a", "mkt-b", "mkt-c"}
    sets.commit(pending)
    assert sets.resolve("mkt-e", set()) == "(other)"
    assert sets.resolve("tx", set()) == "tx"


def test_admissions_survive_a_restart() -> None:
    config = target(configuration_sets=["*"], max_configuration_sets=1)
    restored = ConfigurationSets(config, admitted=["second", "(none)", "(other)"])
    assert restored.resolve("first", set()) == "(other)"
    assert restored.resolve("second", set()) == "second"
    roomy = ConfigurationSets(target(max_configuration_sets=2), admitted=["a", "(none)", "(other)"])
    assert roomy.resolve("b", set()) == "b"  # (none) and (other) take no slot


FIXTURE_FILES = sorted(p for p in FIXTURES.iterdir() if p.name != "expected.json")
EXPECTED = {f["file"]: f for f in orjson.loads((FIXTURES / "expected.json").read_bytes())["fixtures"]}


PROCESSED = [p for p in FIXTURE_FILES if EXPECTED[p.name].get("expected_action") == "process"]


@pytest.mark.parametrize("path", PROCESSED, ids=lambda p: p.name)
def test_shared_fixtures_count_as_expected(path: Path) -> None:
    expected = EXPECTED[path.name]
    parsed = parse_message(path.read_bytes())
    assert isinstance(parsed, SesEvent)
    cs = ConfigurationSets(target()).resolve(parsed.configuration_set, set())
    # Tags first, then the X-SES-CONFIGURATION-SET header, else (none) (docs/ARCHITECTURE.md#counting-rules).
    assert cs == (expected["config_set"] or expected.get("config_set_from_header_fallback") or "(none)")
    counters, bucket = count(parsed, cs)
    label = parsed.event_type.value
    assert counters[("events", cs, label)] == 1
    if parsed.event_type.recipient_scoped:
        assert counters[("recipients", cs, label)] == expected["recipient_count"]
    if expected.get("bounce_type"):
        key = ("bounces", cs, expected["bounce_type"], expected["bounce_subtype"])
        assert counters[key] == expected["recipient_count"]
        assert bucket[BOUNCED_RATE] == (
            expected["recipient_count"] if expected["counts_toward_aws_rate"] else 0
        )
    if parsed.event_type is EventType.COMPLAINT:
        assert bucket[COMPLAINED_RATE] == (1 if expected["counts_toward_aws_rate"] else 0)
    if expected.get("delay_type"):
        assert counters[("delays", cs, expected["delay_type"])] == expected["recipient_count"]


def test_simulator_recipients_are_out_of_the_aws_rates() -> None:
    gen = SesEventGenerator(seed=9, simulator_share=0.5)
    seen_simulator = False
    for _ in range(400):
        generated = gen.event()
        parsed = parse_message(generated.body)
        assert isinstance(parsed, SesEvent)
        _, bucket = count(parsed)
        simulator = sum(1 for a in generated.recipients if a.endswith("@simulator.amazonses.com"))
        seen_simulator |= simulator > 0
        if generated.event_type == "send":
            assert bucket[SENT] == generated.rate_recipients == len(generated.recipients) - simulator
            assert bucket[SENT_ALL] == len(generated.recipients)
        elif generated.event_type == "bounce":
            assert bucket[BOUNCED_RATE] == generated.rate_recipients
        elif generated.event_type == "complaint":
            assert bucket[COMPLAINED_RATE] == generated.rate_recipients
    assert seen_simulator
