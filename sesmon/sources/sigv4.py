"""AWS Signature Version 4 for the lean SQS client's POSTs: botocore's signature, at a fraction of its cost.

botocore's ``SigV4Auth`` spends about 65 µs per request, mostly in its generic machinery: headers kept
in an ``email.message.Message``, the URL split several times, and the signing key derived anew by four
HMACs each time. The receivers sign one shape only (a POST of a JSON body to the endpoint, four
headers), so this signer builds that canonical request directly and derives the key once per day,
region and credentials. It signs exactly what botocore signs, byte for byte (tests/unit/test_sigv4.py
compares the two on the same request, credentials and time); the credentials still come from
botocore's refreshable ``Credentials``, frozen per request by the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Final, Protocol
from urllib.parse import quote, urlsplit

ALGORITHM: Final = "AWS4-HMAC-SHA256"


class FrozenCredentials(Protocol):
    """What a request is signed with: botocore's ``ReadOnlyCredentials`` (``get_frozen_credentials()``)."""

    @property
    def access_key(self) -> str | None: ...
    @property
    def secret_key(self) -> str | None: ...
    @property
    def token(self) -> str | None: ...


class PostSigner:
    """Signs POSTs to one endpoint for one service and region; thread-safe (its cache is one tuple)."""

    def __init__(self, endpoint: str, service: str, region: str) -> None:
        parts = urlsplit(endpoint)
        default_port = 443 if parts.scheme == "https" else 80
        # botocore's host header: the port only when it is not the scheme's default.
        host = parts.hostname or ""
        self.host = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
        # The canonical URI, also the request's path: percent-encoded as botocore does, "/" kept.
        self.path = quote(parts.path or "/", safe="/~")
        self._service = service
        self._region = region
        self._key: tuple[str, str, bytes] = ("", "", b"")  # (date, secret, signing key)

    def headers(
        self, credentials: FrozenCredentials, body: bytes, fixed: dict[str, str], now: float | None = None
    ) -> dict[str, str]:
        """``fixed`` (e.g. Content-Type, X-Amz-Target) plus X-Amz-Date, the token and Authorization.

        Every header sent is signed, as botocore signs every header it sends on this path.
        """
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        headers = dict(fixed)
        headers["X-Amz-Date"] = stamp
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        signed = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
        signed["host"] = self.host
        names = sorted(signed)
        signed_headers = ";".join(names)
        canonical = "\n".join(
            (
                "POST",
                self.path,
                "",
                "".join(f"{name}:{signed[name]}\n" for name in names),
                signed_headers,
                hashlib.sha256(body).hexdigest(),
            )
        )
        date = stamp[:8]
        scope = f"{date}/{self._region}/{self._service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(
            self._signing_key(date, credentials.secret_key or ""), to_sign.encode(), "sha256"
        )
        headers["Authorization"] = (
            f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature.hexdigest()}"
        )
        return headers

    def _signing_key(self, date: str, secret: str) -> bytes:
        cached_date, cached_secret, key = self._key
        if cached_date == date and hmac.compare_digest(cached_secret, secret):
            return key
        key = _hmac(f"AWS4{secret}".encode(), date)
        for part in (self._region, self._service, "aws4_request"):
            key = _hmac(key, part)
        # Replaced whole (one assignment), so a thread never reads a date with another day's key.
        self._key = (date, secret, key)
        return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), "sha256").digest()
