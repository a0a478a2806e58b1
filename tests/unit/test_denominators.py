"""The CloudWatch denominator's pure parts: Send series sums, the volume walk, bucket ranges, queries."""

from __future__ import annotations

from sesmon.denominators import CLOUDWATCH, SendBoard, SendSeries, needs_cloudwatch, with_cloudwatch
from sesmon.sources.cloudwatch import SEND, build_queries, send_subjects, to_api
from sesmon.windows import BOUNCED_RATE, MINUTE, SENT, SENT_ALL, WindowSet, zero

T0 = 1_790_000_400.0  # a whole hour


def series(*points: tuple[float, float]) -> SendSeries:
    return SendSeries(tuple(points), T0 - 3600, T0, 300.0)


def test_totals_since_and_volume_take_whole_periods_newest_first() -> None:
    s = series((T0 - 900, 40.0), (T0 - 600, 70.0), (T0 - 300, 60.0))
    assert s.total_since(T0 - 600) == 130.0
    assert s.volume(100, floor=T0 - 3600) == (130.0, T0 - 600)  # the crossing period is taken whole
    assert s.volume(1000, floor=T0 - 550) == (130.0, T0 - 600)  # stops at a period wholly before it
    assert series().volume(100, floor=0.0) is None


def test_with_cloudwatch_replaces_only_the_sent_counts() -> None:
    ws = WindowSet({"1h": 3600.0}, 100, 86400.0, now=T0)
    counts = zero()
    counts[0] = counts[BOUNCED_RATE] = 3
    ws.add("fb", MINUTE, int(T0 - 1200), counts)
    ws.add("fb", MINUTE, int(T0 - 60), counts)  # after CloudWatch's data ends: left out below
    ws.advance(T0)
    totals = ws.totals("fb", "1h")
    assert needs_cloudwatch(totals)
    assert totals.rate("bounce_rate") == (None, 6, 0)
    ranged = with_cloudwatch(ws.between("fb", T0 - 3600, T0 - 600), 150.4)
    assert ranged.denominator == CLOUDWATCH
    assert (ranged[SENT], ranged[SENT_ALL]) == (150, 150)
    assert ranged.rate("bounce_rate") == (3 / 150, 3, 150)


def test_send_queries_only_for_sets_that_asked() -> None:
    assert send_subjects([]) == []
    assert send_subjects(["(none)"]) == [None]
    assert send_subjects(["b", "(other)", "a"]) == [None, "a", "b"]
    queries = build_queries(["rep"], send_subjects(["a"]))
    assert [q.metric for q in queries[-2:]] == [SEND, SEND]
    account, own = (to_api(q) for q in queries[-2:])
    assert account["MetricStat"]["Stat"] == "Sum"
    assert account["MetricStat"]["Metric"]["Dimensions"] == []
    assert own["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "ses:configuration-set", "Value": "a"}]


def test_board_prefers_the_sets_own_series_then_the_account() -> None:
    board = SendBoard()
    board.want("prod", ["a"])
    assert board.wanted("prod") == frozenset({"a"})
    assert board.series_for("prod", "a") is None
    account, own = series((T0 - 300, 5.0)), series((T0 - 300, 2.0))
    board.publish("prod", {None: account, "a": own, "b": series()})
    assert board.series_for("prod", "a") is own
    assert board.series_for("prod", "b") is account  # b's own series is empty: not published
    assert board.series_for("prod", "(none)") is account
