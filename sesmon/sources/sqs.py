"""SQS long-poll receivers: receive a batch, store its effect in one transaction, then delete it."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from sesmon import redact
from sesmon.batch import Message, Processed
from sesmon.config import TargetConfig
from sesmon.health import SourceHealth
from sesmon.logs import get_logger, log_event

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.literals import MessageSystemAttributeNameType
    from mypy_boto3_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef, MessageTypeDef

    from sesmon.sources.sqs_client import SqsJsonClient

log = get_logger("sesmon.sources.sqs")

SOURCE = "sqs"
MAX_MESSAGES = 10  # SQS's per-call maximum: the fewest requests per event
SYSTEM_ATTRIBUTES: list[MessageSystemAttributeNameType] = ["ApproximateReceiveCount", "SentTimestamp"]
DELETE_ATTEMPTS = 5
MAX_BACKOFF = 60.0


class BatchHandler(Protocol):
    """What a receiver hands its batches to (``ingest.TargetIngest``); the seam keeps ``sources/``
    free of any import of ``ingest``."""

    def process(self, messages: Sequence[Message], now: float) -> Sequence[Processed]:
        """Durably store one batch's effect; one outcome per message, in order."""
        ...

    def record_deleted(self, count: int) -> None:
        """Count ``count`` messages deleted from the queue."""
        ...


def default_backoff(failures: int) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential, capped, full jitter.

    botocore's standard retries already absorb short blips inside each call; this is the slower outer
    loop for outages, so a throttled or unreachable SQS is not hammered by every receiver.
    """
    return random.uniform(0.5, min(MAX_BACKOFF, 2.0 ** min(failures, 10)))  # noqa: S311 - jitter only


def _sent_timestamp(message: MessageTypeDef) -> float | None:
    raw = (message.get("Attributes") or {}).get("SentTimestamp")
    try:
        return int(raw) / 1000 if raw is not None else None
    except (TypeError, ValueError):
        return None


def _describe(exc: BaseException) -> str:
    return redact.redact(f"{type(exc).__name__}: {exc}")[:500]


class SqsSource:
    """``receivers`` concurrent long-poll loops over one target's queue.

    Per batch: parse → one store transaction (counts and dedup keys) → DeleteMessageBatch, checking
    each entry's ``Failed``. A message is deleted only after its effect committed; one whose delete
    fails comes back later and is then recorded as a duplicate. Invalid bodies are kept for the
    queue's redrive policy (``on_invalid: keep``) or deleted (``delete``).
    """

    def __init__(
        self,
        *,
        target: TargetConfig,
        ingest: BatchHandler,
        client: Callable[[], SQSClient | SqsJsonClient],
        health: SourceHealth,
        clock: Callable[[], float],
        backoff: Callable[[int], float] | None = None,
    ) -> None:
        if target.sqs is None:
            raise ValueError(f"target {target.name} has no sqs section")
        self.target = target.name
        self.settings = target.sqs
        self.queue_url = target.sqs.queue_url
        self.ingest = ingest
        self._client_factory = client
        self._client: SQSClient | SqsJsonClient | None = None
        self._client_lock = threading.Lock()
        self.health = health
        self.clock = clock
        self.backoff = backoff or default_backoff
        self._stop = threading.Event()
        # Set when the stop deadline has passed: in-flight retries give up instead of waiting.
        self._abort = threading.Event()
        self._threads: list[threading.Thread] = []
        self._warned_redrive = False

    @property
    def client(self) -> SQSClient | SqsJsonClient:
        """The SQS client, created on first use (it may contact STS)."""
        with self._client_lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the receiver threads."""
        self.health.expect(SOURCE, self.target)
        for index in range(self.settings.receivers):
            thread = threading.Thread(
                target=self._run, args=(index,), name=f"sesmon-sqs-{self.target}-{index}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def request_stop(self) -> None:
        """Stop receiving; in-flight batches still commit and delete."""
        self._stop.set()

    def join(self, deadline: float) -> None:
        """Wait for the receivers until the monotonic ``deadline``; then make retries give up."""
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._abort.set()
        for thread in self._threads:
            thread.join(0.5)

    def stop(self, deadline: float) -> None:
        """:meth:`request_stop` then :meth:`join`."""
        self.request_stop()
        self.join(deadline)

    # -- the loop --------------------------------------------------------------------------------

    def _run(self, index: int) -> None:
        if index == 0:
            self.check_redrive()
        failures = 0
        first = True
        while not self._stop.is_set():
            # The first poll is short, so readiness does not wait a whole long poll on an empty queue.
            wait = 0 if first else self.settings.wait_time_seconds
            try:
                self.poll_once(wait)
            except Exception as exc:  # noqa: BLE001 - a receiver must survive any failure and retry
                failures += 1
                delay = self.backoff(failures)
                log_event(
                    log,
                    logging.WARNING,
                    "sqs_poll_failed",
                    target=self.target,
                    error=_describe(exc),
                    failures=failures,
                    retry_in=round(delay, 2),
                )
                self._stop.wait(delay)
            else:
                failures = 0
                first = False

    def poll_once(self, wait_seconds: int) -> int:
        """One receive, then process and delete what came; return the number of messages received.

        Raises when the receive fails (after botocore's own retries) or the batch cannot be stored;
        the source is then marked down until the next successful receive.
        """
        started = time.monotonic()
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=MAX_MESSAGES,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=self.settings.visibility_timeout_seconds,
                MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
            )
        except Exception as exc:
            self.health.failure(SOURCE, self.target, self.clock(), time.monotonic() - started, _describe(exc))
            raise
        self.health.success(SOURCE, self.target, self.clock(), time.monotonic() - started)
        messages = response.get("Messages") or []
        if messages:
            self.handle(messages)
        return len(messages)

    def handle(self, messages: Sequence[MessageTypeDef]) -> None:
        """Store a received batch in one transaction, then delete what may go."""
        batch = [
            Message(str(m.get("MessageId", "")), m.get("Body") or "", _sent_timestamp(m)) for m in messages
        ]
        results = self.ingest.process(batch, self.clock())
        keep_invalid = self.settings.on_invalid == "keep"
        deletable = [
            m for m, result in zip(messages, results, strict=True) if not (result.invalid and keep_invalid)
        ]
        if deletable:
            self.delete(deletable)

    def delete(self, messages: Sequence[MessageTypeDef]) -> int:
        """DeleteMessageBatch with per-entry checks; retry entries that failed on AWS's side."""
        pending: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        deleted = 0
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            try:
                response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=pending)
            except Exception as exc:  # noqa: BLE001 - retried below; the messages reappear if it never works
                log_event(log, logging.WARNING, "sqs_delete_failed", target=self.target, error=_describe(exc))
            else:
                deleted += len(response.get("Successful") or [])
                failed = response.get("Failed") or []
                # A sender fault (e.g. an expired receipt handle) will not succeed on retry.
                retry = {f["Id"] for f in failed if not f.get("SenderFault")}
                if failed:
                    log_event(
                        log,
                        logging.WARNING,
                        "sqs_delete_entries_failed",
                        target=self.target,
                        failed=len(failed),
                        codes=sorted({str(f.get("Code", "")) for f in failed}),
                    )
                pending = [e for e in pending if e["Id"] in retry]
            if not pending or attempt == DELETE_ATTEMPTS or self._abort.wait(self.backoff(attempt)):
                break
        self.ingest.record_deleted(deleted)
        if pending:
            # They will be received again and then recorded as duplicates: never counted twice.
            log_event(log, logging.WARNING, "sqs_delete_gave_up", target=self.target, messages=len(pending))
        return deleted

    def check_redrive(self) -> None:
        """Warn once when invalid messages are kept but the queue has no redrive policy (DLQ)."""
        if self.settings.on_invalid != "keep" or self._warned_redrive:
            return
        try:
            attributes = self.client.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["RedrivePolicy"]
            ).get("Attributes", {})
        except Exception as exc:  # noqa: BLE001 - advisory check only
            log_event(log, logging.INFO, "sqs_redrive_check_failed", target=self.target, error=_describe(exc))
            return
        if "RedrivePolicy" not in attributes:
            self._warned_redrive = True
            log_event(
                log,
                logging.WARNING,
                "sqs_no_redrive_policy",
                target=self.target,
                queue=self.settings.queue_name,
                hint="on_invalid is keep: invalid messages return until the queue's retention ends; "
                "attach a dead-letter queue (RedrivePolicy) or set on_invalid: delete",
            )
