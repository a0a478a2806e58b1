"""``sesmon demo``: embedded AWS → provisioning → generated config → the real daemon → simulated traffic.

Past 400 lines on purpose: it is the demo's composition root (embedded servers, provisioning,
config, daemon, traffic, console, summary) in start order; each step's work lives in its own module.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from sesmon import runtime
from sesmon.demo import console
from sesmon.demo.democonfig import (
    BOUNCE_RULE,
    COMPLAINT_RULE,
    SOURCE_DOWN_RULE,
    DemoSettings,
    build_config,
    clear_state,
    write_config,
)
from sesmon.demo.dns_server import DemoDns, ses_zone
from sesmon.demo.middleware import AccountState
from sesmon.demo.moto_server import ACCOUNT_ID, REGION, EmbeddedAws
from sesmon.demo.provision import MAIL_FROM_DOMAIN, Provisioned, provision
from sesmon.demo.receiver import DemoReceiver, Received
from sesmon.demo.scenarios import SCENARIOS, Scenario
from sesmon.demo.shell import sesmon_command
from sesmon.demo.simulator import TrafficSimulator
from sesmon.demo.summary import collect, format_summary, summarise
from sesmon.demo.traffic import Traffic, demo_profiles
from sesmon.healthcheck import local_address

# The CloudWatch alarm we compare against, stated as assumptions (printed with the result):
# a standard alarm on Reputation.* with a 5-minute period and 1 evaluation period fires no sooner than
# one period after the rate moves, and SES publishes Reputation.* datapoints late — AWS notes they can
# take several minutes to appear; sesmon's default cloudwatch.delay (10 min) reflects that lag.
ALARM_PERIOD = 300
ALARM_EVALUATION_PERIODS = 1
REPUTATION_PUBLICATION_DELAY = 600
# AWS places an account under review at these account-wide rates.
AWS_REVIEW_AT = {"Reputation.BounceRate": 0.05, "Reputation.ComplaintRate": 0.001}
SUMMARY_EVERY = 5.0


@dataclass(frozen=True)
class DemoOptions:
    """What the ``sesmon demo`` command line chose."""

    scenario: str = "bounce-spike"
    duration: float | None = None
    listen: str = "127.0.0.1:9469"
    # None keeps the generated config's level (warning: the console is the demo's own output).
    log_level: str | None = None
    directory: Path = Path("sesmon-demo")
    seed: int = 7


def run_demo(options: DemoOptions, out: TextIO = sys.stdout) -> int:
    """Run the whole demo until ``duration`` passes or SIGINT/SIGTERM arrives; 0 on a clean end."""
    _use_demo_credentials()
    demo = _Demo(options, out)
    # Signals are caught from the very start, so Ctrl-C during setup also ends cleanly.
    with _StopOnSignal() as stop:
        try:
            demo.run(stop.event)
        finally:
            demo.close()
    return 0


class _Demo:
    """One demo run: owns everything it starts and stops it in reverse order."""

    def __init__(self, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.scenario = SCENARIOS[options.scenario]
        self.account = AccountState(enforcement_status=self.scenario.enforcement_status)
        self.started: float | None = None  # when traffic started: the scenario's clock
        self._undo: list[Callable[[], Any]] = []

    def say(self, text: str = "") -> None:
        console.say(self.out, text)

    def outage(self) -> bool:
        return self.started is not None and self.scenario.outage_active(time.time() - self.started)

    def close(self) -> None:
        while self._undo:
            self._undo.pop()()

    def run(self, stopped: threading.Event) -> None:
        # Imported here: the daemon pulls in every capability, which `sesmon --help` need not pay for.
        from sesmon import logs  # noqa: PLC0415
        from sesmon.config_loader import load_config  # noqa: PLC0415
        from sesmon.daemon import Daemon  # noqa: PLC0415

        options, scenario = self.options, self.scenario
        self.say(f"sesmon demo: starting an embedded AWS, provisioning SES, scenario {scenario.name} ...")
        aws = EmbeddedAws(account=self.account, outage=self.outage).start()
        self._undo.append(aws.stop)
        provisioned = provision(aws.sesv2(), aws.sns(), aws.sqs())
        directory = options.directory.resolve()
        clear_state(directory)
        receiver = DemoReceiver(None, self.out, started=lambda: self.started).start()
        self._undo.append(receiver.stop)
        # The domain's DNS, so sesmon's SPF/DMARC/DKIM/MAIL FROM checks run against real answers.
        dns = DemoDns(ses_zone(provisioned.domain, MAIL_FROM_DOMAIN, REGION)).start()
        self._undo.append(dns.stop)
        settings = DemoSettings(
            listen=options.listen,
            log_level=options.log_level or DemoSettings.log_level,
            pause_set=scenario.spike_set if scenario.pause else None,
        )
        config_data = build_config(
            endpoint_url=aws.endpoint_url,
            provisioned=provisioned,
            receiver_url=receiver.url,
            directory=directory,
            settings=settings,
            dns_nameserver=dns.address,
        )
        config_path, secret = write_config(directory, config_data)
        receiver.secret = secret
        config = load_config(config_path)
        logs.configure(config.logging.level, config.logging.format, stream=self.out)

        traffic = Traffic(
            profiles=demo_profiles(),
            rates_for=scenario.rates,
            started=time.time(),
            seed=options.seed,
            account_id=ACCOUNT_ID,
            region=REGION,
            sending=lambda name: aws.middleware.sending_enabled(name, REGION),
        )
        simulator = TrafficSimulator(traffic, aws.sns(), provisioned.topic_arn, aws.cloudwatch())
        self.account.sent_last_24_hours = simulator.sent_last_24_hours
        simulator.seed_history()
        if stopped.is_set():
            return

        daemon = Daemon(config)
        daemon.start()
        runtime.tune_gc()
        self._undo.append(daemon.shutdown)
        _banner(
            self.say,
            scenario=scenario,
            aws=aws,
            provisioned=provisioned,
            config_path=config_path,
            port=daemon.port,
            options=options,
            receiver_url=receiver.url,
            dns_address=dns.address,
        )

        # Traffic starts now: the scenario's clock (spike, outage) counts from here.
        now = time.time()
        traffic.restart(now)
        self.started = now
        simulator.start()
        self._undo.append(simulator.stop)

        watcher = _SesWatcher(aws, provisioned.configuration_sets, config_path, self.say)
        self._watch(stopped, now, daemon.registry, provisioned.configuration_sets, watcher)
        self.say(f"stopping after {time.time() - now:.0f} s{' (signal)' if stopped.is_set() else ''} ...")
        # Stop SES first, then let the daemon drain and shut down; the report reads what arrived.
        self._undo.remove(simulator.stop)
        simulator.stop()
        self._undo.remove(daemon.shutdown)
        daemon.shutdown()
        _report(
            self.say,
            scenario=scenario,
            started=now,
            received=receiver.received(),
            simulator=simulator,
            config_path=config_path,
        )

    def _watch(
        self,
        stopped: threading.Event,
        started: float,
        registry: Collector,
        sets: Sequence[str],
        watcher: _SesWatcher,
    ) -> None:
        """Print the live summary every few seconds until the duration passes or a signal arrives."""
        from sesmon.daemon import SIGNAL_POLL_SECONDS  # noqa: PLC0415 - imported by run() already

        deadline = None if self.options.duration is None else started + self.options.duration
        next_summary = started + SUMMARY_EVERY
        while not stopped.is_set():
            current = time.time()
            if deadline is not None and current >= deadline:
                return
            if current >= next_summary:
                families = collect(registry)
                self.say(format_summary(summarise(families, sets), current - started))
                watcher.check(families, current - started)
                next_summary += SUMMARY_EVERY
            wake = next_summary if deadline is None else min(next_summary, deadline)
            # In short slices, so that a signal another thread received is handled (run_until_signal).
            stopped.wait(min(SIGNAL_POLL_SECONDS, max(0.0, wake - time.time())))


class _SesWatcher:
    """Says on the console when a set's sending flips in SES, and the canary's first round trip."""

    def __init__(
        self, aws: EmbeddedAws, sets: Sequence[str], config_path: Path, say: Callable[[str], None]
    ) -> None:
        self.aws = aws
        self.config_path = config_path
        self.say = say
        self.sending = dict.fromkeys(sets, True)
        self.canary_seen = False

    def check(self, families: Sequence[Metric], elapsed: float) -> None:
        for name, was in self.sending.items():
            now = self.aws.middleware.sending_enabled(name, REGION)
            if now == was:
                continue
            self.sending[name] = now
            if not now:
                self.say(
                    f"[{elapsed:5.1f} s] SES: sending of configuration set '{name}' is PAUSED (by sesmon's "
                    "pause_configuration_set action); its traffic has stopped. Resume it from another "
                    "shell while this demo runs: the command calls the demo's embedded AWS at "
                    f"{self.aws.endpoint_url} (the config's endpoint_url), which accepts any key:"
                )
                self.say(f"          {resume_command_line(self.config_path, name)}")
            else:
                self.say(f"[{elapsed:5.1f} s] SES: sending of configuration set '{name}' resumed")
        if not self.canary_seen:
            samples = [s for family in families for s in family.samples]
            for sample in samples:
                if sample.name == "sesmon_canary_roundtrip_seconds_sum" and sample.value > 0:
                    labels = sample.labels
                    self.canary_seen = True
                    self.say(
                        f"[{elapsed:5.1f} s] canary: a message to the mailbox simulator through "
                        f"'{labels.get('configuration_set', '')}' came back (Send and Delivery) in "
                        f"{sample.value:.1f} s: SES → SNS → SQS → sesmon works"
                    )


def resume_command_line(config_path: Path, configuration_set: str) -> str:
    """The ``sesmon resume`` of a paused demo set, runnable as printed (dummy keys: the user's own
    credentials may be absent, and the embedded endpoint takes any)."""
    return (
        f"AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo {sesmon_command()} resume "
        f"--config {shlex.quote(str(config_path))} --configuration-set {shlex.quote(configuration_set)}"
    )


def _use_demo_credentials() -> None:
    # The daemon uses the default credential chain; point it at dummy keys so no real profile,
    # role or instance metadata is consulted. The embedded endpoint accepts any key.
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",  # noqa: S106 - a dummy for the embedded endpoint
        AWS_EC2_METADATA_DISABLED="true",
    )


def _http_base(listen: str, port: int) -> str:
    return local_address(listen, port)[2]


def _banner(
    say: Callable[[str], None],
    *,
    scenario: Scenario,
    aws: EmbeddedAws,
    provisioned: Provisioned,
    config_path: Path,
    port: int,
    options: DemoOptions,
    receiver_url: str,
    dns_address: str,
) -> None:
    base = _http_base(options.listen, port)
    sets = ", ".join(provisioned.configuration_sets)
    say(f"scenario {scenario.name}: {scenario.description}")
    say(f"  embedded AWS (moto)  {aws.endpoint_url}  (account {ACCOUNT_ID}, {REGION}, no credentials needed)")
    say(f"  provisioned          identity {provisioned.domain} (DKIM, MAIL FROM), configuration sets {sets}")
    say("                       → SNS ses-event-publishing → SQS sesmon-ses-events (redrive to a DLQ)")
    say(
        f"  DNS                  {dns_address}  (SPF, DMARC, DKIM, MAIL FROM records of {provisioned.domain})"
    )
    say(f"  config               {config_path}  (state in {config_path.parent})")
    say(f"  metrics              {base}/metrics")
    say(f"  status page          {base}/")
    say(f"  webhook receiver     {receiver_url}  (HMAC-signed notifications are printed below)")
    runs = f"runs for {options.duration:.0f} s" if options.duration is not None else "runs until stopped"
    say(f"  {runs}; Ctrl-C to stop")
    say("")


def _spike_rule(scenario: Scenario) -> tuple[str, str] | None:
    changed = {name for name, _ in scenario.spike}
    if "hard_bounce" in changed:
        return BOUNCE_RULE, "Reputation.BounceRate"
    if "complaint" in changed:
        return COMPLAINT_RULE, "Reputation.ComplaintRate"
    return None


def detection_latency(scenario: Scenario, started: float, received: list[Received]) -> float | None:
    """Seconds from the start of the scenario's spike to the first firing notification about it."""
    rule = _spike_rule(scenario)
    if rule is None or scenario.spike_at is None:
        return None
    spike = started + scenario.spike_at
    for item in received:
        if item.rule == rule[0] and item.configuration_set == scenario.spike_set and item.status == "firing":
            return item.at - spike
    return None


def _report(
    say: Callable[[str], None],
    *,
    scenario: Scenario,
    started: float,
    received: list[Received],
    simulator: TrafficSimulator,
    config_path: Path,
) -> None:
    say("")
    say(f"events published: {simulator.published}; notifications received: {len(received)}")
    rule = _spike_rule(scenario)
    if rule is not None:
        latency = detection_latency(scenario, started, received)
        alarm = ALARM_PERIOD * ALARM_EVALUATION_PERIODS
        earliest = alarm + REPUTATION_PUBLICATION_DELAY
        sesmon_text = (
            f"{latency:.1f} s from the start of the spike to the {rule[0]} notification at the webhook "
            f"(~{earliest / max(latency, 1.0):.0f}x sooner)"
            if latency is not None
            else "no notification about the spike arrived before the demo ended"
        )
        bounce, complaint = simulator.reputation()
        value = bounce if rule[1].endswith("BounceRate") else complaint
        say(f"detection latency ({scenario.name} on '{scenario.spike_set}'):")
        say(f"  sesmon            {sesmon_text}")
        say(
            f"  CloudWatch alarm  >= {earliest} s: an alarm on {rule[1]} with a "
            f"{ALARM_PERIOD} s period x {ALARM_EVALUATION_PERIODS} evaluation period ({alarm} s), plus "
            f"~{REPUTATION_PUBLICATION_DELAY} s for SES to publish Reputation.* datapoints (AWS: 'several "
            "minutes'; the value sesmon's cloudwatch.delay defaults to)"
        )
        review = AWS_REVIEW_AT[rule[1]]
        side = "below" if value < review else "above"
        say(
            f"  and {rule[1]} is account-wide over a representative volume: it stood at {value * 100:.3f}% "
            f"at the end ({side} the {review * 100:g}% at which AWS reviews an account), while "
            f"'{scenario.spike_set}' alone was in trouble"
        )
    elif scenario.outage is not None:
        for line in outage_report(scenario, started, received):
            say(line)
    say(f"config kept at {config_path}")


def outage_report(scenario: Scenario, started: float, received: list[Received]) -> list[str]:
    """What the outage scenario's notifications really showed: per source, when it fired and resolved."""
    if scenario.outage is None:
        return []
    begin, end = (started + t for t in scenario.outage)
    lines = [
        f"outage: the AWS endpoint failed from t+{scenario.outage[0]:.0f}s to t+{scenario.outage[1]:.0f}s"
    ]
    about = sorted({(r.target, r.source) for r in received if r.rule == SOURCE_DOWN_RULE})
    if not about:
        return [*lines, f"  no {SOURCE_DOWN_RULE} notification arrived before the demo ended"]
    for target, source in about:
        mine = [
            r for r in received if r.rule == SOURCE_DOWN_RULE and (r.target, r.source) == (target, source)
        ]
        fired = next((r.at for r in mine if r.status == "firing"), None)
        resolved = next(
            (r.at for r in mine if r.status == "resolved" and fired is not None and r.at >= fired), None
        )
        parts = [f"  {SOURCE_DOWN_RULE} for source {source or '?'} on target {target or '?'}:"]
        if fired is None:
            parts.append("no firing notification arrived")
        elif fired < begin:
            parts.append(f"fired at t+{fired - started:.1f}s, before the endpoint began failing")
        elif fired < end:
            parts.append(
                f"fired at t+{fired - started:.1f}s, {fired - begin:.1f} s after the endpoint began failing, "
                "while it was still down;"
            )
        else:
            parts.append(
                f"fired at t+{fired - started:.1f}s, {fired - end:.1f} s after the endpoint had already "
                "recovered (too late to act on);"
            )
        if fired is not None and resolved is not None:
            parts.append(
                f"resolved at t+{resolved - started:.1f}s, {resolved - end:.1f} s after it recovered"
            )
        elif fired is not None:
            parts.append("no resolved notification before the demo ended")
        lines.append(" ".join(parts))
    return lines


class _StopOnSignal:
    """SIGINT/SIGTERM set an event; a second signal exits at once. Handlers are restored on exit."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}
        self._count = 0

    def __enter__(self) -> _StopOnSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        self._count += 1
        if self._count > 1:
            os._exit(1)
        self.event.set()
