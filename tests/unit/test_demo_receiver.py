"""The demo webhook receiver: reads sesmon's webhook payloads, checks signatures, prints a line each."""

from __future__ import annotations

import io

import orjson
import pytest

from sesmon.alerts.render import webhook_payload
from sesmon.alerts.sinks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sesmon.demo.receiver import DemoReceiver, describe, format_line
from sesmon.rules import Notification


def _notification(status: str = "firing", reason: str = "fired") -> Notification:
    return Notification(
        id="n-1",
        status=status,  # type: ignore[arg-type]
        reason=reason,
        rule="BounceRateHigh",
        signal="bounce_rate",
        severity="warning",
        labels=(("configuration_set", "marketing"), ("target", "demo")),
        value=0.0312,
        threshold=0.02,
        window="1h",
        recipients=416,
        events=13,
        detail="",
        starts_at=1_790_000_030.0,
        ends_at=None,
        at=1_790_000_035.0,
        fingerprint="abc",
        summary="marketing: bounce rate 3.12% over 1h, 416 recipients",
        description="",
        runbook_url="",
    )


def _body(n: Notification) -> bytes:
    return orjson.dumps(webhook_payload(n, receiver="demo-console"))


def test_describe_reads_the_alertmanager_shaped_payload() -> None:
    [item] = describe(orjson.loads(_body(_notification())), at=5.0, signature="ok")
    assert (item.status, item.rule, item.severity, item.configuration_set) == (
        "firing",
        "BounceRateHigh",
        "warning",
        "marketing",
    )
    assert item.value == pytest.approx(0.0312)
    assert item.threshold == pytest.approx(0.02)
    assert item.reason == "fired"


def test_format_line_is_readable() -> None:
    [item] = describe(orjson.loads(_body(_notification(reason="escalated"))), at=35.0, signature="ok")
    line = format_line(item, started=10.0)
    assert line.startswith("[webhook t+ 25.0s] FIRING")
    assert "BounceRateHigh" in line
    assert "configuration_set=marketing" in line
    assert "3.12% vs threshold 2.00%" in line
    assert "(escalated)" in line
    assert "signature ok" in line
    assert line.endswith("marketing: bounce rate 3.12% over 1h, 416 recipients")


def test_signed_notifications_are_verified_and_printed() -> None:
    out = io.StringIO()
    receiver = DemoReceiver("s3cret-value", out, clock=lambda: 100.0)
    body = _body(_notification())

    def headers(secret: str | None) -> dict[str, str]:
        if secret is None:
            return {}
        return {TIMESTAMP_HEADER.lower(): "100", SIGNATURE_HEADER.lower(): sign(secret, "100", body)}

    assert receiver.accept(body, headers("s3cret-value")) == 200
    assert receiver.accept(body, headers("other")) == 401
    assert receiver.accept(body, headers(None)) == 401
    [item] = receiver.received()
    assert item.signature == "ok"
    assert item.at == 100.0
    text = out.getvalue()
    assert "BounceRateHigh" in text
    assert text.count("bad signature") == 2


def test_unsigned_mode_and_garbage() -> None:
    receiver = DemoReceiver(None, io.StringIO())
    assert receiver.accept(_body(_notification(status="resolved", reason="resolved")), {}) == 200
    assert receiver.accept(b"not json", {}) == 400
    assert receiver.accept(b"[1, 2]", {}) == 400
    [item] = receiver.received()
    assert (item.status, item.signature) == ("resolved", "unsigned")
