"""Collectors over AWS snapshots: series, labels, state sets and zero pre-initialisation."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from sesmon.metrics import build_registry
from sesmon.metrics.aws import AccountCollector, ApiRequestsCollector, AwsTargetView, CloudWatchCollector
from sesmon.model import TargetIdentity
from sesmon.sources.account import AccountSnapshot
from sesmon.sources.aws import ApiCallCounter
from sesmon.sources.cloudwatch import CloudWatchSnapshot, Reading
from sesmon.sources.discovery import Catalog, ConfigurationSetInfo

IDENT = TargetIdentity("prod", "123456789012", "eu-west-1")
BASE = {"target": "prod", "account_id": "123456789012", "region": "eu-west-1"}
CATALOG = Catalog((ConfigurationSetInfo("mk", True, True), ConfigurationSetInfo("tx", False, False)), 1.0)


def view(**changes: object) -> AwsTargetView:
    fields: dict[str, object] = {
        "identity": IDENT,
        "cloudwatch_enabled": True,
        "account_enabled": True,
        "cloudwatch": CloudWatchSnapshot(
            polled_at=1000.0,
            readings=(
                Reading("Reputation.BounceRate", None, 0.02, 400.0),
                Reading("Reputation.ComplaintRate", None, None, None),
                Reading("Reputation.BounceRate", "mk", 0.05, 700.0),
            ),
            calls=1,
            metrics_requested=4,
        ),
        "account": AccountSnapshot(1000.0, "SHUTDOWN", False, False, 200.0, 50.0, 1.0, CATALOG),
        "catalog": CATALOG,
        "seen_statuses": frozenset({"UNDER_REVIEW"}),
        "metrics_requested": 40,
        "expected_operations": frozenset({("sesv2", "GetAccount"), ("cloudwatch", "GetMetricData")}),
    }
    fields.update(changes)
    return AwsTargetView(**fields)  # type: ignore[arg-type]


def registry(views: list[AwsTargetView], counter: ApiCallCounter | None = None) -> CollectorRegistry:
    counter = counter or ApiCallCounter()
    return build_registry(
        [
            CloudWatchCollector(lambda: views, lambda: 1000.0),
            AccountCollector(lambda: views),
            ApiRequestsCollector(lambda: views, counter, lambda _name: IDENT),
        ]
    )


def test_cloudwatch_series() -> None:
    reg = registry([view()])
    assert reg.get_sample_value("sesmon_account_reputation_bounce_ratio", BASE) == 0.02
    # No datapoint in the lookback: no sample rather than a made-up zero.
    assert reg.get_sample_value("sesmon_account_reputation_complaint_ratio", BASE) is None
    mk = {**BASE, "configuration_set": "mk"}
    assert reg.get_sample_value("sesmon_configuration_set_reputation_bounce_ratio", mk) == 0.05
    age = {**BASE, "metric": "Reputation.BounceRate"}
    assert reg.get_sample_value("sesmon_cloudwatch_data_age_seconds", age) == 300.0  # newest over series
    assert reg.get_sample_value("sesmon_cloudwatch_metrics_requested_total", BASE) == 40.0


def test_account_series_and_state_set() -> None:
    reg = registry([view()])
    states = {
        s: reg.get_sample_value("sesmon_account_enforcement_status", {**BASE, "status": s})
        for s in ("HEALTHY", "PROBATION", "SHUTDOWN", "UNDER_REVIEW")
    }
    assert states == {"HEALTHY": 0.0, "PROBATION": 0.0, "SHUTDOWN": 1.0, "UNDER_REVIEW": 0.0}
    assert reg.get_sample_value("sesmon_account_sending_enabled", BASE) == 0.0
    assert reg.get_sample_value("sesmon_account_production_access_enabled", BASE) == 0.0
    assert reg.get_sample_value("sesmon_send_quota_usage_ratio", BASE) == 0.25
    assert reg.get_sample_value("sesmon_send_quota_max_24h", BASE) == 200.0
    tx = {**BASE, "configuration_set": "tx"}
    assert reg.get_sample_value("sesmon_configuration_set_sending_enabled", tx) == 0.0
    assert reg.get_sample_value("sesmon_configuration_set_reputation_metrics_enabled", tx) == 0.0


def test_disabled_sources_and_missing_snapshots_emit_nothing() -> None:
    reg = registry([view(cloudwatch_enabled=False, account=None)])
    assert reg.get_sample_value("sesmon_account_reputation_bounce_ratio", BASE) is None
    assert reg.get_sample_value("sesmon_cloudwatch_metrics_requested_total", BASE) is None
    assert reg.get_sample_value("sesmon_account_sending_enabled", BASE) is None


def test_api_requests_start_at_zero_and_count_per_target() -> None:
    counter = ApiCallCounter()
    counter.record("cloudwatch", "GetMetricData", "prod")
    counter.record("cloudwatch", "GetMetricData", "prod")
    reg = registry([view()], counter)
    get = {**BASE, "service": "cloudwatch", "operation": "GetMetricData"}
    assert reg.get_sample_value("sesmon_aws_api_requests_total", get) == 2.0
    account = {**BASE, "service": "sesv2", "operation": "GetAccount"}
    assert reg.get_sample_value("sesmon_aws_api_requests_total", account) == 0.0


def test_exposition_is_valid_text() -> None:
    text = generate_latest(registry([view()])).decode()
    assert "# TYPE sesmon_aws_api_requests_total counter" in text
    assert "# TYPE sesmon_account_enforcement_status gauge" in text
