"""The receivers' lean SQS client: SQS's JSON protocol against moto, botocore's retries and errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from sesmon.config import TargetConfig
from sesmon.sources.aws import ApiCallCounter, AwsClients
from tests.conftest import MotoServer


def _clients(endpoint: str, counter: ApiCallCounter, queue_url: str = "") -> AwsClients:
    url = queue_url or f"{endpoint}/123456789012/q"
    target = TargetConfig.model_validate(
        {"name": "t", "region": "us-east-1", "endpoint_url": endpoint, "sqs": {"queue_url": url}}
    )
    return AwsClients(target, counter)


def test_receive_delete_and_attributes_against_moto(moto_server: MotoServer) -> None:
    counter = ApiCallCounter()
    clients = _clients(moto_server.endpoint_url, counter)
    boto = clients.client("sqs")
    url = boto.create_queue(QueueName="lean")["QueueUrl"]
    boto.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"body-{i}"} for i in range(3)]
    )
    lean = clients.sqs_receiver()
    got = lean.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageSystemAttributeNames=["SentTimestamp"]
    )["Messages"]
    assert sorted(m["Body"] for m in got) == ["body-0", "body-1", "body-2"]
    assert all("SentTimestamp" in m["Attributes"] for m in got)
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
    deleted = lean.delete_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(s["Id"] for s in deleted["Successful"]) == ["0", "1", "2"]
    attrs = lean.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    calls = {op: n for (service, op), n in counter.snapshot().items() if service == "sqs"}
    assert calls["ReceiveMessage"] == 1
    assert calls["DeleteMessageBatch"] == 1
    assert calls["GetQueueAttributes"] == 1
    lean.close()


def test_an_aws_error_is_a_client_error_with_its_code(moto_server: MotoServer) -> None:
    clients = _clients(moto_server.endpoint_url, ApiCallCounter())
    lean = clients.sqs_receiver()
    with pytest.raises(ClientError) as caught:
        lean.receive_message(QueueUrl=f"{moto_server.endpoint_url}/123456789012/missing", WaitTimeSeconds=0)
    assert "NonExistentQueue" in caught.value.response["Error"]["Code"]
    lean.close()


class _Flaky(BaseHTTPRequestHandler):
    """Answers the first ``failures`` requests with ``status``, then an empty receive."""

    protocol_version = "HTTP/1.1"
    plan: list[tuple[int, bytes]]
    seen: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({"target": self.headers["X-Amz-Target"], "body": orjson.loads(body)})
        self.seen[-1]["auth"] = self.headers.get("Authorization", "")
        status, payload = self.plan.pop(0) if self.plan else (200, b"{}")
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def flaky() -> Iterator[tuple[str, type[_Flaky]]]:
    handler = type("Handler", (_Flaky,), {"plan": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_server_errors_and_throttling_are_retried_and_every_attempt_counted(
    flaky: tuple[str, type[_Flaky]],
) -> None:
    endpoint, handler = flaky
    throttled = orjson.dumps({"__type": "com.amazonaws.sqs#ThrottlingException", "message": "slow down"})
    handler.plan = [(500, b"{}"), (400, throttled)]
    counter = ApiCallCounter()
    lean = _clients(endpoint, counter).sqs_receiver()
    lean._sleep = lambda _seconds: None  # the backoff's length is botocore's business
    assert lean.receive_message(QueueUrl=f"{endpoint}/123456789012/q", WaitTimeSeconds=0) == {}
    assert counter.snapshot()[("sqs", "ReceiveMessage")] == 3
    assert [s["target"] for s in handler.seen] == ["AmazonSQS.ReceiveMessage"] * 3
    assert handler.seen[0]["body"] == {"QueueUrl": f"{endpoint}/123456789012/q", "WaitTimeSeconds": 0}
    # Signed with SigV4 for SQS in the target's region.
    assert "/us-east-1/sqs/aws4_request" in handler.seen[0]["auth"]
    lean.close()


def test_a_client_error_is_not_retried_and_attempts_stop_at_the_limit(
    flaky: tuple[str, type[_Flaky]],
) -> None:
    endpoint, handler = flaky
    denied = orjson.dumps({"__type": "com.amazon.coral.service#AccessDeniedException", "message": "no"})
    handler.plan = [(400, denied)]
    counter = ApiCallCounter()
    lean = _clients(endpoint, counter).sqs_receiver()
    lean._sleep = lambda _seconds: None
    with pytest.raises(ClientError) as caught:
        lean.receive_message(QueueUrl=f"{endpoint}/123456789012/q")
    assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    assert counter.snapshot()[("sqs", "ReceiveMessage")] == 1
    handler.plan = [(503, b"{}")] * 5
    with pytest.raises(ClientError):
        lean.delete_message_batch(QueueUrl=f"{endpoint}/123456789012/q", Entries=[])
    # botocore's standard mode: three attempts in all (sesmon's default).
    assert counter.snapshot()[("sqs", "DeleteMessageBatch")] == 3
    lean.close()
