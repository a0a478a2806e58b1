"""A lean SQS client for the receive/delete path: SQS's JSON protocol, kept-alive connections.

botocore spends about 0.8 ms of CPU per request on its generic machinery (parameter validation,
shape-driven serialising and parsing, a dozen event hooks), which was most of what the daemon spent
per event. This client keeps what matters from botocore: the session's (refreshable, role-assumed)
credentials, SigV4 signing (sesmon.sources.sigv4: botocore's signature, tested byte for byte, without
its per-request overhead), the endpoint botocore resolved, its "standard" retry policy (the same
retryable errors, throttling detection and jittered exponential backoff) and the request counting
hook's accounting; it builds the JSON body itself, sends it over a kept-alive connection per thread
(sesmon.sources.keepalive) and parses the answer with orjson. Errors are raised as botocore's
``ClientError`` and connection errors, as a boto3 client would raise them, so callers handle both
clients alike. Only the operations the receivers call exist.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import orjson
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError, ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff, RetryContext, RetryPolicy, StandardRetryConditions

from sesmon.sources.keepalive import KeptAliveConnections
from sesmon.sources.sigv4 import PostSigner

if TYPE_CHECKING:
    from botocore.credentials import Credentials

CONTENT_TYPE: Final = "application/x-amz-json-1.0"
TARGET_PREFIX: Final = "AmazonSQS."
# Cap a response body at what SQS can return (10 messages of 256 KiB plus their envelope) with room.
MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024

Recorder = Callable[[str], None]


class SqsJsonClient:
    """ReceiveMessage, DeleteMessageBatch and GetQueueAttributes, thread-safe (one pool, many threads).

    ``client`` is the target's boto3 SQS client: its resolved endpoint, region, operation models and
    credentials are reused, so this client goes wherever that one would and signs as it would.
    ``record(operation)`` is called once per HTTP attempt, retries included (what AWS bills).
    """

    def __init__(
        self,
        client: Any,
        credentials: Credentials,
        *,
        record: Recorder,
        max_attempts: int,
        connect_timeout: float,
        read_timeout: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._endpoint = str(client.meta.endpoint_url).rstrip("/") + "/"
        self._region = str(client.meta.region_name)
        self._model = client.meta.service_model
        self._credentials = credentials
        self._record = record
        self._sleep = sleep
        self._policy = RetryPolicy(
            retry_checker=StandardRetryConditions(max_attempts=max_attempts),
            retry_backoff=ExponentialBackoff(),
        )
        parts = urlsplit(self._endpoint)
        https = parts.scheme == "https"
        self._signer = PostSigner(self._endpoint, "sqs", self._region)
        self._http = KeptAliveConnections(
            parts.hostname or "",
            parts.port or (443 if https else 80),
            tls=ssl.create_default_context() if https else None,
            host_header=self._signer.host,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_body=MAX_RESPONSE_BYTES,
        )

    # -- the operations the receivers use (boto3's keyword arguments and response shapes) ---------

    def receive_message(self, **params: Any) -> dict[str, Any]:
        """SQS ReceiveMessage."""
        return self.call("ReceiveMessage", params)

    def delete_message_batch(self, **params: Any) -> dict[str, Any]:
        """SQS DeleteMessageBatch."""
        return self.call("DeleteMessageBatch", params)

    def get_queue_attributes(self, **params: Any) -> dict[str, Any]:
        """SQS GetQueueAttributes."""
        return self.call("GetQueueAttributes", params)

    def close(self) -> None:
        """Close every thread's connection."""
        self._http.close()

    # -- one call, with botocore's retry policy ---------------------------------------------------

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``params``; return the parsed answer or raise as botocore would."""
        body = orjson.dumps(params)
        attempt = 1
        while True:
            status, parsed, http, caught = self._attempt(operation, body)
            if status == 200 and parsed is not None:
                return parsed
            context = RetryContext(
                attempt_number=attempt,
                operation_model=self._model.operation_model(operation),
                parsed_response=parsed,
                http_response=http,
                caught_exception=caught,
            )
            if not self._policy.should_retry(context):
                if caught is not None:
                    raise caught
                raise ClientError(parsed or {}, operation)  # type: ignore[arg-type]
            self._sleep(self._policy.compute_retry_delay(context))
            attempt += 1

    def _attempt(
        self, operation: str, body: bytes
    ) -> tuple[int, dict[str, Any] | None, AWSResponse | None, Exception | None]:
        # Frozen per attempt: a refresh (role credentials, about hourly) happens here, between requests.
        headers = self._signer.headers(
            self._credentials.get_frozen_credentials(),
            body,
            {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET_PREFIX + operation},
        )
        self._record(operation)
        try:
            response = self._http.post(self._signer.path, headers, body)
        except TimeoutError as exc:
            return 0, None, None, ReadTimeoutError(endpoint_url=self._endpoint, error=exc)
        except (ConnectionRefusedError, socket.gaierror) as exc:
            return 0, None, None, EndpointConnectionError(endpoint_url=self._endpoint, error=exc)
        except (OSError, http.client.HTTPException) as exc:
            return 0, None, None, HTTPClientError(error=exc)
        if response.status == 200:
            try:
                return 200, orjson.loads(response.body) if response.body else {}, None, None
            except orjson.JSONDecodeError as exc:
                return 0, None, None, HTTPClientError(error=exc)
        received = response.headers
        http_response = AWSResponse(
            self._endpoint, response.status, HTTPHeaders.from_pairs(list(received.items())), None
        )
        return response.status, _error(response.status, bytes(response.body), received), http_response, None


def _error(status: int, data: bytes, headers: Any) -> dict[str, Any]:
    """botocore's parsed shape of a JSON-protocol error: ``{"Error": {"Code", "Message"}, ...}``."""
    try:
        doc = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    # "__type" is "com.amazonaws.sqs#QueueDoesNotExist" (or just the code); the query-compatible
    # header carries the older "AWS.SimpleQueueService.NonExistentQueue;Sender" form.
    code = str(doc.get("__type") or doc.get("code") or status).rsplit("#", 1)[-1]
    compatible = headers.get("x-amzn-query-error") if headers is not None else None
    if compatible:
        code = str(compatible).split(";", 1)[0]
    message = str(doc.get("message") or doc.get("Message") or "")
    return {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(headers or {})},
    }
