"""SQS long-poll receivers: receive a batch, store its effect in one transaction, then delete it."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from sesmon import redact
from sesmon.batch import Message, Processed, should_delete
from sesmon.config import TargetConfig
from sesmon.health import Heartbeats, SourceHealth
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
# The outer loop's longest wait between failed cycles. botocore's own retries back off to 20 s at
# most; waiting longer here only delays noticing that SQS is back (the source stays down meanwhile),
# and two receivers polling every 20 s during an outage cost nothing worth saving.
MAX_BACKOFF = 20.0
# A failing DeleteMessageBatch is retried only briefly: each call already carries botocore's own
# retries, and a receiver stuck in delete() receives nothing. What is not deleted comes back after
# the visibility timeout and is then recorded as a duplicate, so giving up loses nothing.
DELETE_ATTEMPTS = 3
DELETE_BACKOFF_CAP = 2.0
# How long a receiver keeps gathering a backlog, from the start of its first receive: against SQS a
# receive takes tens of milliseconds, so this rarely limits a gathered batch there, but a slow
# endpoint must not hold received messages uncommitted (and undeleted) for long, nor delay the
# cycle's outcome.
GATHER_SECONDS = 1.0
# Longest silence of a healthy receiver loop: a long poll plus a receive and a delete that each
# exhaust botocore's attempts against its timeouts, plus the longest backoff. Beyond it the loop is
# wedged (/healthz), which no AWS outage causes: each failed call and each backoff is a beat.
RECEIVER_STALL_SECONDS = 300.0


class DeleteIncomplete(Exception):  # noqa: N818 - reads as the condition it reports
    """Some messages of a stored batch could not be deleted; they return and count as duplicates."""

    def __init__(self, undeleted: int, reason: str) -> None:
        super().__init__(f"{undeleted} message(s) not deleted: {reason}")
        self.undeleted = undeleted


class BatchHandler(Protocol):
    """What a receiver hands its batches to (``ingest.TargetIngest``); the seam keeps ``sources/``
    free of any import of ``ingest``."""

    def process(
        self, messages: Sequence[Message], now: float, *, keep_invalid: bool | None = None, slot: int = 0
    ) -> Sequence[Processed]:
        """Durably store one batch's effect, counting the messages the receiver in ``slot`` is about
        to delete under the ``on_invalid`` policy (``keep_invalid``); one outcome per message."""
        ...

    def record_undeleted(self, count: int, slot: int = 0) -> None:
        """Take back ``count`` messages of that slot's last batch whose delete failed."""
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

    Per batch: parse → one store transaction (counts, dedup keys, and the messages about to be
    deleted) → DeleteMessageBatch, checking each entry's ``Failed``. A message is deleted only after
    its effect committed; one whose delete fails comes back later and is then recorded as a
    duplicate. Invalid bodies are kept for the queue's redrive policy (``on_invalid: keep``) or
    deleted (``delete``). The source is up only while whole cycles succeed: a receive whose commit
    or delete failed marks it down with the reason.
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
        heartbeats: Heartbeats | None = None,
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
        self.monotonic = time.monotonic  # the gathering's clock (tests replace it)
        self.heartbeats = heartbeats or Heartbeats()
        self._stop = threading.Event()
        # Set when the stop deadline has passed: in-flight retries give up instead of waiting.
        self._abort = threading.Event()
        self._threads: list[threading.Thread] = []
        self._warned_redrive = False
        # Set while a received batch failed to commit or delete and has not gone through since.
        self._unsettled = threading.Event()

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
            name = self._receiver_name(index)
            self.heartbeats.register(name, RECEIVER_STALL_SECONDS + self.settings.wait_time_seconds)
            thread = threading.Thread(target=self._run, args=(index, name), name=name, daemon=True)
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

    def _run(self, index: int, name: str) -> None:
        try:
            if index == 0:
                self.check_redrive()
            self._loop(index, name)
        finally:
            self.heartbeats.unregister(name)

    def _loop(self, index: int, name: str) -> None:
        failures = 0
        first = True
        while not self._stop.is_set():
            self.heartbeats.beat(name)
            # The first poll is short, so readiness does not wait a whole long poll on an empty queue.
            wait = 0 if first else self.settings.wait_time_seconds
            try:
                self.poll_once(wait, slot=index)
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
                self.heartbeats.beat(name)  # a failed cycle is progress: AWS being down is not a wedge
                self._stop.wait(delay)
            else:
                failures = 0
                first = False

    def poll_once(self, wait_seconds: int, slot: int = 0) -> int:
        """One whole cycle: receive, store, delete; return the number of messages received.

        Only a cycle that received, committed and deleted everything it had to counts as a success
        of the source. Raises when the receive, the commit or the delete fails (after the retries
        of each); the source is then down with that reason until a cycle succeeds.
        """
        started = self.monotonic()
        messages: list[MessageTypeDef] = []
        try:
            messages += self._receive(wait_seconds)
            # Counted from the first receive's start: one that waited in a long poll found the
            # queue empty, which is no backlog to gather.
            gathered = self._gather(messages, slot, started + GATHER_SECONDS)
            if messages:
                self.handle(messages, slot)
            if gathered is not None:
                raise gathered
        except Exception as exc:
            if messages:
                self._unsettled.set()
            self._failed(started, exc)
            raise
        if messages:
            self._unsettled.clear()
        elif self._unsettled.is_set():
            # Messages whose commit or delete failed come back after their visibility timeout; an
            # empty receive meanwhile proves nothing, so the source stays down until a batch goes
            # through whole.
            return 0
        self.health.success(SOURCE, self.target, self.clock(), self.monotonic() - started)
        return len(messages)

    def _receiver_name(self, slot: int) -> str:
        return f"sesmon-sqs-{self.target}-{slot}"

    def _receive(self, wait_seconds: int) -> list[MessageTypeDef]:
        response = self.client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=MAX_MESSAGES,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=self.settings.visibility_timeout_seconds,
            MessageSystemAttributeNames=SYSTEM_ATTRIBUTES,
        )
        return list(response.get("Messages") or [])

    def _gather(self, messages: list[MessageTypeDef], slot: int, until: float) -> Exception | None:
        """Under a backlog, add more receives to ``messages`` for one commit; return a receive's error.

        A full receive says more messages are waiting, so the receiver asks again without waiting,
        up to ``commit_messages`` and until ``until`` (GATHER_SECONDS): one commit (one fsync) then
        stores up to 100 messages instead of 10. A short or empty receive ends the gathering, so a
        trickle commits at once and a quiet queue costs no extra request. A failed receive ends it
        too: what was gathered is stored and deleted first, then the error is the cycle's.
        """
        last = len(messages)
        while last == MAX_MESSAGES and len(messages) < self.settings.commit_messages:
            if self._stop.is_set() or self.monotonic() >= until:
                return None
            self.heartbeats.beat(self._receiver_name(slot))  # each request is progress (/healthz)
            try:
                more = self._receive(0)
            except Exception as exc:  # noqa: BLE001 - raised by poll_once after the gathered batch
                return exc
            messages += more
            last = len(more)
        return None

    def _failed(self, started: float, exc: BaseException) -> None:
        self.health.failure(SOURCE, self.target, self.clock(), self.monotonic() - started, _describe(exc))

    def handle(self, messages: Sequence[MessageTypeDef], slot: int = 0) -> None:
        """Store a received batch in one transaction, then delete what may go.

        The transaction also counts the messages about to be deleted (sesmon_sqs_messages_deleted_total),
        so that count survives a crash with the batch; a delete that then fails is taken back.
        """
        batch = [
            Message(str(m.get("MessageId", "")), m.get("Body") or "", _sent_timestamp(m)) for m in messages
        ]
        keep_invalid = self.settings.on_invalid == "keep"
        results = self.ingest.process(batch, self.clock(), keep_invalid=keep_invalid, slot=slot)
        deletable = [
            m for m, result in zip(messages, results, strict=True) if should_delete(result, keep_invalid)
        ]
        if deletable:
            self.delete(deletable, slot)

    def delete(self, messages: Sequence[MessageTypeDef], slot: int = 0) -> int:
        """DeleteMessageBatch with per-entry checks; return how many were deleted.

        Entries that failed on AWS's side are retried a few times with a short, capped backoff (the
        whole call is bounded: see DELETE_ATTEMPTS); the source is marked down from the first failed
        attempt. Raises :class:`DeleteIncomplete` when messages remain undeleted, after telling the
        ingestion to take them back out of the deleted count.
        """
        started = self.monotonic()
        # Ids are unique within the whole batch (a gathered batch spans several requests of 10).
        pending: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        deleted = 0
        reason = ""
        for attempt in range(1, DELETE_ATTEMPTS + 1):
            retry: set[str] = set()
            for first in range(0, len(pending), MAX_MESSAGES):
                self.heartbeats.beat(self._receiver_name(slot))
                done, again, reason, raised = self._delete_chunk(
                    pending[first : first + MAX_MESSAGES], started, reason
                )
                deleted += done
                retry |= again
                if raised or self._abort.is_set():
                    # A call that failed whole (after botocore's retries) says SQS is unreachable or
                    # refusing: the rest waits for the next attempt, so an attempt costs one such
                    # failure, not one per 10 messages.
                    retry.update(e["Id"] for e in pending[first + MAX_MESSAGES :])
                    break
            pending = [e for e in pending if e["Id"] in retry]
            if not pending or attempt == DELETE_ATTEMPTS:
                break
            if self._abort.wait(min(DELETE_BACKOFF_CAP, self.backoff(attempt))):
                break
        undeleted = len(messages) - deleted
        if undeleted:
            self.ingest.record_undeleted(undeleted, slot)
            # They will be received again and then recorded as duplicates: never counted twice.
            log_event(log, logging.WARNING, "sqs_delete_gave_up", target=self.target, messages=undeleted)
            raise DeleteIncomplete(undeleted, reason)
        return deleted

    def _delete_chunk(
        self, entries: list[DeleteMessageBatchRequestEntryTypeDef], started: float, reason: str
    ) -> tuple[int, set[str], str, bool]:
        """One DeleteMessageBatch of at most 10: (deleted, ids worth retrying, the latest reason,
        whether the call itself failed)."""
        try:
            response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as exc:  # noqa: BLE001 - retried by delete(); the messages reappear if it never works
            reason = _describe(exc)
            log_event(log, logging.WARNING, "sqs_delete_failed", target=self.target, error=reason)
            self._failed(started, exc)
            return 0, {e["Id"] for e in entries}, reason, True
        failed = response.get("Failed") or []
        if failed:
            codes = sorted({str(f.get("Code", "")) for f in failed})
            reason = f"DeleteMessageBatch entries failed: {', '.join(codes)}"
            log_event(
                log,
                logging.WARNING,
                "sqs_delete_entries_failed",
                target=self.target,
                failed=len(failed),
                codes=codes,
            )
        # A sender fault (e.g. an expired receipt handle) will not succeed on retry.
        retry = {str(f["Id"]) for f in failed if not f.get("SenderFault")}
        return len(response.get("Successful") or []), retry, reason, False

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
