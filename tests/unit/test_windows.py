"""Window buckets: sliding windows, the volume window, backlogs keyed by event time, compaction."""

from __future__ import annotations

import pytest

from sesmon.windows import (
    BOUNCED_RATE,
    COMPLAINED_RATE,
    EVENTS,
    HOUR,
    MINUTE,
    SENT,
    WIDTH,
    WindowSet,
    zero,
)

T0 = 1_790_000_000 - 1_790_000_000 % HOUR  # an hour boundary
DAY = 86400.0


def counts(sent: int = 0, bounced: int = 0, events: int = 1) -> list[int]:
    vector = zero()
    vector[EVENTS] = events
    vector[SENT] = sent
    vector[BOUNCED_RATE] = bounced
    return vector


def make(now: float, volume: int = 1000, max_age: float = 14 * DAY) -> WindowSet:
    return WindowSet({"1h": 3600.0, "24h": DAY}, volume, max_age, now=now)


def add(ws: WindowSet, cs: str, at: float, now: float, vector: list[int]) -> None:
    placed = ws.bucket_of(at, now)
    assert placed is not None
    ws.add(cs, *placed, vector)


def test_sliding_window_holds_the_last_sixty_minute_buckets() -> None:
    now = T0 + 30.0  # half a minute into the current bucket
    ws = make(now)
    add(ws, "tx", now, now, counts(sent=10))  # current minute
    add(ws, "tx", T0 - 59 * MINUTE, now, counts(sent=20))  # 60th bucket back: inside
    add(ws, "tx", T0 - 60 * MINUTE, now, counts(sent=40))  # 61st: outside 1h, inside 24h
    ws.advance(now)
    assert ws.totals("tx", "1h")[SENT] == 30
    assert ws.totals("tx", "24h")[SENT] == 70
    # One minute later the oldest bucket of the hour leaves it.
    ws.advance(now + MINUTE)
    assert ws.totals("tx", "1h")[SENT] == 10
    assert ws.totals("tx", "24h")[SENT] == 70


def test_future_stamped_events_count_in_every_window() -> None:
    now = T0 + 5.0
    ws = make(now)
    add(ws, "tx", now + 120, now, counts(sent=3))  # sender clock ahead
    ws.advance(now)
    assert ws.totals("tx", "1h")[SENT] == 3
    assert ws.volume("tx", now)[SENT] == 3


def test_advance_never_moves_backwards() -> None:
    now = T0 + 10.0
    ws = make(now)
    add(ws, "tx", now - 3590, now, counts(sent=1))
    ws.advance(now + 600)
    ws.advance(now)  # an older clock reading changes nothing
    assert ws.totals("tx", "1h")[SENT] == 0


def test_backlog_lands_in_the_buckets_of_its_own_time() -> None:
    # An outage: events from 5 hours ago are drained now; they must not raise the last hour.
    now = T0 + 100.0
    ws = make(now)
    for i in range(50):
        add(ws, "tx", now - 5 * HOUR + i, now, counts(sent=1, bounced=1))
    add(ws, "tx", now, now, counts(sent=100))
    ws.advance(now)
    ratio, num, den = ws.totals("tx", "1h").rate("bounce_rate")
    assert (ratio, num, den) == (0.0, 0, 100)
    ratio, num, den = ws.totals("tx", "24h").rate("bounce_rate")
    assert (num, den) == (50, 150)
    assert ratio == pytest.approx(50 / 150)


def test_volume_window_takes_the_crossing_bucket_whole() -> None:
    now = T0 + 30.0
    ws = make(now, volume=100)
    add(ws, "tx", now, now, counts(sent=60, bounced=1))  # newest bucket: 60
    add(ws, "tx", now - 2 * MINUTE, now, counts(sent=70, bounced=7))  # crosses 100: taken whole
    add(ws, "tx", now - 5 * MINUTE, now, counts(sent=500, bounced=50))  # beyond the limit: left out
    volume = ws.volume("tx", now)
    assert volume[SENT] == 130
    assert volume[BOUNCED_RATE] == 8
    assert volume.oldest == T0 - 2 * MINUTE
    assert volume.rate("bounce_rate") == (8 / 130, 8, 130)


def test_volume_window_exactly_at_the_limit_stops_there() -> None:
    now = T0 + 30.0
    ws = make(now, volume=100)
    add(ws, "tx", now, now, counts(sent=100))
    add(ws, "tx", now - MINUTE, now, counts(sent=5, bounced=5))
    assert ws.volume("tx", now)[SENT] == 100
    assert ws.volume("tx", now)[BOUNCED_RATE] == 0


def test_volume_window_with_few_recipients_looks_back_max_age_only() -> None:
    now = T0 + 30.0
    ws = make(now, volume=10_000, max_age=2 * DAY)
    add(ws, "tx", now - 1 * DAY, now, counts(sent=10))
    add(ws, "tx", now - 2 * DAY + 2 * HOUR, now, counts(sent=5))
    # A bucket wholly older than max_age (restored before the next prune) is not looked at.
    old_hour = int((now - 3 * DAY) // HOUR) * HOUR
    ws.add("tx", HOUR, old_hour, counts(sent=1000))
    assert ws.volume("tx", now)[SENT] == 15


def test_events_older_than_max_age_get_no_bucket() -> None:
    now = T0 + 30.0
    ws = make(now, max_age=2 * DAY)
    assert ws.bucket_of(now - 3 * DAY, now) is None
    assert ws.bucket_of(now - 2 * HOUR, now) == (MINUTE, int((now - 2 * HOUR) // MINUTE) * MINUTE)
    # Past the horizon (longest window + 1h) an event goes straight to an hour bucket.
    at = now - DAY - 3 * HOUR
    assert ws.bucket_of(at, now) == (HOUR, int(at // HOUR) * HOUR)


def test_prune_compacts_into_hours_without_changing_volume_totals() -> None:
    now = T0 + 30.0
    ws = make(now, volume=1_000_000, max_age=3 * DAY)
    for i in range(120):  # two hours of minute buckets, 1 sent each
        add(ws, "tx", now - i * MINUTE, now, counts(sent=1))
    later = now + 2 * DAY
    before = ws.volume("tx", later)
    buckets_before = ws.bucket_count()
    ws.prune(later)
    assert ws.bucket_count() < buckets_before
    assert ws.bucket_count() <= 3  # minutes merged into (at most) three hour buckets
    assert ws.volume("tx", later).counts == before.counts
    assert before[SENT] == 120
    # Beyond max_age everything is dropped, and the set with it.
    ws.prune(now + 4 * DAY)
    assert ws.bucket_count() == 0
    assert ws.configuration_sets() == []


def test_sets_are_independent_and_empty_sets_read_zero() -> None:
    now = T0 + 30.0
    ws = make(now)
    add(ws, "a", now, now, counts(sent=5))
    add(ws, "b", now, now, counts(sent=7, bounced=1))
    ws.advance(now)
    assert ws.totals("a", "1h")[SENT] == 5
    assert ws.totals("b", "1h").rate("bounce_rate")[1:] == (1, 7)
    assert ws.totals("missing", "1h").counts == tuple(zero())
    assert ws.volume("missing", now).rate("bounce_rate") == (None, 0, 0)  # no denominator: no ratio
    assert len(ws.totals("a", "1h").counts) == WIDTH


def test_volume_label_is_not_a_sliding_window() -> None:
    ws = make(T0)
    with pytest.raises(ValueError, match="volume"):
        ws.totals("tx", "volume")


def test_memory_is_bounded_by_buckets_not_events() -> None:
    now = T0 + 30.0
    ws = make(now)
    for i in range(20_000):  # many events in few minutes
        add(ws, "tx", now - (i % 5) * MINUTE, now, counts(sent=1))
    assert ws.bucket_count() == 5
    ws.advance(now)
    assert ws.totals("tx", "1h")[SENT] == 20_000


def test_history_bins_the_kept_buckets_over_the_last_day() -> None:
    now = 1_700_000_000.0
    windows = WindowSet(
        {"1h": 3600.0, "24h": 86400.0}, volume_recipients=10_000, volume_max_age=14 * 86400, now=now
    )
    counts = zero()
    counts[SENT], counts[BOUNCED_RATE], counts[COMPLAINED_RATE] = 100, 3, 1
    for minutes_ago in (0, 1, 20, 60 * 23):
        width, start = windows.bucket_of(now - minutes_ago * 60, now) or (0, 0)
        windows.add("marketing", width, start, counts)
    old = windows.bucket_of(now - 30 * 3600, now)  # older than the span: left out
    assert old is not None
    windows.add("marketing", *old, counts)
    history = windows.history("marketing", now, span=86400, step=900)
    assert len(history) == 96
    assert [h[0] for h in history] == list(range(history[0][0], history[-1][0] + 900, 900))
    assert history[-1][0] <= now < history[-1][0] + 900
    assert sum(h[1] for h in history) == 400
    by_start = {h[0]: h[1:] for h in history}
    assert by_start[int((now - 23 * 3600) // 900) * 900] == (100, 3, 1)
    assert sum(h[2] for h in history) == 12
    assert windows.history("absent", now, span=3600, step=900) == [(h[0], 0, 0, 0) for h in history[-4:]]
