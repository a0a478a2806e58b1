"""One contract for every state backend: dedup, batch atomicity, counters, windows, alert state with its
outbox, delivery, leases and schema version (each test runs once per backend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sesmon.batch import IngestDelta, dedup_digest
from sesmon.state.ports import SCHEMA_VERSION, Document, Lease, LeaseLostError, OutboxEntry
from sesmon.windows import WIDTH
from tests.state.backends import Opened, open_memory, open_postgres, open_sqlite

NOW = 1_790_000_000.0
BACKENDS = ["sqlite", "postgresql", "memory"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opened]:
    if request.param == "postgresql":
        opened = open_postgres(request.getfixturevalue("postgres_dsn"))
    elif request.param == "sqlite":
        opened = open_sqlite(tmp_path)
    else:
        opened = open_memory()
    try:
        yield opened
    finally:
        opened.close()


def rows(*keys: tuple[int, str]) -> list[tuple[int, bytes]]:
    return [(prefix, dedup_digest("prod", key)) for prefix, key in keys]


def counting(fresh: list[bool]) -> IngestDelta:
    n = sum(fresh)
    return IngestDelta(
        counters={("events", "tx", "send"): n},
        buckets={("tx", 60, 600): [n] * WIDTH},
        admitted={"tx"},
        last_events={"tx": 600.0 + n},
    )


# -- ingestion ---------------------------------------------------------------------------------------


def test_the_schema_is_at_the_current_version(backend: Opened) -> None:
    assert backend.store.schema_version() == SCHEMA_VERSION


def test_dedup_within_a_batch_across_batches_and_restarts(backend: Opened) -> None:
    store = backend.store
    assert store.ingest_apply_batch("prod", rows((1, "a"), (1, "b"), (1, "a")), counting, NOW + 60) == [
        True,
        True,
        False,
    ]
    assert store.ingest_apply_batch("prod", rows((1, "b"), (2, "c")), counting, NOW + 60) == [False, True]
    store = backend.reopen()
    assert store.ingest_apply_batch("prod", rows((2, "c"), (3, "d")), counting, NOW + 60) == [False, True]
    state = store.ingest_load("prod")
    assert state.counters == {("events", "tx", "send"): 4}
    assert state.buckets == [("tx", 60, 600, [4] * WIDTH)]
    assert state.sets == {"tx": 602.0}
    assert store.ingest_dedup_count() == 4


def test_a_batch_whose_effect_fails_leaves_no_trace(backend: Opened) -> None:
    store = backend.store

    def broken(fresh: list[bool]) -> IngestDelta:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.ingest_apply_batch("prod", rows((1, "a")), broken, NOW + 60)
    assert store.ingest_dedup_count() == 0
    assert store.ingest_apply_batch("prod", rows((1, "a")), counting, NOW + 60) == [True]
    assert store.ingest_load("prod").counters == {("events", "tx", "send"): 1}


def test_counters_buckets_and_sets_add_up_per_target(backend: Opened) -> None:
    store = backend.store
    store.ingest_add("prod", IngestDelta(counters={("sqs", "received"): 2}, admitted={"a"}))
    store.ingest_add(
        "prod",
        IngestDelta(
            counters={("sqs", "received"): 3, ("events", "a", "send"): 1},
            buckets={("a", 60, 120): [1] * WIDTH, ("a", 3600, 0): [2] * WIDTH},
            last_events={"a": 130.0},
        ),
    )
    store.ingest_add("prod", IngestDelta(buckets={("a", 60, 120): [1] * WIDTH}, last_events={"a": 100.0}))
    store.ingest_add("other", IngestDelta(counters={("sqs", "received"): 9}))
    for reopen in (False, True):
        store = backend.reopen() if reopen else store
        state = store.ingest_load("prod")
        assert state.counters == {("sqs", "received"): 5, ("events", "a", "send"): 1}
        assert state.buckets == [("a", 60, 120, [2] * WIDTH), ("a", 3600, 0, [2] * WIDTH)]
        assert state.sets == {"a": 130.0}  # the later time wins, whatever the order
        assert store.ingest_load("other").counters == {("sqs", "received"): 9}


def test_a_set_admitted_without_events_has_no_time(backend: Opened) -> None:
    backend.store.ingest_add("prod", IngestDelta(admitted={"quiet"}))
    assert backend.reopen().ingest_load("prod").sets == {"quiet": None}


@pytest.mark.parametrize(
    "key",
    [
        ("events", "a\x1fb", "send"),  # the first release's separator inside a value
        ("events", '"]', "send"),
        ("events", "tx", "send", "é✓"),
        ("events", "", "send"),
    ],
)
def test_any_counter_key_comes_back_exactly(backend: Opened, key: tuple[str, ...]) -> None:
    backend.store.ingest_add("prod", IngestDelta(counters={key: 3, ("events", "a", "b", "send"): 1}))
    assert backend.reopen().ingest_load("prod").counters == {key: 3, ("events", "a", "b", "send"): 1}


def test_compaction_merges_minutes_into_hours_and_drops_old_hours(backend: Opened) -> None:
    store = backend.store
    store.ingest_add(
        "prod",
        IngestDelta(
            buckets={
                ("a", 60, 7200): [1] * WIDTH,
                ("a", 60, 7260): [2] * WIDTH,
                ("a", 60, 10800): [4] * WIDTH,  # not before the limit: kept
                ("a", 3600, 0): [8] * WIDTH,  # before drop_before: dropped
                ("a", 3600, 7200): [16] * WIDTH,
            }
        ),
    )
    store.ingest_compact("prod", minute_before=10800, drop_before=3600)
    assert store.ingest_load("prod").buckets == [
        ("a", 60, 10800, [4] * WIDTH),
        ("a", 3600, 7200, [19] * WIDTH),
    ]


def test_dedup_rows_are_pruned_after_they_expire(backend: Opened) -> None:
    store = backend.store
    minute = int(NOW // 60)
    store.ingest_apply_batch("prod", rows((minute - 100, "old")), counting, NOW - 10)
    store.ingest_apply_batch("prod", rows((minute - 100, "kept")), counting, NOW + 10)
    store.ingest_apply_batch("prod", rows((minute, "young")), counting, NOW - 10)
    # "young" expired, but its prefix is within ``young`` seconds of now, so it need not be looked at.
    assert store.ingest_prune_dedup(NOW, chunk=1, young=30 * 60) == 1
    assert store.ingest_dedup_count() == 2
    assert store.ingest_apply_batch("prod", rows((minute - 100, "old")), counting, NOW + 60) == [True]
    assert store.ingest_apply_batch("prod", rows((minute - 100, "kept")), counting, NOW + 60) == [False]


# -- alert state and outbox --------------------------------------------------------------------------


def entry(notification: str, fingerprint: str = "fp", sink: str = "hook") -> OutboxEntry:
    return OutboxEntry(sink, notification, fingerprint, {"id": notification})


def test_alert_state_and_outbox_rows_commit_together(backend: Opened) -> None:
    store = backend.store
    store.alert_commit("alerts", "state", {"v": 1}, [entry("n1"), entry("n1", sink="pager")], now=NOW)
    store.alert_commit("alerts", "state", {"v": 2}, [entry("n1")], now=NOW + 1)  # same id: ignored
    store = backend.reopen()
    assert store.kv_items("alerts") == {"state": {"v": 2}}
    assert store.outbox_counts() == {("hook", "pending"): 1, ("pager", "pending"): 1}
    due = store.outbox_due(NOW)
    assert [(r.sink, r.notification_id, r.payload, r.attempts) for r in due] == [
        ("hook", "n1", {"id": "n1"}, 0),
        ("pager", "n1", {"id": "n1"}, 0),
    ]


def test_a_fenced_commit_with_a_lost_lease_writes_nothing(backend: Opened) -> None:
    store = backend.store
    mine = store.lease_acquire("leader", "a", 10, NOW)
    assert mine is not None
    store.alert_commit("alerts", "state", {"v": 1}, [entry("n1")], now=NOW, fence=mine)
    theirs = store.lease_acquire("leader", "b", 10, NOW + 11)  # mine expired: b takes over
    assert theirs is not None
    with pytest.raises(LeaseLostError):
        store.alert_commit("alerts", "state", {"v": 2}, [entry("n2")], now=NOW + 12, fence=mine)
    assert store.kv_items("alerts") == {"state": {"v": 1}}
    assert [r.notification_id for r in store.outbox_due(NOW + 20)] == ["n1"]


def test_further_documents_commit_with_the_alert_state_or_not_at_all(backend: Opened) -> None:
    store = backend.store
    decided = [Document("actions", "n1/pause", {"result": "pending"}), Document("actions", "x", [1])]
    store.alert_commit("alerts", "state", {"v": 1}, [entry("n1")], now=NOW, documents=decided)
    store.alert_commit("actions", "n1/pause", {"result": "done"}, [entry("n1/done")], now=NOW + 1)
    mine = store.lease_acquire("leader", "a", 10, NOW)
    assert mine is not None
    assert store.lease_acquire("leader", "b", 10, NOW + 11) is not None  # mine expired: b leads
    late = [Document("actions", "n2/pause", {"result": "pending"})]
    with pytest.raises(LeaseLostError):
        store.alert_commit("alerts", "state", {"v": 2}, [], now=NOW + 12, fence=mine, documents=late)
    store = backend.reopen()
    assert store.kv_items("alerts") == {"state": {"v": 1}}
    assert store.kv_items("actions") == {"n1/pause": {"result": "done"}, "x": [1]}


def test_only_the_oldest_pending_row_of_an_alert_is_due(backend: Opened) -> None:
    store = backend.store
    store.alert_commit("alerts", "state", {}, [entry("fire", "fp1"), entry("other", "fp2")], now=NOW)
    store.alert_commit("alerts", "state", {}, [entry("resolve", "fp1")], now=NOW + 1)
    due = store.outbox_due(NOW + 1)
    assert [r.notification_id for r in due] == ["fire", "other"]
    store.outbox_retry(due[0].id, NOW + 100, "HTTP 503")
    assert [r.notification_id for r in store.outbox_due(NOW + 2)] == ["other"]  # "resolve" waits
    later = store.outbox_due(NOW + 100)
    assert [(r.notification_id, r.attempts) for r in later] == [("fire", 1), ("other", 0)]
    store.outbox_delivered(later[0].id, NOW + 100)
    store.outbox_give_up(later[1].id, NOW + 100, "HTTP 400")
    assert [r.notification_id for r in store.outbox_due(NOW + 100)] == ["resolve"]
    assert store.outbox_counts() == {
        ("hook", "delivered"): 1,
        ("hook", "given_up"): 1,
        ("hook", "pending"): 1,
    }


def test_finished_rows_are_pruned_pending_rows_kept(backend: Opened) -> None:
    store = backend.store
    store.alert_commit("alerts", "state", {}, [entry("a", "1"), entry("b", "2"), entry("c", "3")], now=NOW)
    a, b, _ = store.outbox_due(NOW)
    store.outbox_delivered(a.id, NOW)
    store.outbox_give_up(b.id, NOW + 50, "gone")
    assert store.outbox_prune(NOW + 10) == 1
    assert store.outbox_counts() == {("hook", "given_up"): 1, ("hook", "pending"): 1}


def test_outbox_rows_are_limited_and_in_order(backend: Opened) -> None:
    store = backend.store
    store.alert_commit("alerts", "state", {}, [entry(f"n{i}", f"fp{i}") for i in range(5)], now=NOW)
    assert [r.notification_id for r in store.outbox_due(NOW, limit=3)] == ["n0", "n1", "n2"]


# -- leases ------------------------------------------------------------------------------------------


def test_a_lease_has_one_holder_until_it_expires(backend: Opened) -> None:
    store, peer = backend.store, backend.other()
    first = store.lease_acquire("leader", "a", 10, NOW)
    assert first == Lease("leader", "a", 1, NOW + 10)
    assert peer.lease_acquire("leader", "b", 10, NOW + 5) is None
    renewed = store.lease_acquire("leader", "a", 10, NOW + 5)
    assert renewed == Lease("leader", "a", 1, NOW + 15)  # renewing keeps the token
    assert peer.lease_acquire("leader", "b", 10, NOW + 14) is None
    taken = peer.lease_acquire("leader", "b", 10, NOW + 16)
    assert taken == Lease("leader", "b", 2, NOW + 26)  # taking over increments it
    assert store.lease_acquire("leader", "a", 10, NOW + 17) is None
    assert store.lease_acquire("other-lease", "a", 10, NOW + 17) == Lease("other-lease", "a", 1, NOW + 27)


def test_a_released_lease_is_free_at_once_and_the_token_still_grows(backend: Opened) -> None:
    store, peer = backend.store, backend.other()
    held = store.lease_acquire("leader", "a", 10, NOW)
    assert held is not None
    store.lease_release(Lease("leader", "a", 7, NOW + 10))  # not the current token: no effect
    assert peer.lease_acquire("leader", "b", 10, NOW + 1) is None
    store.lease_release(held)
    assert peer.lease_acquire("leader", "b", 10, NOW + 1) == Lease("leader", "b", 2, NOW + 11)
