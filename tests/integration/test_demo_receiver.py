"""The demo webhook receiver over HTTP on loopback, fed by sesmon's own webhook sink."""

from __future__ import annotations

import io

from pydantic import SecretStr

from sesmon.alerts.sinks import WebhookSink
from sesmon.config import SinkConfig
from sesmon.demo.receiver import DemoReceiver
from tests.unit.test_demo_receiver import _notification


def test_the_webhook_sink_reaches_the_receiver_signed() -> None:
    out = io.StringIO()
    receiver = DemoReceiver("s3cret-value", out).start()
    sink = WebhookSink(
        SinkConfig(
            name="demo-console", type="webhook", url=SecretStr(receiver.url), secret=SecretStr("s3cret-value")
        )
    )
    try:
        result = sink.send(_notification(), now=1_790_000_040.0)
    finally:
        sink.close()
        receiver.stop()
    assert result.ok, result
    [item] = receiver.received()
    assert (item.rule, item.configuration_set, item.signature) == ("BounceRateHigh", "marketing", "ok")
    assert "FIRING" in out.getvalue()
