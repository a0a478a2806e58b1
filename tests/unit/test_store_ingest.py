"""Ingestion state in the store: dedup with TTL, batch atomicity, restore after restart, compaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sesmon.batch import IngestDelta, Message, dedup_digest
from sesmon.config import Config
from sesmon.ingest import TargetIngest
from sesmon.model import Outcome
from sesmon.state.sqlite import SqliteState
from sesmon.windows import HOUR, MINUTE, SENT, WIDTH
from tests.sesgen import SesEventGenerator

NOW = 1_790_000_000.0


def config(state: Path, **extra: object) -> Config:
    return Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"},
                    "configuration_sets": ["transactional", "marketing"],
                }
            ],
            "state": {"path": str(state), "dedup_ttl": "1h"},
            **extra,
        }
    )


def keyed(target: str, keys: list[tuple[int, str]]) -> list[tuple[int, bytes]]:
    """Dedup rows of ``target`` for the given (prefix, key) pairs, as parse_batch makes them."""
    return [(prefix, dedup_digest(target, key)) for prefix, key in keys]


def delta(n: int = 1) -> IngestDelta:
    return IngestDelta(counters={("events", "tx", "send"): n}, buckets={("tx", 60, 600): [n] * WIDTH})


def test_dedup_within_and_across_batches(tmp_path: Path) -> None:
    store = SqliteState(tmp_path / "s.db")
    seen: list[list[bool]] = []

    def build(fresh: list[bool]) -> IngestDelta:
        seen.append(fresh)
        return delta(sum(fresh))

    assert store.ingest_apply_batch(
        "prod", keyed("prod", [(1, "a"), (1, "b"), (1, "a")]), build, NOW + 60
    ) == [
        True,
        True,
        False,
    ]
    assert store.ingest_apply_batch("prod", keyed("prod", [(1, "b"), (1, "c")]), build, NOW + 60) == [
        False,
        True,
    ]
    # Another target's keys are its own.
    assert store.ingest_apply_batch("other", keyed("other", [(1, "a")]), build, NOW + 60) == [True]
    assert seen == [[True, True, False], [False, True], [True]]
    assert store.ingest_load("prod").counters == {("events", "tx", "send"): 3}
    assert store.ingest_dedup_count() == 4


def test_dedup_keys_expire_after_their_ttl(tmp_path: Path) -> None:
    store = SqliteState(tmp_path / "s.db")
    store.ingest_apply_batch("prod", keyed("prod", [(1, "old")]), lambda f: delta(), NOW + 10)
    store.ingest_apply_batch("prod", keyed("prod", [(1, "new")]), lambda f: delta(), NOW + 1000)
    assert store.ingest_prune_dedup(NOW + 100, chunk=1) == 1
    assert store.ingest_dedup_count() == 1
    # Once pruned, the old key would count again; the young one is still a duplicate.
    assert store.ingest_apply_batch(
        "prod", keyed("prod", [(1, "old"), (1, "new")]), lambda f: delta(), NOW + 2000
    ) == [
        True,
        False,
    ]


def test_pruning_by_prefix_keeps_every_key_until_it_expires(tmp_path: Path) -> None:
    store = SqliteState(tmp_path / "s.db")
    minute = int(NOW // MINUTE)
    ttl = 4 * 86400.0
    keys = {
        "old-expired": (minute - 6 * 1440, NOW - 1),  # event 6 days old, processed 4 days ago
        "old-backlog": (minute - 6 * 1440, NOW + ttl),  # event 6 days old, processed just now
        "recent": (minute - 10, NOW - 1),  # expired, but its event is younger than the TTL
        "future": (minute + 10 * 1440, NOW - 1),  # a bogus timestamp far ahead
        "control": (0, NOW - 1),
    }
    for key, (prefix, expires) in keys.items():
        store.ingest_apply_batch("prod", keyed("prod", [(prefix, key)]), lambda f: delta(), expires)
    assert store.ingest_prune_dedup(NOW, chunk=2, young=ttl) == 3
    again = [(prefix, key) for key, (prefix, _) in keys.items()]
    # Only the keys of old-expired, future and control were dropped: those messages count again.
    assert store.ingest_apply_batch("prod", keyed("prod", again), lambda f: delta(), NOW + ttl) == [
        True,
        False,
        False,
        True,
        True,
    ]
    # The recent key goes once its prefix is older than the TTL (it expired long before); the keys
    # stored again above expire at NOW + ttl, so they stay.
    assert store.ingest_prune_dedup(NOW + ttl - 5 * MINUTE, young=ttl) == 1
    assert store.ingest_dedup_count() == 4


def test_a_failing_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    store = SqliteState(tmp_path / "s.db")

    def explode(fresh: list[bool]) -> IngestDelta:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        store.ingest_apply_batch("prod", keyed("prod", [(1, "a"), (1, "b")]), explode, NOW + 60)
    assert store.ingest_dedup_count() == 0
    assert store.ingest_load("prod").counters == {}
    # The same messages, delivered again, are new.
    assert store.ingest_apply_batch(
        "prod", keyed("prod", [(1, "a"), (1, "b")]), lambda f: delta(), NOW + 60
    ) == [True, True]


def test_compaction_merges_minutes_into_hours_and_drops_old_hours(tmp_path: Path) -> None:
    store = SqliteState(tmp_path / "s.db")
    start = int(NOW // HOUR) * HOUR
    buckets = {("tx", MINUTE, start + i * MINUTE): [1] * WIDTH for i in range(3)}
    buckets[("tx", HOUR, start - 10 * HOUR)] = [5] * WIDTH
    store.ingest_add("prod", IngestDelta(buckets=buckets))
    store.ingest_compact("prod", minute_before=start + 2 * MINUTE, drop_before=start - 5 * HOUR)
    rows = {(w, s): c[0] for _, w, s, c in store.ingest_load("prod").buckets}
    assert rows == {(HOUR, start): 2, (MINUTE, start + 2 * MINUTE): 1}


def test_counters_are_exact_before_during_and_after_folding_their_log(tmp_path: Path) -> None:
    # Counter increments are logged one row per write and folded into totals every few hundred
    # writes (and on compaction): a reader sees the same sums at every stage, also after reopening.
    store = SqliteState(tmp_path / "s.db")
    expected: dict[tuple[str, ...], int] = {}
    for i in range(450):
        increments = {("events", f"cs{i % 7}", "send"): i + 1, ("sqs", "received"): 1}
        store.ingest_add("prod" if i % 3 else "other", IngestDelta(counters=increments))
        if i % 3:
            for key, value in increments.items():
                expected[key] = expected.get(key, 0) + value
        if i in (0, 198, 199, 200, 449):
            assert store.ingest_load("prod").counters == expected
    store.close()
    reopened = SqliteState(tmp_path / "s.db")
    assert reopened.ingest_load("prod").counters == expected
    reopened.ingest_compact("prod", minute_before=0, drop_before=0)
    assert reopened.ingest_load("prod").counters == expected
    assert reopened.ingest_load("other").counters[("sqs", "received")] == 150


def _process(
    ingest: TargetIngest, bodies: list[str], now: float, first_id: int = 0, slot: int | None = None
) -> list[Outcome]:
    """Process ``bodies`` as one batch; with ``slot``, as a receiver that then deletes them."""
    messages = [Message(f"sqs-{first_id + i}", body) for i, body in enumerate(bodies)]
    if slot is None:
        return [p.outcome for p in ingest.process(messages, now)]
    return [p.outcome for p in ingest.process(messages, now, keep_invalid=True, slot=slot)]


def test_restart_restores_counters_windows_and_admissions(tmp_path: Path) -> None:
    cfg = config(tmp_path / "s.db")
    gen = SesEventGenerator(seed=4, configuration_sets=("transactional", "marketing"), start=NOW - 1800)
    bodies = [gen.event("Send").body for _ in range(30)] + [gen.event().body for _ in range(70)]
    store = SqliteState(cfg.state.path)
    first = TargetIngest(cfg.targets[0], cfg, store)
    first.restore(NOW)
    assert set(_process(first, bodies, NOW, slot=0)) == {Outcome.COUNTED}
    first.flush()
    counters, totals, last = first.counters(), first.totals(NOW), first.last_events()
    store.close()

    store = SqliteState(cfg.state.path)
    second = TargetIngest(cfg.targets[0], cfg, store)
    second.restore(NOW)
    assert second.counters() == counters
    assert second.counters()[("sqs", "deleted")] == 100
    assert second.totals(NOW) == totals
    assert totals["transactional"]["1h"][SENT] > 0
    assert second.last_events() == last
    # Everything already counted is a duplicate now, across the restart.
    assert set(_process(second, bodies, NOW, first_id=1000)) == {Outcome.DUPLICATE}
    assert second.counters()[("sqs", "duplicate")] == 100
    store.close()


def test_invalid_bodies_are_counted_once_per_sqs_message(tmp_path: Path) -> None:
    cfg = config(tmp_path / "s.db")
    store = SqliteState(cfg.state.path)
    ingest = TargetIngest(cfg.targets[0], cfg, store)
    ingest.restore(NOW)
    message = Message("sqs-1", "not json", sent_timestamp=NOW - 5)
    first = ingest.process([message], NOW)
    again = ingest.process([message], NOW + 60)  # the queue redelivers the kept message
    assert (first[0].outcome, first[0].reason, first[0].invalid) == (Outcome.INVALID, "not_json", True)
    assert (again[0].outcome, again[0].invalid) == (Outcome.DUPLICATE, True)
    counters = ingest.counters()
    assert counters[("sqs", "invalid", "not_json")] == 1
    assert counters[("sqs", "received")] == 2
    assert counters[("sqs", "duplicate")] == 1
    # A different message with the same body is a different invalid message.
    assert ingest.process([Message("sqs-2", "not json")], NOW)[0].outcome is Outcome.INVALID
    store.close()


def test_buckets_and_sets_are_exact_before_during_and_after_folding_their_log(tmp_path: Path) -> None:
    # Bucket counts and set admissions go through the same log as counters.
    store = SqliteState(tmp_path / "s.db")
    buckets: dict[tuple[str, int, int], list[int]] = {}
    last: dict[str, float | None] = {}
    for i in range(450):
        cs = f"cs{i % 7}"
        key = (cs, MINUTE, 600 + (i % 5) * MINUTE)
        counts = [i + j for j in range(WIDTH)]
        admitted = {f"new{i % 11}"} if i % 4 == 0 else set()
        when = {cs: NOW + i % 13} if i % 2 else {}
        target = "prod" if i % 3 else "other"
        store.ingest_add(target, IngestDelta(buckets={key: counts}, admitted=admitted, last_events=when))
        if target == "prod":
            buckets[key] = [a + b for a, b in zip(buckets.get(key, [0] * WIDTH), counts, strict=True)]
            for name in admitted:
                last.setdefault(name, None)
            for name, at in when.items():
                last[name] = max(last.get(name) or 0.0, at)
        if i in (0, 198, 199, 200, 449):
            state = store.ingest_load("prod")
            assert {(cs, w, s): c for cs, w, s, c in state.buckets} == buckets
            assert state.sets == last
    store.close()
    reopened = SqliteState(tmp_path / "s.db")
    state = reopened.ingest_load("prod")
    assert {(cs, w, s): c for cs, w, s, c in state.buckets} == buckets
    assert [(w, s) for _, w, s, _ in state.buckets] == sorted((w, s) for _, w, s, _ in state.buckets)
    assert state.sets == last


def test_a_state_file_whose_log_predates_buckets_and_sets_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE ingest_counter_log "
            "(id INTEGER PRIMARY KEY, target TEXT NOT NULL, counts BLOB NOT NULL)"
        )
        old.execute(
            "INSERT INTO ingest_counter_log(target, counts) VALUES ('prod', ?)",
            (b'{"sqs\\u001freceived": 5}',),
        )
    store = SqliteState(path)
    added = IngestDelta(counters={("sqs", "received"): 2}, buckets={("tx", 60, 600): [1] * WIDTH})
    store.ingest_add("prod", added)
    state = store.ingest_load("prod")
    assert state.counters == {("sqs", "received"): 7}
    assert state.buckets == [("tx", 60, 600, [1] * WIDTH)]


def _reopen(cfg: Config, now: float) -> tuple[SqliteState, TargetIngest]:
    store = SqliteState(cfg.state.path)
    ingest = TargetIngest(cfg.targets[0], cfg, store)
    ingest.restore(now)
    return store, ingest


DELETED = ("sqs", "deleted")


def test_deleted_count_is_stored_with_the_batch_and_not_doubled_by_a_crash(tmp_path: Path) -> None:
    # A crash (no flush) between a batch's commit and its delete: the messages come back with the
    # same SQS message ids, are deleted then, and are not counted as deleted a second time.
    cfg = config(tmp_path / "s.db")
    gen = SesEventGenerator(seed=6, start=NOW - 1800)
    bodies = [gen.event().body for _ in range(10)]
    store, first = _reopen(cfg, NOW)
    _process(first, bodies, NOW, slot=0)
    assert first.counters()[DELETED] == 10
    store.close()  # killed before the delete: no flush

    store, second = _reopen(cfg, NOW + 60)
    assert second.counters()[DELETED] == 10
    assert set(_process(second, bodies, NOW + 60, slot=1)) == {Outcome.DUPLICATE}
    assert second.counters()[DELETED] == 10
    more = [gen.event().body for _ in range(5)]
    _process(second, more, NOW + 61, first_id=100, slot=1)
    assert second.counters()[DELETED] == 15
    store.close()

    store, third = _reopen(cfg, NOW + 120)  # the carried ids were used up and are gone for good
    assert third.counters()[DELETED] == 15
    _process(third, bodies, NOW + 120, slot=0)  # a later redelivery of the same ids counts again
    assert third.counters()[DELETED] == 25
    store.close()


def test_a_failed_delete_is_taken_back_with_the_slots_next_batch(tmp_path: Path) -> None:
    cfg = config(tmp_path / "s.db")
    gen = SesEventGenerator(seed=7, start=NOW - 1800)
    bodies = [gen.event().body for _ in range(4)]
    store, ingest = _reopen(cfg, NOW)
    _process(ingest, bodies, NOW, slot=0)
    ingest.record_undeleted(4, slot=0)
    assert ingest.counters()[DELETED] == 0  # at once in memory
    _process(ingest, [gen.event().body], NOW + 1, first_id=10, slot=0)
    assert ingest.counters()[DELETED] == 1
    store.close()  # a crash now: the take-back went with the slot's batch

    store, again = _reopen(cfg, NOW + 60)
    assert again.counters()[DELETED] == 1
    _process(again, bodies, NOW + 60, slot=0)  # the undeleted ones return and are deleted now
    assert again.counters()[DELETED] == 5
    store.close()


def test_a_take_back_lost_in_a_crash_is_balanced_by_the_carried_ids(tmp_path: Path) -> None:
    cfg = config(tmp_path / "s.db")
    gen = SesEventGenerator(seed=8, start=NOW - 1800)
    bodies = [gen.event().body for _ in range(3)]
    store, ingest = _reopen(cfg, NOW)
    _process(ingest, bodies, NOW, slot=0)
    ingest.record_undeleted(3, slot=0)
    store.close()  # killed before the take-back was stored

    store, again = _reopen(cfg, NOW + 60)
    assert again.counters()[DELETED] == 3
    _process(again, bodies, NOW + 60, slot=0)  # they come back: deleted once, counted once
    assert again.counters()[DELETED] == 3
    store.close()


def test_a_clean_stop_stores_the_take_back_and_forgets_the_slots(tmp_path: Path) -> None:
    cfg = config(tmp_path / "s.db")
    gen = SesEventGenerator(seed=9, start=NOW - 1800)
    bodies = [gen.event().body for _ in range(3)]
    store, ingest = _reopen(cfg, NOW)
    _process(ingest, bodies, NOW, slot=0)
    ingest.record_undeleted(1, slot=0)
    ingest.flush()
    store.close()

    store, again = _reopen(cfg, NOW + 60)
    assert again.counters()[DELETED] == 2
    assert store.ingest_documents("prod") == {}
    _process(again, bodies[:1], NOW + 60, slot=0)  # the one not deleted returns and counts now
    assert again.counters()[DELETED] == 3
    store.close()
