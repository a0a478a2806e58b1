"""boto3 sessions and clients per target: credentials, retry/timeout config and API-call counting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config as BotoConfig
from botocore.credentials import CredentialProvider, Credentials, DeferredRefreshableCredentials
from botocore.exceptions import NoCredentialsError

from sesmon import redact
from sesmon.config import TargetConfig
from sesmon.sources.sqs_client import SqsJsonClient

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

# The services the daemon calls; `sesmon iam-policy` grants exactly what their callers use.
Service = Literal["sqs", "sesv2", "cloudwatch", "sts", "sns", "events"]

# The SQS long poll holds a request open up to 20 s; the read timeout must outlast it, or every empty
# poll would end in a timeout and a retry.
SQS_MAX_WAIT_SECONDS = 20.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = SQS_MAX_WAIT_SECONDS + 10.0
# "standard" retry mode: 3 attempts in all, exponential backoff with jitter, retries throttling, 5xx
# and connection errors.
DEFAULT_MAX_ATTEMPTS = 3
# STS issues role credentials for 1 h by default; botocore refreshes them before they expire.
ASSUME_ROLE_DURATION_SECONDS = 3600


class ApiCallCounter:
    """Thread-safe count of AWS API requests by (service, operation).

    Every HTTP request actually sent is counted, retries included, because each attempt is what AWS
    bills and throttles. Calls answered without a request (client-side validation errors) are not.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._by_target: dict[tuple[str, str, str], int] = {}

    def record(self, service: str, operation: str, target: str = "") -> None:
        """Count one request of ``operation`` on ``service``, made for ``target`` (if known)."""
        key = (service, operation)
        per_target = (target, service, operation)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            self._by_target[per_target] = self._by_target.get(per_target, 0) + 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        """A consistent copy of every count."""
        with self._lock:
            return dict(self._counts)

    def by_target(self) -> dict[tuple[str, str, str], int]:
        """A consistent copy of the counts keyed by (target, service, operation)."""
        with self._lock:
            return dict(self._by_target)

    def total(self) -> int:
        """Requests counted over every service and operation."""
        with self._lock:
            return sum(self._counts.values())


def _count_request(
    counter: ApiCallCounter, service: str, target: str, event_name: str, **_kwargs: Any
) -> None:
    # "before-send" fires once per HTTP attempt, including each retry; its name is
    # "before-send.<service-id>.<Operation>".
    counter.record(service, event_name.rsplit(".", 1)[-1], target)


def attach_counter(client: BaseClient, service: str, counter: ApiCallCounter, target: str = "") -> None:
    """Count every request ``client`` sends in ``counter`` under ``service`` (and ``target``)."""
    client.meta.events.register("before-send", partial(_count_request, counter, service, target))


class _FixedProvider(CredentialProvider):
    """Hands botocore's resolver one ready-made (refreshable) credentials object."""

    METHOD = "sesmon-assume-role"
    CANONICAL_NAME = "custom-sesmon-assume-role"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


class AwsClients:
    """Everything AWS for one target: one Session, cached clients, and the caller's account id.

    Credentials come from the default chain; with ``role_arn`` they are exchanged for the role's through
    STS AssumeRole (with ``external_id`` when set), refreshed automatically by botocore before they
    expire. ``endpoint_url`` (a test or demo endpoint) applies to every client, STS included.
    """

    def __init__(
        self,
        target: TargetConfig,
        counter: ApiCallCounter,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        self.target = target
        self.counter = counter
        self._timeouts = (connect_timeout, read_timeout, max_attempts)
        pool = max(10, (target.sqs.receivers if target.sqs else 0) + 4)
        self.config = BotoConfig(
            region_name=target.region,
            # total_max_attempts counts the first request too (botocore's max_attempts would not).
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            # SQS receivers share one client across threads; the pool must not make them queue.
            max_pool_connections=pool,
        )
        if target.external_id:
            redact.register(target.external_id)
        self._lock = threading.Lock()
        self._clients: dict[str, BaseClient] = {}
        self._sqs_json: SqsJsonClient | None = None
        self._account_id: str | None = None
        self._base = boto3.Session(region_name=target.region)
        self.session = self._role_session() if target.role_arn else self._base

    @property
    def name(self) -> str:
        """The target's name."""
        return self.target.name

    @property
    def region(self) -> str:
        """The target's region."""
        return self.target.region

    def _make_client(self, session: boto3.Session, service: Service) -> BaseClient:
        client: BaseClient = session.client(
            service, endpoint_url=self.target.endpoint_url, config=self.config
        )
        attach_counter(client, service, self.counter, self.target.name)
        return client

    def _role_session(self) -> boto3.Session:
        role_arn = self.target.role_arn
        assert role_arn is not None
        refresh: Callable[[], dict[str, Any]] = partial(self._assume_role, role_arn)
        credentials = DeferredRefreshableCredentials(refresh_using=refresh, method="assume-role")
        core = botocore.session.Session()
        core.get_component("credential_provider").insert_before("env", _FixedProvider(credentials))
        return boto3.Session(botocore_session=core, region_name=self.target.region)

    def _assume_role(self, role_arn: str) -> dict[str, Any]:
        # A fresh STS client from the base (default-chain) session on every refresh, about hourly.
        sts = cast("STSClient", self._make_client(self._base, "sts"))  # the "sts" literal made an STS client
        args: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": f"sesmon-{self.target.name}"[:64],
            "DurationSeconds": ASSUME_ROLE_DURATION_SECONDS,
        }
        if self.target.external_id:
            args["ExternalId"] = self.target.external_id
        creds = sts.assume_role(**args)["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    @overload
    def client(self, service: Literal["sqs"]) -> SQSClient: ...
    @overload
    def client(self, service: Literal["sesv2"]) -> SESV2Client: ...
    @overload
    def client(self, service: Literal["cloudwatch"]) -> CloudWatchClient: ...
    @overload
    def client(self, service: Literal["sts"]) -> STSClient: ...
    @overload
    def client(self, service: Literal["sns"]) -> SNSClient: ...
    @overload
    def client(self, service: Literal["events"]) -> EventBridgeClient: ...
    def client(self, service: Service) -> BaseClient:
        """The (cached, thread-safe) client for ``service``: ``sqs``, ``cloudwatch``, ``sesv2``, ``sts``,
        and for ``sesmon setup`` / ``doctor`` ``sns`` and ``events``."""
        with self._lock:
            # Session.client is not thread-safe; clients themselves are.
            cached = self._clients.get(service)
            if cached is None:
                cached = self._make_client(self.session, service)
                self._clients[service] = cached
            return cached

    def sqs_receiver(self) -> SqsJsonClient:
        """The (cached) lean SQS client of the receive/delete path: this target's endpoint, region,
        credentials, retry policy and request counting, without botocore's per-request machinery."""
        client = self.client("sqs")
        with self._lock:
            if self._sqs_json is None:
                credentials = self.session.get_credentials()
                if credentials is None:
                    raise NoCredentialsError()
                connect, read, attempts = self._timeouts
                self._sqs_json = SqsJsonClient(
                    client,
                    credentials,
                    record=partial(self._record_sqs, self.target.name),
                    max_attempts=attempts,
                    connect_timeout=connect,
                    read_timeout=read,
                )
            return self._sqs_json

    def _record_sqs(self, target: str, operation: str) -> None:
        self.counter.record("sqs", operation, target)

    @overload
    def lazy(self, service: Literal["sqs"]) -> Callable[[], SQSClient]: ...
    @overload
    def lazy(self, service: Literal["sesv2"]) -> Callable[[], SESV2Client]: ...
    @overload
    def lazy(self, service: Literal["cloudwatch"]) -> Callable[[], CloudWatchClient]: ...
    def lazy(self, service: Service) -> Callable[[], BaseClient]:
        """A zero-argument accessor of :meth:`client`: sources take one, so the client is built on
        first use, in the job's own thread, and a target that is never polled builds none."""
        return lambda: self.client(service)

    def credential_source(self) -> str | None:
        """Where the default chain found the credentials sesmon starts with (botocore's ``method``:
        ``env``, ``shared-credentials-file``, ``assume-role-with-web-identity``, ``container-role``,
        ``iam-role`` …); None when it found none. With ``role_arn`` these are exchanged for the role's."""
        credentials = self._base.get_credentials()
        return None if credentials is None else str(credentials.method)

    def account_id(self) -> str:
        """The account the credentials act in (STS GetCallerIdentity once, then cached).

        Raises the botocore error when STS cannot be reached; the next call tries again.
        """
        with self._lock:
            if self._account_id is not None:
                return self._account_id
        identity = self.client("sts").get_caller_identity()
        account = str(identity["Account"])
        with self._lock:
            self._account_id = account
        return account
