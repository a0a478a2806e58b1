"""HTTP sinks (webhook, Slack, PagerDuty, Alertmanager): send one notification, classify the answer.

Classification: 2xx delivered; 408, 429, 5xx, timeouts and connection errors are retryable (with the
``Retry-After`` the receiver asked for); any other status is permanent. Error texts name the sink and
the failure kind only: sink URLs carry tokens, so neither the URL nor httpx's own messages (which
quote it) ever reach an error string.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx
import orjson

from sesmon import __version__, redact
from sesmon.alerts.render import (
    PAGERDUTY_URL,
    alertmanager_payload,
    pagerduty_payload,
    slack_payload,
    webhook_payload,
)
from sesmon.config import SinkConfig
from sesmon.rules import Notification

# A Retry-After beyond this is treated as this: the outbox's own age limit decides when to stop.
MAX_RETRY_AFTER = 3600.0
SIGNATURE_HEADER = "X-Sesmon-Signature"
TIMESTAMP_HEADER = "X-Sesmon-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one delivery attempt achieved."""

    ok: bool
    retryable: bool = False
    retry_after: float | None = None
    error: str = ""
    status: int | None = None


class Sink(Protocol):
    """One configured notification receiver."""

    config: SinkConfig

    def send(self, notification: Notification, now: float) -> SendResult:
        """Deliver ``notification``; never raises for HTTP or network failures."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Sesmon-Signature`` value: ``sha256=`` + hex HMAC-SHA256 over ``timestamp.body``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, when - now), MAX_RETRY_AFTER)


class HttpSink:
    """Shared HTTP plumbing: one pooled client per sink, redacted errors, response classification."""

    def __init__(self, config: SinkConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self._client = client or httpx.Client(
            timeout=config.timeout,
            follow_redirects=False,
            headers={"User-Agent": f"sesmon/{__version__}"},
        )
        secrets = [config.url, config.secret, config.routing_key]
        self._secrets = frozenset(s.get_secret_value() for s in secrets if s is not None)
        redact.register(*self._secrets)

    def send(self, notification: Notification, now: float) -> SendResult:
        """Implemented by each sink type."""
        raise NotImplementedError

    def close(self) -> None:
        self._client.close()

    def _post(self, url: str, body: bytes, headers: Mapping[str, str], now: float) -> SendResult:
        try:
            response = self._client.post(
                url, content=body, headers={"Content-Type": "application/json", **headers}
            )
        except httpx.TimeoutException as exc:
            return self._failure(True, f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return self._failure(True, f"connection failed ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return self._failure(False, f"request failed ({type(exc).__name__})")
        code = response.status_code
        if 200 <= code < 300:
            return SendResult(ok=True, status=code)
        retryable = code in (408, 429) or code >= 500
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now) if retryable else None
        return self._failure(retryable, f"HTTP {code}", retry_after, code)

    def _failure(
        self, retryable: bool, error: str, retry_after: float | None = None, status: int | None = None
    ) -> SendResult:
        text = redact.redact(f"sink {self.config.name}: {error}", self._secrets)
        return SendResult(ok=False, retryable=retryable, retry_after=retry_after, error=text, status=status)


def _secret(value: Any) -> str:
    return str(value.get_secret_value()) if value is not None else ""


class WebhookSink(HttpSink):
    """Generic webhook: Alertmanager-style JSON, signed with HMAC-SHA256 when ``secret`` is set."""

    def send(self, notification: Notification, now: float) -> SendResult:
        body = orjson.dumps(webhook_payload(notification, receiver=self.config.name))
        timestamp = str(int(now))
        headers = {IDEMPOTENCY_HEADER: notification.id, TIMESTAMP_HEADER: timestamp}
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.config.secret.get_secret_value(), timestamp, body)
        return self._post(_secret(self.config.url), body, headers, now)


class SlackSink(HttpSink):
    """Slack incoming webhook with Block Kit blocks."""

    def send(self, notification: Notification, now: float) -> SendResult:
        body = orjson.dumps(slack_payload(notification))
        return self._post(_secret(self.config.url), body, {}, now)


class PagerDutySink(HttpSink):
    """PagerDuty Events API v2: trigger while firing, resolve when resolved, one dedup_key per episode."""

    def send(self, notification: Notification, now: float) -> SendResult:
        body = orjson.dumps(pagerduty_payload(notification, _secret(self.config.routing_key)))
        url = _secret(self.config.url) or PAGERDUTY_URL
        return self._post(url, body, {}, now)


class AlertmanagerSink(HttpSink):
    """Alertmanager ``POST /api/v2/alerts``; firing alerts are also re-posted by the periodic refresh."""

    def api_url(self) -> str:
        base = _secret(self.config.url).rstrip("/")
        return base if base.endswith("/api/v2/alerts") else base + "/api/v2/alerts"

    def send(self, notification: Notification, now: float) -> SendResult:
        return self.send_batch([notification], now)

    def send_batch(self, notifications: Sequence[Notification], now: float) -> SendResult:
        """Post several alerts in one request (the refresh of every firing alert)."""
        body = orjson.dumps(alertmanager_payload(notifications, now))
        return self._post(self.api_url(), body, {}, now)


_TYPES: dict[str, type[HttpSink]] = {
    "webhook": WebhookSink,
    "slack": SlackSink,
    "pagerduty": PagerDutySink,
    "alertmanager": AlertmanagerSink,
}


def build_sink(config: SinkConfig, client: httpx.Client | None = None) -> Sink:
    """The sink implementation for ``config.type``."""
    return _TYPES[config.type](config, client)


def build_sinks(configs: Sequence[SinkConfig]) -> dict[str, Sink]:
    """Sink name → sink, in configuration order."""
    return {c.name: build_sink(c) for c in configs}
