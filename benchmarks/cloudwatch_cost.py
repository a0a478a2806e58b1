"""AWS cost of CloudWatch reputation polling: sesmon's batched GetMetricData vs one call per metric.

Runs the real CloudWatch poller against an in-process moto server with 1, 100 and 1,000 configuration
sets (reputation metrics enabled on each) and counts the requests it actually sends (the same
API-call hook that feeds ``sesmon_aws_api_requests_total``). The baseline sends one
GetMetricStatistics request per metric per poll, as prometheus cloudwatch_exporter does by default,
and is counted the same way.

Pricing (CloudWatch, us-east-1, standard): GetMetricData $0.01 per 1,000 metrics requested;
GetMetricStatistics $0.01 per 1,000 requests. The CloudWatch free tier's 1M API requests a month
applies to GetMetricStatistics but not to GetMetricData; it is shared with every other tool in the
account, so it is left out here. SES API calls used for discovery (ListConfigurationSets,
GetConfigurationSet every 15 minutes) are free.

Usage: python benchmarks/cloudwatch_cost.py [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from moto.server import ThreadedMotoServer

from sesmon.aws_health import AwsHealthComponent
from sesmon.config import Config
from sesmon.sources.aws import ApiCallCounter, AwsClients
from sesmon.sources.cloudwatch import METRICS, NAMESPACE
from sesmon.sources.discovery import RateLimiter
from sesmon.targets import TargetDirectory

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.type_defs import DimensionTypeDef

PRICE_PER_1000_METRICS = 0.01  # GetMetricData
PRICE_PER_1000_REQUESTS = 0.01  # GetMetricStatistics
MONTH_SECONDS = 30 * 86400


def _config(endpoint: str, sets: int, interval: float) -> Config:
    off = {"enabled": False}
    return Config.model_validate(
        {
            "targets": [
                {
                    "name": f"bench{sets}",
                    "region": "us-east-1",
                    "endpoint_url": endpoint,
                    "cloudwatch": {"interval": f"{int(interval)}s"},
                    "account": off,
                    "identities": off,
                    "max_configuration_sets": max(sets, 1),
                    # Each size runs on the same moto server: see only this run's sets.
                    "configuration_sets": [f"bench{sets}-*"],
                }
            ],
            "dns": off,
        }
    )


def _no_wait_limiter() -> RateLimiter:
    # SES allows 1 call/s for discovery; the benchmark counts calls, it does not need to wait them out.
    return RateLimiter(0.0)


def measure(endpoint: str, sets: int, interval: float) -> dict[str, float]:
    config = _config(endpoint, sets, interval)
    target = config.targets[0]
    seed = AwsClients(target, ApiCallCounter())
    sesv2 = seed.client("sesv2")
    for i in range(sets):
        sesv2.create_configuration_set(
            ConfigurationSetName=f"{target.name}-set-{i:04d}",
            ReputationOptions={"ReputationMetricsEnabled": True},
        )
    counter = ApiCallCounter()
    clients = {target.name: AwsClients(target, counter)}
    component = AwsHealthComponent(
        config, clients, TargetDirectory(config.targets), counter, limiter=_no_wait_limiter
    )
    now = time.time()
    component.poll_all(now)  # first poll: discovery + metrics
    first = counter.snapshot()
    component.poll_all(now + interval)  # steady state: metrics only
    steady = {k: v - first.get(k, 0) for k, v in counter.snapshot().items()}
    view = component.views()[0]

    # Baseline: one GetMetricStatistics request per metric per poll, counted by the same hook.
    base_counter = ApiCallCounter()
    cloudwatch = AwsClients(target, base_counter).client("cloudwatch")
    end = datetime.fromtimestamp(now, tz=UTC) - timedelta(minutes=10)
    subjects: list[str | None] = [None, *(f"{target.name}-set-{i:04d}" for i in range(sets))]
    for subject in subjects:
        dims: list[DimensionTypeDef] = (
            [{"Name": "ses:configuration-set", "Value": subject}] if subject else []
        )
        for metric in METRICS:
            cloudwatch.get_metric_statistics(
                Namespace=NAMESPACE,
                MetricName=metric,
                Dimensions=dims,
                StartTime=end - timedelta(hours=6),
                EndTime=end,
                Period=300,
                Statistics=["Average"],
            )
    polls = MONTH_SECONDS / interval
    gmd_calls = steady.get(("cloudwatch", "GetMetricData"), 0)
    requested = view.metrics_requested - (view.cloudwatch.metrics_requested if view.cloudwatch else 0)
    gms_calls = base_counter.snapshot().get(("cloudwatch", "GetMetricStatistics"), 0)
    return {
        "sets": sets,
        "discovery_calls": sum(v for (s, _), v in first.items() if s == "sesv2"),
        "gmd_calls": gmd_calls,
        "metrics_requested": requested,
        "gmd_month": requested * polls / 1000 * PRICE_PER_1000_METRICS,
        "gms_calls": gms_calls,
        "gms_month": gms_calls * polls / 1000 * PRICE_PER_1000_REQUESTS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=300.0, help="poll interval (default 300 s)")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    # moto's werkzeug server logs every request, which would bury the figures.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        rows = [measure(f"http://{host}:{port}", n, args.interval) for n in (1, 100, 1000)]
    finally:
        server.stop()
    polls = MONTH_SECONDS / args.interval
    print(f"CloudWatch reputation polling every {args.interval:.0f} s ({polls:.0f} polls/month)")
    header = (
        f"{'config sets':>11} | {'GetMetricData calls/poll':>24} | {'metrics requested/poll':>22} | "
        f"{'$/month':>8} || {'GetMetricStatistics calls/poll':>30} | {'$/month':>8} | "
        f"{'discovery calls/15 min':>22}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['sets']:>11.0f} | {r['gmd_calls']:>24.0f} | {r['metrics_requested']:>22.0f} | "
            f"{r['gmd_month']:>8.2f} || {r['gms_calls']:>30.0f} | {r['gms_month']:>8.2f} | "
            f"{r['discovery_calls']:>22.0f}"
        )
    print(
        "Both APIs bill the same per metric; batching cuts requests (and throttling risk: GetMetricData"
        " fetches up to 500 metrics per request) by up to 500x."
    )


if __name__ == "__main__":
    main()
