"""The pipeline canary: a message to the SES mailbox simulator per configuration set, its events awaited.

Every ``canary.interval`` each listed configuration set sends one message (SES v2 SendEmail) to
``success@simulator.amazonses.com``; ingestion reports its Send and Delivery events as they come
back (sesmon/canary_probes.py). A probe missing either event at its ``deadline`` makes the
``canary_failed`` signal hold for that set: events are not reaching sesmon. Simulator recipients
are left out of the AWS-comparable rates, so the canary never moves them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from sesmon import redact
from sesmon.canary_probes import ROUNDTRIP_BUCKETS, CanaryProbes, SetResult
from sesmon.component import BaseComponent, Job
from sesmon.config import CanaryConfig, Config
from sesmon.logs import get_logger, log_event
from sesmon.signals import Observation
from sesmon.status import CanaryRow, CanaryStatus
from sesmon.targets import TargetDirectory

log = get_logger("sesmon.canary")

CANARY_FAILED = "canary_failed"
# How often deadlines are checked: often enough that a failure shows within seconds of its deadline.
EXPIRE_EVERY = 5.0
SUBJECT = "sesmon canary"
BODY = "A probe of the SES event pipeline sent by sesmon to the mailbox simulator; it is delivered nowhere."


class CanaryComponent(BaseComponent):
    """Sends the probes, expires them, and reports ``canary_failed``, metrics and a status section."""

    name = "canary"

    def __init__(
        self,
        config: Config,
        sesv2: Mapping[str, Callable[[], Any]],
        targets: TargetDirectory,
        probes: CanaryProbes,
    ) -> None:
        self.canaries: dict[str, CanaryConfig] = {t.name: t.canary for t in config.targets if t.canary}
        self.sesv2 = sesv2
        self.targets = targets
        self.probes = probes
        for target, canary in self.canaries.items():
            for cs in canary.configuration_sets:
                probes.expect(target, cs)

    def jobs(self) -> Sequence[Job]:
        jobs = [
            Job(f"canary-{name}", canary.interval, self._sender(name), run_at_start=True)
            for name, canary in self.canaries.items()
        ]
        jobs.append(Job("canary-deadlines", EXPIRE_EVERY, self.expire, run_at_start=False))
        return jobs

    def _sender(self, target: str) -> Callable[[float], None]:
        return lambda now: self.send(target, now)

    def send(self, target: str, now: float) -> None:
        """Send one probe through each of the target's canary configuration sets."""
        canary = self.canaries[target]
        client = self.sesv2[target]()
        for cs in canary.configuration_sets:
            self.probes.sending()
            try:
                reply = client.send_email(
                    FromEmailAddress=canary.from_address,
                    Destination={"ToAddresses": [canary.to_address]},
                    Content={"Simple": {"Subject": {"Data": SUBJECT}, "Body": {"Text": {"Data": BODY}}}},
                    ConfigurationSetName=cs,
                )
            except Exception as exc:  # noqa: BLE001 - a failed send is a failed probe, never a crash
                error = redact.redact(f"{type(exc).__name__}: {exc}")[:200]
                self.probes.send_failed(target, cs, error, now)
                log_event(
                    log,
                    logging.WARNING,
                    "canary_send_failed",
                    target=target,
                    configuration_set=cs,
                    error=error,
                )
                continue
            self.probes.sent(target, cs, str(reply["MessageId"]), now, canary.deadline)

    def expire(self, now: float) -> None:
        """Fail the probes past their deadline."""
        for probe in self.probes.expire(now):
            log_event(
                log,
                logging.WARNING,
                "canary_failed",
                target=probe.target,
                configuration_set=probe.configuration_set,
                seen=sorted(t.value for t in probe.seen),
            )

    # -- SignalProvider --------------------------------------------------------------------------

    def provided_signals(self) -> frozenset[str]:
        return frozenset({CANARY_FAILED}) if self.canaries else frozenset()

    def observe(self, signal: str, window: str | None, now: float) -> list[Observation]:  # noqa: ARG002
        if signal != CANARY_FAILED:
            return []
        return [
            Observation(
                CANARY_FAILED,
                Observation.make_labels(target=target, configuration_set=cs),
                1.0 if result.failed else 0.0,
                detail=result.detail,
            )
            for (target, cs), result in sorted(self.probes.results().items())
            if result.concluded_at is not None
        ]

    # -- metrics and status ----------------------------------------------------------------------

    def collectors(self) -> Sequence[Collector]:
        return [CanaryCollector(self.probes, self.targets)] if self.canaries else []

    def status(self) -> CanaryStatus | None:
        results = self.probes.results()
        if not results:
            return None
        return CanaryStatus(
            tuple(
                CanaryRow(
                    target,
                    cs,
                    None if r.concluded_at is None else not r.failed,
                    r.last_roundtrip,
                    r.last_success,
                    r.sent,
                    r.detail,
                )
                for (target, cs), r in sorted(results.items())
            )
        )


class CanaryCollector(Collector):
    """Emits, e.g.::

    sesmon_canary_roundtrip_seconds_bucket{target="prod",…,configuration_set="tx",le="5.0"} 3
    sesmon_canary_last_success_timestamp_seconds{…,configuration_set="tx"} 1.76e9
    sesmon_canary_up{…,configuration_set="tx"} 1
    """

    def __init__(self, probes: CanaryProbes, targets: TargetDirectory) -> None:
        self._probes = probes
        self._targets = targets

    def collect(self) -> Iterator[Metric]:
        labels = ["target", "account_id", "region", "configuration_set"]
        roundtrip = HistogramMetricFamily(
            "sesmon_canary_roundtrip_seconds",
            "Time from sending a canary message to both its Send and Delivery events reaching sesmon.",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "sesmon_canary_last_success_timestamp_seconds",
            "Unix time of the last canary probe whose events all came back in time.",
            labels=labels,
        )
        up = GaugeMetricFamily(
            "sesmon_canary_up",
            "0 while the latest canary probe failed (events are not reaching sesmon), else 1.",
            labels=labels,
        )
        for (target, cs), result in sorted(self._probes.results().items()):
            ident = self._targets.get(target)
            values = [target, ident.account_id, ident.region, cs]
            roundtrip.add_metric(values, _buckets(result), result.roundtrip_sum)
            if result.last_success is not None:
                last.add_metric(values, result.last_success)
            up.add_metric(values, 0.0 if result.failed else 1.0)
        yield roundtrip
        yield last
        yield up


def _buckets(result: SetResult) -> list[tuple[str, float]]:
    out, total = [], 0
    for bound, count in zip((*ROUNDTRIP_BUCKETS, float("inf")), result.bucket_counts, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), float(total)))
    return out


def build_canary(
    config: Config, sesv2: Mapping[str, Callable[[], Any]], targets: TargetDirectory, probes: CanaryProbes
) -> CanaryComponent | None:
    """The canary component, or None when no target has a ``canary``."""
    if not any(t.canary for t in config.targets):
        return None
    return CanaryComponent(config, sesv2, targets, probes)
