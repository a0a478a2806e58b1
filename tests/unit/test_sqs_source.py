"""The SQS receive loop's outcomes: deletes and their failures, on_invalid, throttling, clean stop."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from sesmon.config import Config
from sesmon.health import SourceHealth
from sesmon.ingest import TargetIngest
from sesmon.sources.sqs import DELETE_ATTEMPTS, DeleteIncomplete, SqsSource
from sesmon.state.sqlite import SqliteState
from tests.sesgen import SesEventGenerator

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

NOW = 1_790_000_000.0
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/ses-events"


def throttled() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "ReceiveMessage"
    )


class FakeSqs:
    """Scripted SQS: each receive pops the next response (a list of messages or an exception)."""

    def __init__(self, redrive: bool = True) -> None:
        self.receives: list[list[dict[str, Any]] | Exception] = []
        self.delete_failures: list[set[str]] = []  # per delete call: message ids that fail (retryable)
        self.deleted: list[str] = []
        self.delete_calls = 0
        self.receive_calls: list[dict[str, Any]] = []
        self.redrive = redrive
        self.gate: threading.Event | None = None
        # Set when a receive starts / when a delete removed something: tests await these.
        self.receiving = threading.Event()
        self.deleted_some = threading.Event()

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.receive_calls.append(kwargs)
        self.receiving.set()
        if self.gate is not None:
            self.gate.wait(5)
        if not self.receives:
            # Stands in for an empty long poll, so an idle receiver loop does not spin.
            time.sleep(0.01)
            return {}
        item = self.receives.pop(0)
        if isinstance(item, Exception):
            raise item
        return {"Messages": item}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.delete_calls += 1
        failing = self.delete_failures.pop(0) if self.delete_failures else set()
        ok, failed = [], []
        for entry in Entries:
            message_id = entry["ReceiptHandle"].removeprefix("rh-")
            if message_id in failing:
                failed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"})
            else:
                ok.append({"Id": entry["Id"]})
                self.deleted.append(message_id)
        if ok:
            self.deleted_some.set()
        return {"Successful": ok, "Failed": failed}

    def get_queue_attributes(self, **kwargs: Any) -> dict[str, Any]:
        return {"Attributes": {"RedrivePolicy": "{}"} if self.redrive else {}}


def sqs_message(message_id: str, body: str) -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"rh-{message_id}",
        "Body": body,
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(int(NOW * 1000))},
    }


@pytest.fixture
def gen() -> SesEventGenerator:
    return SesEventGenerator(seed=2, start=NOW - 600)


def make(
    tmp_path: Path, client: FakeSqs, on_invalid: str = "keep"
) -> tuple[SqsSource, TargetIngest, SourceHealth]:
    config = Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": QUEUE, "on_invalid": on_invalid, "receivers": 1},
                }
            ],
            "state": {"path": str(tmp_path / "s.db")},
        }
    )
    ingest = TargetIngest(config.targets[0], config, SqliteState(config.state.path))
    ingest.restore(NOW)
    health = SourceHealth()
    source = SqsSource(
        target=config.targets[0],
        ingest=ingest,
        client=lambda: cast("SQSClient", client),  # scripted stand-in with the calls the source makes
        health=health,
        clock=lambda: NOW,
        backoff=lambda failures: 0.0,
    )
    return source, ingest, health


def test_a_batch_is_stored_then_deleted(tmp_path: Path, gen: SesEventGenerator) -> None:
    client = FakeSqs()
    source, ingest, health = make(tmp_path, client)
    client.receives.append([sqs_message(f"m{i}", gen.event().body) for i in range(10)])
    assert source.poll_once(20) == 10
    assert client.deleted == [f"m{i}" for i in range(10)]
    counters = ingest.counters()
    assert counters[("sqs", "counted")] == 10
    assert counters[("sqs", "deleted")] == 10
    call = client.receive_calls[0]
    assert call["MaxNumberOfMessages"] == 10
    assert call["WaitTimeSeconds"] == 20
    assert call["MessageSystemAttributeNames"] == ["ApproximateReceiveCount", "SentTimestamp"]
    assert health.all()[0].up


def test_failed_delete_entries_are_retried(tmp_path: Path, gen: SesEventGenerator) -> None:
    client = FakeSqs()
    source, ingest, _ = make(tmp_path, client)
    client.receives.append([sqs_message(f"m{i}", gen.event().body) for i in range(4)])
    client.delete_failures = [{"m1", "m3"}, {"m3"}]
    source.poll_once(20)
    assert client.delete_calls == 3
    assert sorted(client.deleted) == ["m0", "m1", "m2", "m3"]
    assert ingest.counters()[("sqs", "deleted")] == 4


def test_a_message_whose_delete_never_succeeds_comes_back_as_a_duplicate(
    tmp_path: Path, gen: SesEventGenerator
) -> None:
    client = FakeSqs()
    source, ingest, health = make(tmp_path, client)
    body = gen.event("Send").body
    client.receives.append([sqs_message("m1", body)])
    client.delete_failures = [{"m1"}] * DELETE_ATTEMPTS
    with pytest.raises(DeleteIncomplete):
        source.poll_once(20)
    assert client.delete_calls == DELETE_ATTEMPTS  # bounded: the receiver goes back to receiving
    assert client.deleted == []
    assert ingest.counters().get(("sqs", "deleted"), 0) == 0
    status = health.all()[0]
    assert not status.up
    assert "InternalError" in (status.last_error or "")
    client.receives.append([sqs_message("m1", body)])  # the visibility timeout ran out
    source.poll_once(20)
    assert health.all()[0].up
    counters = ingest.counters()
    assert client.deleted == ["m1"]
    assert counters[("sqs", "counted")] == 1
    assert counters[("sqs", "duplicate")] == 1
    assert sum(v for k, v in counters.items() if k[0] == "events") == 1


def test_invalid_kept_by_default_and_not_recounted(tmp_path: Path, gen: SesEventGenerator) -> None:
    client = FakeSqs()
    source, ingest, _ = make(tmp_path, client, on_invalid="keep")
    good = sqs_message("good", gen.event().body)
    bad = sqs_message("bad", '{"Type": "Notification", "Message": "{')
    control = sqs_message(
        "ctl",
        '{"Type": "SubscriptionConfirmation", "MessageId": "x", "Token": "t",'
        ' "SubscribeURL": "https://sns.example/confirm", "TopicArn": "arn:aws:sns:us-east-1:1:t"}',
    )
    client.receives += [[good, bad, control], [bad]]
    source.poll_once(20)
    source.poll_once(20)
    assert sorted(client.deleted) == ["ctl", "good"]
    counters = ingest.counters()
    assert counters[("sqs", "invalid", "truncated")] == 1
    assert counters[("sqs", "duplicate")] == 1
    assert counters[("sqs", "control", "sns_subscription_confirmation")] == 1
    assert counters[("sqs", "received")] == 4


def test_invalid_deleted_when_configured(tmp_path: Path) -> None:
    client = FakeSqs()
    source, ingest, _ = make(tmp_path, client, on_invalid="delete")
    client.receives.append([sqs_message("bad", "[]")])
    source.poll_once(20)
    assert client.deleted == ["bad"]
    assert ingest.counters()[("sqs", "invalid", "not_object")] == 1


def test_throttling_marks_the_source_down_until_the_next_success(
    tmp_path: Path, gen: SesEventGenerator
) -> None:
    client = FakeSqs()
    source, _, health = make(tmp_path, client)
    client.receives += [throttled(), throttled(), [sqs_message("m", gen.event().body)]]
    for _ in range(2):
        with pytest.raises(ClientError):
            source.poll_once(20)
        status = health.all()[0]
        assert not status.up
        assert "ThrottlingException" in (status.last_error or "")
    assert health.all()[0].consecutive_failures == 2
    source.poll_once(20)
    assert health.all()[0].up
    assert health.all()[0].consecutive_failures == 0


def test_the_loop_backs_off_and_recovers(tmp_path: Path, gen: SesEventGenerator) -> None:
    client = FakeSqs()
    source, ingest, health = make(tmp_path, client)
    delays: list[int] = []
    source.backoff = lambda failures: delays.append(failures) or 0.0  # type: ignore[func-returns-value]
    client.receives += [throttled(), throttled(), [sqs_message("m", gen.event().body)]]
    source.start()
    try:
        assert client.deleted_some.wait(60)
    finally:
        source.stop(time.monotonic() + 5)
    assert delays[:2] == [1, 2]
    assert health.all()[0].up
    assert client.deleted == ["m"]
    assert ingest.counters().get(("sqs", "deleted"), 0) == 1


def test_stop_finishes_the_in_flight_batch(tmp_path: Path, gen: SesEventGenerator) -> None:
    client = FakeSqs()
    source, ingest, _ = make(tmp_path, client)
    client.gate = threading.Event()  # the receive is "in flight" until the gate opens
    client.receives.append([sqs_message(f"m{i}", gen.event().body) for i in range(3)])
    source.start()
    assert client.receiving.wait(60)
    source.request_stop()
    client.gate.set()
    source.join(time.monotonic() + 5)
    assert all(not t.is_alive() for t in source._threads)
    assert sorted(client.deleted) == ["m0", "m1", "m2"]
    assert ingest.counters()[("sqs", "counted")] == 3


def test_missing_redrive_policy_is_warned_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = FakeSqs(redrive=False)
    source, _, _ = make(tmp_path, client, on_invalid="keep")
    with caplog.at_level(logging.WARNING, logger="sesmon"):
        source.check_redrive()
        source.check_redrive()
    assert [r.getMessage() for r in caplog.records].count("sqs_no_redrive_policy") == 1


def test_no_redrive_warning_when_invalid_messages_are_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = FakeSqs(redrive=False)
    source, _, _ = make(tmp_path, client, on_invalid="delete")
    caplog.clear()  # opening a new state file is announced; only the redrive check is under test
    with caplog.at_level(logging.WARNING, logger="sesmon"):
        source.check_redrive()
    assert not caplog.records


class RefusingDeletes(FakeSqs):
    """Receives work; every DeleteMessageBatch fails as if the endpoint refused the connection."""

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.delete_calls += 1
        raise EndpointConnectionError(endpoint_url=QueueUrl)


def test_a_refused_delete_is_bounded_and_marks_the_source_down(
    tmp_path: Path, gen: SesEventGenerator
) -> None:
    client = RefusingDeletes()
    source, ingest, health = make(tmp_path, client)
    body = gen.event().body
    client.receives.append([sqs_message("m1", body)])
    with pytest.raises(DeleteIncomplete):
        source.poll_once(20)
    assert client.delete_calls == DELETE_ATTEMPTS
    status = health.all()[0]
    assert not status.up
    assert "EndpointConnectionError" in (status.last_error or "")
    assert ingest.counters()[("sqs", "counted")] == 1  # stored before the delete: nothing lost
    assert ingest.counters()[("sqs", "deleted")] == 0


def test_a_failed_commit_marks_the_source_down_and_deletes_nothing(
    tmp_path: Path, gen: SesEventGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = FakeSqs()
    source, ingest, health = make(tmp_path, client)

    def disk_full(*_args: object, **_kwargs: object) -> list[bool]:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ingest.store, "ingest_apply_batch", disk_full)
    client.receives.append([sqs_message("m1", gen.event().body)])
    with pytest.raises(sqlite3.OperationalError):
        source.poll_once(20)
    assert client.delete_calls == 0
    status = health.all()[0]
    assert not status.up
    assert "database or disk is full" in (status.last_error or "")
    assert health.pending() == [f"sqs/prod (last error: {status.last_error})"]


def test_an_empty_receive_is_a_successful_cycle(tmp_path: Path) -> None:
    client = FakeSqs()
    source, _, health = make(tmp_path, client)
    health.expect("sqs", "prod")
    assert health.pending() == ["sqs/prod (no successful cycle yet)"]
    assert source.poll_once(0) == 0
    assert health.pending() == []
    assert health.all()[0].up


class CountingIngest:
    """Counts the commits (``process`` calls) of the wrapped ingestion and their sizes."""

    def __init__(self, ingest: TargetIngest) -> None:
        self.ingest = ingest
        self.sizes: list[int] = []

    def process(self, messages: Any, now: float, **kwargs: Any) -> Any:
        self.sizes.append(len(messages))
        return self.ingest.process(messages, now, **kwargs)

    def record_undeleted(self, count: int, slot: int = 0) -> None:
        self.ingest.record_undeleted(count, slot)


def script_receives(client: FakeSqs, sizes: Sequence[int]) -> None:
    """Queue one receive per size, of valid events all in the past (so every message may go)."""
    gen = SesEventGenerator(seed=3, start=NOW - 600, spread=500)
    for r, size in enumerate(sizes):
        client.receives.append([sqs_message(f"m{r}-{i}", gen.event().body) for i in range(size)])


def test_a_backlog_is_gathered_into_one_commit_and_deleted_ten_at_a_time(tmp_path: Path) -> None:
    client = FakeSqs()
    source, ingest, health = make(tmp_path, client)
    commits = CountingIngest(ingest)
    source.ingest = commits
    deletes: list[list[str]] = []
    delete = client.delete_message_batch

    def recording_delete(QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        deletes.append([e["Id"] for e in Entries])
        return delete(QueueUrl=QueueUrl, Entries=Entries)

    client.delete_message_batch = recording_delete  # type: ignore[method-assign]
    script_receives(client, [10] * 25)
    assert source.poll_once(20) == 100
    assert commits.sizes == [100]
    # The first receive long-polls; the gathering ones do not wait.
    assert [c["WaitTimeSeconds"] for c in client.receive_calls] == [20] + [0] * 9
    assert [len(ids) for ids in deletes] == [10] * 10
    assert len({i for ids in deletes for i in ids}) == 100  # ids unique across the batch's requests
    assert len(client.deleted) == 100
    assert ingest.counters()[("sqs", "deleted")] == 100
    assert health.all()[0].up
    assert len(client.receives) == 15
    assert source.poll_once(20) == 100
    assert source.poll_once(20) == 50
    # sesmon_sqs_batch_messages: two batches of 100 (le=100) and one of 50 (le=50), 250 in all.
    readout = ingest.readout(NOW)
    assert readout.batch_counts == [0, 0, 0, 0, 1, 2, 0, 0, 0, 0]
    assert readout.batch_sum == 250


def test_a_short_receive_ends_the_gathering(tmp_path: Path) -> None:
    client = FakeSqs()
    source, ingest, _ = make(tmp_path, client)
    commits = CountingIngest(ingest)
    source.ingest = commits
    script_receives(client, (10, 10, 3, 10))
    assert source.poll_once(20) == 23
    assert commits.sizes == [23]
    assert len(client.receives) == 1
    assert ingest.counters()[("sqs", "deleted")] == 23


def test_a_failed_receive_while_gathering_stores_and_deletes_what_was_gathered(tmp_path: Path) -> None:
    client = FakeSqs()
    source, ingest, health = make(tmp_path, client)
    script_receives(client, [10])
    client.receives.append(throttled())
    with pytest.raises(ClientError):
        source.poll_once(20)
    assert sorted(client.deleted) == sorted(f"m0-{i}" for i in range(10))
    counters = ingest.counters()
    assert counters[("sqs", "counted")] == 10
    assert counters[("sqs", "deleted")] == 10
    status = health.all()[0]
    assert not status.up
    assert "ThrottlingException" in (status.last_error or "")


def test_a_delete_call_that_fails_whole_defers_the_rest_of_the_batch_to_the_next_attempt(
    tmp_path: Path,
) -> None:
    client = FakeSqs()
    source, ingest, _ = make(tmp_path, client)
    script_receives(client, [10] * 3)
    sizes: list[int] = []
    delete = client.delete_message_batch

    def unreachable_once(QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        sizes.append(len(Entries))
        if len(sizes) == 1:
            raise EndpointConnectionError(endpoint_url="https://sqs.us-east-1.amazonaws.com")
        return delete(QueueUrl=QueueUrl, Entries=Entries)

    client.delete_message_batch = unreachable_once  # type: ignore[method-assign]
    assert source.poll_once(20) == 30
    # Attempt 1: the first request fails whole, the other two wait; attempt 2: all three go.
    assert sizes == [10, 10, 10, 10]
    assert len(client.deleted) == 30
    assert ingest.counters()[("sqs", "deleted")] == 30


def test_gathering_stops_after_a_second_however_full_the_receives(tmp_path: Path) -> None:
    client = FakeSqs()
    source, ingest, _ = make(tmp_path, client)
    commits = CountingIngest(ingest)
    source.ingest = commits
    elapsed = [0.0]
    source.monotonic = lambda: elapsed[0]
    receive = client.receive_message

    def slow_receive(**kwargs: Any) -> dict[str, Any]:
        elapsed[0] += 0.4  # a slow endpoint: each receive takes 0.4 s
        return receive(**kwargs)

    client.receive_message = slow_receive  # type: ignore[method-assign]
    script_receives(client, [10] * 10)
    # The cycle starts at 0 s and its first receive ends at 0.4 s; gathering may start receives
    # until 1 s: those ending at 0.8 and 1.2 s. Then the batch commits, 30 of the 100 waiting.
    assert source.poll_once(20) == 30
    assert commits.sizes == [30]
