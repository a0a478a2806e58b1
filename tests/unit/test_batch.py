"""The pure batch step: dedup rows, the lag histogram and newest times, against direct computations."""

from __future__ import annotations

import bisect
import random

import pytest

from sesmon.batch import LAG_BUCKETS, Message, build_delta, dedup_digest, parse_batch
from sesmon.config import Config
from sesmon.counting import ConfigurationSets, CountLayout
from sesmon.events import invert_providers
from sesmon.model import SesEvent
from sesmon.windows import WindowSet
from tests.sesgen import SesEventGenerator

NOW = 1_790_000_000.0


def _config() -> Config:
    return Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
                }
            ]
        }
    )


def test_rows_are_the_documented_digests_so_state_files_keep_matching() -> None:
    gen = SesEventGenerator(seed=3, start=NOW - 600, spread=600)
    messages = [Message(f"sqs-{i}", gen.event().body) for i in range(50)]
    messages.append(Message("sqs-bad", "not json", sent_timestamp=NOW - 30))
    parsed, rows = parse_batch(messages, "prod", NOW)
    for message, item, (prefix, digest) in zip(messages, parsed, rows, strict=True):
        if isinstance(item, SesEvent):
            assert digest == dedup_digest("prod", "e:" + item.dedup_key)
            assert prefix == int(item.timestamp // 60)
        else:
            assert digest == dedup_digest("prod", "m:" + message.message_id)
            assert prefix == int((NOW - 30) // 60)
    assert parse_batch(messages[:1], "other", NOW)[1][0][1] != rows[0][1]  # each target its own keys


def test_lag_histogram_and_newest_times_equal_a_per_event_computation() -> None:
    config = _config()
    target = config.targets[0]
    rng = random.Random(7)
    # Event times around every histogram bound (seconds to a day of lag) and a few in the future.
    offsets = [b + rng.uniform(-90, 90) for b in LAG_BUCKETS for _ in range(40)]
    offsets += [rng.uniform(-30, 0) for _ in range(20)]
    names = ("a", "b", "c")
    events: list[SesEvent] = []
    for offset in offsets:
        gen = SesEventGenerator(
            seed=rng.randrange(10**6), configuration_sets=names, start=round(NOW - offset, 3), spread=0.001
        )
        item = parse_batch([Message("m", gen.event("Delivery").body)], "prod", NOW)[0][0]
        assert isinstance(item, SesEvent)
        events.append(item)
    built = build_delta(
        events,
        [True] * len(events),
        now=NOW,
        received=len(events),
        deleted=0,
        sets=ConfigurationSets(target),
        windows=WindowSet(config.window_seconds, 10_000, 14 * 86400.0, now=NOW),
        layout=CountLayout(invert_providers(config.providers)),
    )
    expected = [0] * (len(LAG_BUCKETS) + 1)
    for e in events:
        expected[bisect.bisect_left(LAG_BUCKETS, NOW - e.timestamp)] += 1
    assert built.lag_counts == expected
    assert built.lag_sum == pytest.approx(sum(max(NOW - e.timestamp, 0.0) for e in events), rel=1e-12)
    newest: dict[str, float] = {}
    for e in events:
        assert e.configuration_set is not None
        newest[e.configuration_set] = max(newest.get(e.configuration_set, 0.0), e.timestamp)
    assert built.delta.last_events == newest
