"""Test-side SQS helpers: how many messages a queue holds, and feeding it without flooding moto."""

from __future__ import annotations

import threading
from typing import Any

# moto's SQS scans the whole queue on every call, so a deep queue makes it quadratically slow.
MAX_DEPTH = 30


def depth(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attributes.values())


def send(sqs: Any, queue_url: str, bodies: list[str]) -> None:
    """Send ``bodies`` 10 at a time (SendMessageBatch's maximum)."""
    for i in range(0, len(bodies), 10):
        entries = [{"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i : i + 10])]
        assert not sqs.send_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed")


def feed(
    sqs: Any, queue_url: str, bodies: list[str], stop: threading.Event, max_depth: int = MAX_DEPTH
) -> None:
    """Send ``bodies`` 10 at a time, waiting while the queue holds more than ``max_depth``."""
    for i in range(0, len(bodies), 10):
        while depth(sqs, queue_url) > max_depth:
            if stop.wait(0.05):
                return
        send(sqs, queue_url, bodies[i : i + 10])
