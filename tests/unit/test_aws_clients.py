"""AwsClients: retry/timeout config, cached clients, request counting (retries included), account id.

Responses come from ``before-send`` hooks, so no request leaves the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff

from sesmon import redact
from sesmon.config import TargetConfig
from sesmon.sources.aws import SQS_MAX_WAIT_SECONDS, ApiCallCounter, AwsClients

IDENTITY_XML = b"""<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::210987654321:user/x</Arn><UserId>AIDX</UserId>
<Account>210987654321</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"""


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_kwargs: Any) -> Iterator[bytes]:
        yield self._data


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # Retries still happen and are counted; only the waits between them are skipped.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda _self, _context: 0.0)


def target(**extra: Any) -> TargetConfig:
    return TargetConfig.model_validate(
        {"name": "t", "region": "eu-west-1", "endpoint_url": "http://127.0.0.1:9", **extra}
    )


def scripted(statuses: list[int]) -> Any:
    """A before-send hook answering with ``statuses`` in turn (5xx bodies empty, 200 an identity)."""
    calls = iter(statuses)

    def answer(request: Any, **_kwargs: Any) -> AWSResponse:
        status = next(calls)
        body = IDENTITY_XML if status == 200 else b""
        return AWSResponse(request.url, status, HTTPHeaders(), _Body(body))

    return answer


def test_config_outlasts_the_sqs_long_poll_and_uses_standard_retries() -> None:
    clients = AwsClients(target(), ApiCallCounter())
    config: Any = clients.config  # botocore's stubs do not declare these attributes
    assert config.read_timeout > SQS_MAX_WAIT_SECONDS
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert config.region_name == "eu-west-1"
    assert clients.client("sqs").meta.endpoint_url == "http://127.0.0.1:9"


def test_clients_are_cached_per_service_across_threads() -> None:
    clients = AwsClients(target(), ApiCallCounter())
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(clients.client("sesv2"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in seen}) == 1
    assert clients.client("cloudwatch") is not seen[0]


def test_every_attempt_is_counted_and_the_account_id_is_cached() -> None:
    counter = ApiCallCounter()
    clients = AwsClients(target(), counter)
    clients.client("sts").meta.events.register("before-send.sts.GetCallerIdentity", scripted([503, 500, 200]))
    assert clients.account_id() == "210987654321"
    assert clients.account_id() == "210987654321"
    assert counter.snapshot() == {("sts", "GetCallerIdentity"): 3}
    assert counter.by_target() == {("t", "sts", "GetCallerIdentity"): 3}


def test_a_failed_lookup_is_retried_on_the_next_call() -> None:
    counter = ApiCallCounter()
    clients = AwsClients(target(), counter)
    clients.client("sts").meta.events.register(
        "before-send.sts.GetCallerIdentity", scripted([503, 503, 503, 200])
    )
    with pytest.raises(ClientError, match="GetCallerIdentity"):
        clients.account_id()
    assert clients.account_id() == "210987654321"
    assert counter.total() == 4


def test_external_id_is_treated_as_a_secret() -> None:
    AwsClients(
        target(role_arn="arn:aws:iam::210987654321:role/r", external_id="very-private-id"),
        ApiCallCounter(),
    )
    assert redact.redact("id very-private-id here") == "id *** here"
