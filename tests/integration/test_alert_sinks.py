"""Sinks against a real HTTP receiver on 127.0.0.1: payload shapes, signatures, response classification,
and the whole path rule → outbox → dispatcher → receiver."""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sesmon.alerts.component import AlertsComponent
from sesmon.alerts.sinks import build_sink
from sesmon.config import AlertsConfig, RuleConfig, SinkConfig
from sesmon.rules import Evaluator, Notification
from sesmon.signals import Observation
from sesmon.state.sqlite import SqliteState
from tests.integration.alert_receivers import Receiver, receiver

LABELS = Observation.make_labels(target="prod", configuration_set="marketing")
T0 = 1_767_225_600.0
SECRET = "hmac-secret-for-tests"


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def sink(kind: str, url: str, **extra: Any) -> SinkConfig:
    return SinkConfig.model_validate(
        {"name": f"{kind}-sink", "type": kind, "url": url, "timeout": "1s", **extra}
    )


def episode() -> tuple[Notification, Notification]:
    rule = RuleConfig.model_validate(
        {"name": "BounceRateHigh", "signal": "bounce_rate", "window": "1h", "warning": 0.05, "critical": 0.1}
    )
    ev = Evaluator([rule])
    fired = ev.evaluate({rule.name: [Observation("bounce_rate", LABELS, 0.06, 5000, 300)]}, T0)[0]
    resolved = ev.evaluate({rule.name: [Observation("bounce_rate", LABELS, 0.01, 5000, 50)]}, T0 + 60)[0]
    return fired, resolved


def test_webhook_is_signed_and_carries_idempotency_key(rx: Receiver) -> None:
    fired, resolved = episode()
    hook = build_sink(sink("webhook", rx.url + "/hook", secret=SECRET))
    assert hook.send(fired, T0).ok
    assert hook.send(resolved, T0 + 60).ok
    first, second = rx.wait_for(2)
    for request, note in ((first, fired), (second, resolved)):
        timestamp = request.headers["x-sesmon-timestamp"]
        expected = hmac.new(
            SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        assert request.headers["x-sesmon-signature"] == f"sha256={expected}"
        assert request.headers["idempotency-key"] == note.id
        assert request.headers["content-type"] == "application/json"
        body = request.json()
        assert body["version"] == "4"
        assert body["status"] == note.status
        assert body["alerts"][0]["fingerprint"] == fired.fingerprint
    assert first.path == "/hook"
    assert first.headers["idempotency-key"] != second.headers["idempotency-key"]
    hook.close()


def test_unsigned_webhook_has_no_signature(rx: Receiver) -> None:
    fired, _ = episode()
    hook = build_sink(sink("webhook", rx.url))
    assert hook.send(fired, T0).ok
    (request,) = rx.wait_for(1)
    assert "x-sesmon-signature" not in request.headers
    assert request.headers["idempotency-key"] == fired.id


def test_slack_payload_shape(rx: Receiver) -> None:
    fired, _ = episode()
    slack = build_sink(sink("slack", rx.url + "/services/T000/B000/XXXX"))
    assert slack.send(fired, T0).ok
    (request,) = rx.wait_for(1)
    body = request.json()
    assert body["text"].startswith("[WARNING]")
    assert [b["type"] for b in body["blocks"]] == ["header", "section", "section", "context"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in body["blocks"][2]["fields"]}
    assert fields["*Rule*"] == "BounceRateHigh"
    assert fields["*Configuration set*"] == "marketing"
    assert fields["*Rate vs threshold*"] == "6% vs 5% threshold"
    assert fields["*Window*"] == "1h"
    assert fields["*Volume*"] == "5000 recipients, 300 events"


def test_pagerduty_trigger_then_resolve(rx: Receiver) -> None:
    fired, resolved = episode()
    pd = build_sink(sink("pagerduty", rx.url + "/v2/enqueue", routing_key="R" * 32))
    assert pd.send(fired, T0).ok
    assert pd.send(resolved, T0 + 60).ok
    trigger, resolve = (r.json() for r in rx.wait_for(2))
    assert trigger["routing_key"] == "R" * 32
    assert trigger["event_action"] == "trigger"
    assert set(trigger["payload"]) >= {"summary", "source", "severity", "custom_details"}
    assert trigger["payload"]["severity"] == "warning"
    assert resolve["event_action"] == "resolve"
    assert resolve["dedup_key"] == trigger["dedup_key"]


@pytest.mark.parametrize(
    ("status", "retry_after", "retryable", "expected_wait"),
    [
        (500, "7", True, 7.0),
        (503, None, True, None),
        (429, "Thu, 01 Jan 2026 00:02:00 GMT", True, 120.0),
        (408, None, True, None),
        (400, "5", False, None),
        (404, None, False, None),
        (410, None, False, None),
    ],
)
def test_response_classification(
    rx: Receiver, status: int, retry_after: str | None, retryable: bool, expected_wait: float | None
) -> None:
    fired, _ = episode()
    rx.mode, rx.status, rx.retry_after = "fail", status, retry_after
    result = build_sink(sink("webhook", rx.url + "/tok3n-in-path")).send(fired, T0)
    assert not result.ok
    assert result.retryable is retryable
    assert result.retry_after == expected_wait
    assert result.error == f"sink webhook-sink: HTTP {status}"


def test_timeout_and_refused_connection_are_retryable(rx: Receiver) -> None:
    fired, _ = episode()
    rx.mode = "hang"
    hung = build_sink(sink("webhook", rx.url + "/secret-path", timeout="200ms")).send(fired, T0)
    assert (hung.ok, hung.retryable) == (False, True)
    assert hung.error.startswith("sink webhook-sink: timeout")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    refused = build_sink(sink("webhook", f"http://127.0.0.1:{free}/secret-path")).send(fired, T0)
    assert (refused.ok, refused.retryable) == (False, True)
    assert refused.error.startswith("sink webhook-sink: connection failed")
    assert "secret-path" not in hung.error + refused.error


class FakeProvider:
    """A bounce_rate provider whose value the test sets."""

    def __init__(self) -> None:
        self.value = 0.0

    def provided_signals(self) -> frozenset[str]:
        return frozenset({"bounce_rate"})

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:
        return [Observation(signal, LABELS, self.value, recipients=5000, events=int(self.value * 5000))]


def test_rule_to_receiver_end_to_end_once_per_transition(rx: Receiver, tmp_path: Path) -> None:
    config = AlertsConfig.model_validate(
        {
            "rules": [
                {
                    "name": "BounceRateHigh",
                    "signal": "bounce_rate",
                    "window": "1h",
                    "warning": 0.05,
                    "for": "1m",
                }
            ],
            "sinks": [
                {"name": "hook", "type": "webhook", "url": rx.url + "/hook", "secret": SECRET},
                {
                    "name": "pager",
                    "type": "pagerduty",
                    "url": rx.url + "/pd",
                    "routing_key": "K" * 32,
                    "min_severity": "critical",
                },
            ],
        }
    )
    provider = FakeProvider()
    store = SqliteState(tmp_path / "state.db")
    comp = AlertsComponent(config, store, [provider], clock=lambda: T0)
    provider.value = 0.07
    assert comp.evaluate(T0) == []  # pending
    fired = comp.evaluate(T0 + 60)
    assert [n.reason for n in fired] == ["fired"]
    for t in range(75, 300, 15):
        assert comp.evaluate(T0 + t) == []
    provider.value = 0.0
    assert [n.status for n in comp.evaluate(T0 + 300)] == ["resolved"]
    comp.evaluate(T0 + 315)
    got = rx.wait_for(2)
    assert [r.json()["status"] for r in got] == ["firing", "resolved"]
    assert {r.path for r in got} == {"/hook"}  # warning only: the critical-only pager stays silent
    assert store.outbox_counts() == {("hook", "delivered"): 2}
    assert comp.stats.snapshot()[0] == {"hook": 2}
    store.close()
