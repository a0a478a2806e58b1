"""An embedded AWS for the demo: moto's server on 127.0.0.1 (a free port) behind the demo middleware."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from sesmon.demo.middleware import DEMO_AGENT_MARK, AccountState, DemoAwsMiddleware
from sesmon.servers import ServerHandle, serve_in_thread

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account, which any access key maps to


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # One access-log line per API call would bury the demo's console.
        del code, size


class EmbeddedAws:
    """moto's server on ``host`` (port 0 picks a free one), wrapped by :class:`DemoAwsMiddleware`."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        account: AccountState | None = None,
        outage: Callable[[], bool] = lambda: False,
    ) -> None:
        self.host = host
        self.port = port
        self.middleware = DemoAwsMiddleware(
            _ExactDimensions(DomainDispatcherApplication(create_backend_app)), account, outage
        )
        self._handle: ServerHandle | None = None

    def start(self) -> EmbeddedAws:
        """Bind and serve in a daemon thread; returns self."""
        _install_exact_dimensions()
        server = make_server(
            self.host, self.port, self.middleware, threaded=True, request_handler=_QuietHandler
        )
        self._handle = serve_in_thread(server, "demo-aws")
        return self

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._handle is None:
            raise RuntimeError("the embedded AWS server is not started")
        return f"http://{self.host}:{self._handle.port}"

    def stop(self) -> None:
        """Stop serving, join the server's thread and release the port."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    # -- clients for the demo's own use (provisioning, the traffic simulator) -------------------------

    def _session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id="demo",
            aws_secret_access_key="demo",  # noqa: S106 - a dummy: the embedded endpoint takes any key
            region_name=REGION,
        )

    def _config(self) -> BotoConfig:
        # The mark keeps the demo's own calls (SES itself, in the story) working through an outage.
        return BotoConfig(user_agent_extra=DEMO_AGENT_MARK, retries={"mode": "standard", "max_attempts": 3})

    def sns(self) -> SNSClient:
        """An SNS client on the embedded endpoint."""
        return self._session().client("sns", endpoint_url=self.endpoint_url, config=self._config())

    def sqs(self) -> SQSClient:
        """An SQS client on the embedded endpoint."""
        return self._session().client("sqs", endpoint_url=self.endpoint_url, config=self._config())

    def sesv2(self) -> SESV2Client:
        """An SES v2 client on the embedded endpoint."""
        return self._session().client("sesv2", endpoint_url=self.endpoint_url, config=self._config())

    def cloudwatch(self) -> CloudWatchClient:
        """A CloudWatch client on the embedded endpoint."""
        return self._session().client("cloudwatch", endpoint_url=self.endpoint_url, config=self._config())


# moto's GetMetricData ignores dimensions when a query names none, so the account-level
# Reputation.BounceRate would average in every configuration set's datapoints. CloudWatch matches
# dimensions exactly. The fix applies only while this server handles a request (a thread-local flag),
# so other moto servers in the same process keep moto's own behaviour.
_exact = threading.local()
_install_lock = threading.Lock()
_installed = False


class _ExactDimensions:
    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        _exact.on = True
        try:
            return self.app(environ, start_response)
        finally:
            _exact.on = False


def _install_exact_dimensions() -> None:
    global _installed  # noqa: PLW0603 - patch moto's class once per process
    with _install_lock:
        if _installed:
            return
        from moto.cloudwatch.models import CloudWatchBackend  # noqa: PLC0415 - only when serving

        original_query = CloudWatchBackend.get_metric_data
        original_all = CloudWatchBackend.get_all_metrics

        def get_all_metrics(self: Any) -> list[Any]:
            data: list[Any] = original_all(self)
            if getattr(_exact, "plain", False):
                return [md for md in data if not md.dimensions]
            return data

        def get_metric_data(self: Any, queries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
            plain = [
                q for q in queries if "MetricStat" in q and not q["MetricStat"]["Metric"].get("Dimensions")
            ]
            if not getattr(_exact, "on", False) or not plain or any("Expression" in q for q in queries):
                return original_query(self, queries, *args, **kwargs)
            rest = [q for q in queries if q not in plain]
            results = {r["id"]: r for r in (original_query(self, rest, *args, **kwargs) if rest else [])}
            _exact.plain = True
            try:
                results.update({r["id"]: r for r in original_query(self, plain, *args, **kwargs)})
            finally:
                _exact.plain = False
            return [results[q["Id"]] for q in queries if q["Id"] in results]

        CloudWatchBackend.get_all_metrics = get_all_metrics  # type: ignore[method-assign]
        CloudWatchBackend.get_metric_data = get_metric_data  # type: ignore[method-assign]
        _installed = True
