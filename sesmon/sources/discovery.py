"""SES configuration-set discovery per target: cached, refreshed every 15 minutes, at most 1 call/s."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from sesmon.config import TargetConfig
from sesmon.logs import get_logger, log_event

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

log = get_logger("sesmon.sources.discovery")

REFRESH_SECONDS = 15 * 60.0
# SES allows 1 request/s for ListConfigurationSets and GetConfigurationSet.
MIN_CALL_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class ConfigurationSetInfo:
    """What the monitor needs to know about one configuration set."""

    name: str
    sending_enabled: bool
    reputation_metrics_enabled: bool


@dataclass(frozen=True, slots=True)
class Catalog:
    """The configuration sets of one target as of ``refreshed_at`` (0 = never refreshed)."""

    sets: tuple[ConfigurationSetInfo, ...] = ()
    refreshed_at: float = 0.0
    # Names allowed by the config but left out because of ``max_configuration_sets``.
    dropped: int = 0

    @property
    def reputation_enabled(self) -> tuple[str, ...]:
        """Names of the sets whose reputation metrics CloudWatch publishes."""
        return tuple(s.name for s in self.sets if s.reputation_metrics_enabled)


def info_from_response(name: str, response: Mapping[str, Any]) -> ConfigurationSetInfo:
    """A GetConfigurationSet (SES v2) response reduced to the fields we export."""
    # Absent options mean the SES defaults: sending on, reputation metrics off.
    sending = (response.get("SendingOptions") or {}).get("SendingEnabled", True)
    reputation = (response.get("ReputationOptions") or {}).get("ReputationMetricsEnabled", False)
    return ConfigurationSetInfo(name, bool(sending), bool(reputation))


def list_configuration_sets(
    client: SESV2Client, target: TargetConfig, pace: Callable[[], None], page_size: int | None = None
) -> tuple[list[str], int]:
    """The target's configuration sets (SES v2, paged), filtered by its globs and capped at its limit.

    Returns the kept names, sorted, and how many allowed names the cap dropped. ``pace`` is called
    before every request, so callers keep SES's one-call-per-second limit.
    """
    names: set[str] = set()
    token: str | None = None
    while True:
        pace()
        args: dict[str, Any] = {"PageSize": page_size} if page_size else {}
        if token:
            args["NextToken"] = token
        page = client.list_configuration_sets(**args)
        names.update(str(n) for n in page.get("ConfigurationSets", []))
        token = page.get("NextToken")
        if not token:
            break
    allowed = sorted(n for n in names if target.allows_configuration_set(n))
    kept = allowed[: target.max_configuration_sets]
    if len(kept) < len(allowed):
        log_event(
            log,
            logging.WARNING,
            "configuration_sets_capped",
            target=target.name,
            allowed=len(allowed),
            kept=len(kept),
        )
    return kept, len(allowed) - len(kept)


R = TypeVar("R")


def each_set(
    names: Iterable[str], pace: Callable[[], None], get: Callable[[str], R]
) -> Iterator[tuple[str, R]]:
    """``(name, get(name))`` for each of ``names``, calling ``pace()`` before each call; a set deleted
    between the listing and its call (NotFoundException) is simply no longer there and is skipped."""
    for name in names:
        pace()
        try:
            response = get(name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                continue
            raise
        yield name, response


class RateLimiter:
    """Spaces calls at least ``interval`` seconds apart (thread-safe; clock and sleep injectable)."""

    def __init__(
        self,
        interval: float = MIN_CALL_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = interval
        self.monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")

    def wait(self) -> None:
        """Block until the next call is allowed, and claim it."""
        with self._lock:
            now = self.monotonic()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self._interval


class DiscoveryStoppedError(Exception):
    """Raised when a refresh is abandoned because the daemon is stopping."""


class ConfigurationSetDiscovery:
    """Lists a target's configuration sets and reads each one's options, caching the result.

    Shared by the CloudWatch and account sources of one target. A refresh runs in the job that finds the
    cache stale; a job that finds a refresh already running uses the cached catalog instead of waiting.
    """

    def __init__(
        self,
        target: TargetConfig,
        sesv2: Callable[[], SESV2Client],
        limiter: RateLimiter | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
        stopping: threading.Event | None = None,
    ) -> None:
        self._target = target
        # Set at shutdown: a long refresh (1 call/s) gives up between calls instead of holding exit.
        self._stopping = stopping or threading.Event()
        self._sesv2 = sesv2
        self._limiter = limiter or RateLimiter()
        self._refresh_seconds = refresh_seconds
        self._refreshing = threading.Lock()
        self._catalog = Catalog()

    @property
    def catalog(self) -> Catalog:
        """The newest catalog (empty until the first refresh)."""
        return self._catalog

    def due(self, now: float) -> bool:
        """True when the catalog is older than the refresh interval."""
        return self._catalog.refreshed_at == 0.0 or now - self._catalog.refreshed_at >= self._refresh_seconds

    def current(self, now: float) -> Catalog:
        """The catalog, refreshed first if stale and nobody else is refreshing; raises on AWS errors."""
        if self.due(now) and self._refreshing.acquire(blocking=False):
            try:
                if self.due(now):
                    self._catalog = self._fetch(now)
            finally:
                self._refreshing.release()
        return self._catalog

    def _pace(self) -> None:
        self._limiter.wait()
        if self._stopping.is_set():
            raise DiscoveryStoppedError(f"configuration-set discovery of {self._target.name} stopped")

    def _fetch(self, now: float) -> Catalog:
        # At 1 call/s a large account takes minutes to list; the 15 minutes count from the end of the
        # refresh, or refreshes would follow each other back to back.
        started = self._limiter.monotonic()
        client = self._sesv2()
        kept, dropped = list_configuration_sets(client, self._target, self._pace)
        infos = [
            info_from_response(name, response)
            for name, response in each_set(
                kept, self._pace, lambda name: client.get_configuration_set(ConfigurationSetName=name)
            )
        ]
        finished = now + (self._limiter.monotonic() - started)
        return Catalog(tuple(infos), finished, dropped)
