"""Canary bookkeeping with an injected clock: success, early events, deadlines, send failures."""

from __future__ import annotations

from sesmon.canary_probes import IN_FLIGHT, CanaryProbes
from sesmon.model import EventType

SEND, DELIVERY, BOUNCE = EventType.SEND, EventType.DELIVERY, EventType.BOUNCE


def test_both_events_within_the_deadline_succeed_and_measure_the_round_trip() -> None:
    probes = CanaryProbes()
    probes.expect("prod", "tx")
    assert probes.outstanding == frozenset()
    probes.sending()
    probes.sent("prod", "tx", "m1", 100.0, deadline=60.0)
    assert probes.outstanding == {"m1"}
    probes.seen([("m1", SEND), ("other", DELIVERY), ("m1", BOUNCE)], 101.0)
    assert probes.outstanding == {"m1"}  # Delivery still missing
    probes.seen([("m1", DELIVERY)], 103.5)
    assert probes.outstanding == frozenset()
    result = probes.results()[("prod", "tx")]
    assert (result.failed, result.last_success, result.last_roundtrip, result.sent) == (False, 103.5, 3.5, 1)
    assert sum(result.bucket_counts) == 1
    assert result.bucket_counts[2] == 1  # 3.5 s falls in the (2.5, 5] bucket


def test_events_back_before_send_email_returns_are_kept() -> None:
    probes = CanaryProbes()
    probes.sending()
    assert IN_FLIGHT in probes.outstanding  # ingestion hands events over while a send is in flight
    probes.seen([("m1", SEND), ("m1", DELIVERY)], 100.2)
    probes.sent("prod", "tx", "m1", 100.0, deadline=60.0)
    assert probes.results()[("prod", "tx")].failed is False
    assert probes.results()[("prod", "tx")].last_success == 100.0
    assert probes.outstanding == frozenset()


def test_a_missing_event_fails_at_the_deadline_and_a_later_success_clears_it() -> None:
    probes = CanaryProbes()
    probes.sending()
    probes.sent("prod", "tx", "m1", 0.0, deadline=30.0)
    probes.seen([("m1", SEND)], 1.0)
    assert probes.expire(29.9) == []
    (late,) = probes.expire(30.0)
    assert late.message_id == "m1"
    result = probes.results()[("prod", "tx")]
    assert (result.failed, result.detail) == (True, "no delivery event within 30s")
    probes.sending()
    probes.sent("prod", "tx", "m2", 60.0, deadline=30.0)
    probes.seen([("m2", DELIVERY), ("m2", SEND)], 61.0)
    assert probes.results()[("prod", "tx")].failed is False


def test_a_failed_send_fails_the_probe_at_once() -> None:
    probes = CanaryProbes()
    probes.sending()
    probes.send_failed("prod", "tx", "MessageRejected: not verified", 5.0)
    result = probes.results()[("prod", "tx")]
    assert (result.failed, result.detail) == (True, "send failed: MessageRejected: not verified")
    assert probes.outstanding == frozenset()
