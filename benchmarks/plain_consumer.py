"""The baseline for benchmarks/ingest_postgres.py (b): a plain boto3 SQS consumer with no counting.

Two threads (sesmon's default receivers) long-poll, receive 10 and delete them in one batch, and
append one byte per deleted message to a file the benchmark watches. Usage:
python benchmarks/plain_consumer.py ENDPOINT QUEUE_URL COUNT_FILE
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import boto3


def consume(endpoint: str, queue_url: str, counter: Path, lock: threading.Lock) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    while True:
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            continue
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        with lock, counter.open("ab") as f:
            f.write(b"x" * len(messages))


def main() -> None:
    endpoint, queue_url, counter = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    lock = threading.Lock()
    threads = [
        threading.Thread(target=consume, args=(endpoint, queue_url, counter, lock), daemon=True)
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
