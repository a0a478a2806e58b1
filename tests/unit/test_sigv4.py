"""The lean SigV4 signer signs exactly what botocore's SigV4Auth signs, on the receivers' requests."""

from __future__ import annotations

import datetime
import threading

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from sesmon.sources.sigv4 import FrozenCredentials, PostSigner

Creds = ReadOnlyCredentials  # what botocore's get_frozen_credentials() returns

WHEN = datetime.datetime(2026, 12, 1, 17, 30, 5, tzinfo=datetime.UTC)
FIXED = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ReceiveMessage"}
BODY = b'{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/q","MaxNumberOfMessages":10}'


def botocore_headers(
    endpoint: str, region: str, credentials: FrozenCredentials, body: bytes, when: datetime.datetime
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=endpoint, data=body, headers=dict(FIXED))
    frozen = Creds(credentials.access_key, credentials.secret_key, credentials.token)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("botocore.auth.get_current_datetime", lambda: when.replace(tzinfo=None))
        SigV4Auth(frozen, "sqs", region).add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("endpoint", "region"),
    [
        ("https://sqs.us-east-1.amazonaws.com/", "us-east-1"),
        ("https://sqs.eu-west-1.amazonaws.com:443/", "eu-west-1"),
        ("http://127.0.0.1:4566/", "us-east-1"),
        ("https://vpce-0a1b-sqs.sqs.us-west-2.vpce.amazonaws.com/sqs/", "us-west-2"),
        ("http://localhost:80/a path/", "ap-south-1"),
    ],
)
@pytest.mark.parametrize(
    "credentials",
    [
        Creds("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None),
        Creds("ASIAEXAMPLE", "secret/with+chars", "FwoGZXIvYXdzE  token//with spaces=="),
    ],
)
def test_signature_and_headers_match_botocore(
    endpoint: str, region: str, credentials: FrozenCredentials
) -> None:
    signer = PostSigner(endpoint, "sqs", region)
    for body in (BODY, b"{}", '{"QueueUrl":"é"}'.encode()):
        ours = signer.headers(credentials, body, FIXED, now=WHEN.timestamp())
        theirs = botocore_headers(endpoint, region, credentials, body, WHEN)
        assert ours == theirs


def test_the_signing_key_follows_the_day_and_the_credentials() -> None:
    endpoint = "https://sqs.us-east-1.amazonaws.com/"
    signer = PostSigner(endpoint, "sqs", "us-east-1")
    first = Creds("AKID1", "secret-one", None)
    rotated = Creds("AKID2", "secret-two", "token")
    next_day = WHEN + datetime.timedelta(days=1)
    # Interleaved: a cached key must never sign for another day or another secret.
    for creds, when in (
        (first, WHEN),
        (first, next_day),
        (rotated, next_day),
        (first, WHEN),
        (rotated, WHEN),
    ):
        ours = signer.headers(creds, BODY, FIXED, now=when.timestamp())
        assert ours == botocore_headers(endpoint, "us-east-1", creds, BODY, when)


def test_threads_sign_concurrently_without_mixing_keys() -> None:
    endpoint = "https://sqs.us-east-1.amazonaws.com/"
    signer = PostSigner(endpoint, "sqs", "us-east-1")
    cases = [
        (Creds(f"AKID{i}", f"secret-{i}", None), WHEN + datetime.timedelta(days=i % 3)) for i in range(6)
    ]
    expected = {i: botocore_headers(endpoint, "us-east-1", c, BODY, w) for i, (c, w) in enumerate(cases)}
    wrong: list[int] = []

    def sign(i: int) -> None:
        creds, when = cases[i]
        for _ in range(200):
            if signer.headers(creds, BODY, FIXED, now=when.timestamp()) != expected[i]:
                wrong.append(i)

    threads = [threading.Thread(target=sign, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
