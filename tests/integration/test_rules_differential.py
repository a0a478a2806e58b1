"""One meaning for an alert: the built-in evaluator and the generated Prometheus rules agree.

For every rule of config.example.yaml, one series of observations (a scripted walk through each
behaviour — ``for``, a spike shorter than ``for``, escalation, both hysteresis bands,
de-escalation, the volume guards while firing and while pending, values exactly on a line — then
a seeded random walk) goes through the built-in evaluator with an injected clock. The same series,
as the metrics sesmon exports, goes to ``promtool test rules`` with the rules ``sesmon rules``
generates; the expected alerts at every evaluation are what the built-in evaluator had firing.
The event-count series carry exactly the labels sesmon's own collector writes (only ``target``,
beside sesmon_target_info), plus the ``job`` and ``instance`` a scrape adds, so the rules' join
of the account and region is tested against the real exposition.
Prometheus fires one alert per level, so an alert firing at ``critical`` expects both its warning
and its critical alert (the documented difference, resolved by inhibition in Alertmanager).
"""

from __future__ import annotations

import itertools
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from sesmon import windows as counts
from sesmon.batch import LAG_BUCKETS
from sesmon.config import Config, MetricsConfig, RuleConfig, TargetConfig
from sesmon.config_loader import load_config
from sesmon.metrics.events import EventsCollector, TargetReadout
from sesmon.promrules import rule_file
from sesmon.rules import SEVERITY_RANK, Evaluator, hold_line, levels
from sesmon.signals import RATE_SIGNALS, Observation
from sesmon.targets import TargetDirectory

ROOT = Path(__file__).resolve().parents[2]
STEP = 60  # seconds: promtool evaluates every minute, and so does the built-in evaluator here
BASE = {"target": "prod", "account_id": "123456789012", "region": "us-east-1"}
SCRAPE = {"job": "sesmon", "instance": "127.0.0.1:9469"}  # what Prometheus adds to every scraped series
SETS = ("marketing", "transactional")
SENT = 100_000  # recipients behind a judged rate: every line of the default rules is a whole count
QUOTA = 100_000


@dataclass(frozen=True)
class Sample:
    """One subject's input at one step: the signal's value and the volume behind it."""

    value: float
    recipients: int = 0
    events: int = 0


Reading = Literal["value", "flipped", "recipients", "events", "quota", "last_event", "one"]


def _read(reading: Reading, sample: Sample) -> float | None:
    """What one exported series shows for ``sample``."""
    if reading == "one":  # an info series
        return 1.0
    if reading == "value":
        return sample.value
    if reading == "flipped":  # the metric says "ok" (1) where the signal says "not ok"
        return 1.0 - sample.value
    if reading == "recipients":
        return float(sample.recipients)
    if reading == "events":
        return float(sample.events)
    if reading == "quota":
        return float(QUOTA)
    return None if sample.events < 0 else float(sample.events)  # last_event: -1 means none yet


@dataclass(frozen=True)
class Subject:
    """One label set the rule sees: its observation labels and how it reads as exported series."""

    labels: dict[str, str]  # the built-in Observation's labels
    series: tuple[tuple[str, Reading], ...]  # exported series text → what it shows of a sample
    alert_labels: dict[str, str]  # labels of the Prometheus alert besides alertname/severity/signal


def _series(metric: str, labels: dict[str, str], base: dict[str, str] = BASE) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in {**SCRAPE, **base, **labels}.items())
    return f"{metric}{{{inner}}}"


def _exported(config: Config) -> dict[tuple[str, str, str], str]:
    """The event-count series of target ``prod`` as the real collector writes them, scraped.

    Keyed by (family, configuration set, window); the info series by (name, "", "").
    """
    directory = TargetDirectory([TargetConfig(name=BASE["target"], region=BASE["region"])])
    directory.set_account_id(BASE["target"], BASE["account_id"])
    sent = counts.zero()
    sent[counts.SENT] = 1  # a known denominator, so every ratio series is written
    windows = (*config.windows, "volume")
    readout = TargetReadout(
        target=BASE["target"],
        counters={},
        windows={cs: dict.fromkeys(windows, counts.Totals(tuple(sent))) for cs in SETS},
        last_events=dict.fromkeys(SETS, 0.0),
        lag_counts=[0] * (len(LAG_BUCKETS) + 1),
        lag_sum=0.0,
        window_labels=windows,
    )
    collector = EventsCollector(lambda: [readout], directory, MetricsConfig())
    out = {}
    for family in collector.collect():
        for sample in family.samples:
            labels = dict(sample.labels)
            if sample.name == "sesmon_target_info" or "configuration_set" in labels:
                key = (sample.name, labels.get("configuration_set", ""), labels.get("window", ""))
                inner = ",".join(f'{k}="{v}"' for k, v in {**SCRAPE, **labels}.items())
                out[key] = f"{sample.name}{{{inner}}}"
    return out


# Boolean signals: (metric, labels on the series only, labels the observation carries too, reading).
_CONDITIONS: dict[str, tuple[str, dict[str, str], dict[str, str], Reading]] = {
    "enforcement_status": ("sesmon_account_enforcement_status", {"status": "PROBATION"}, {}, "value"),
    "account_sending_disabled": ("sesmon_account_sending_enabled", {}, {}, "flipped"),
    "sandbox": ("sesmon_account_production_access_enabled", {}, {}, "flipped"),
    "identity_unverified": (
        "sesmon_identity_verified",
        {"identity_type": "domain"},
        {"identity": "example.com"},
        "flipped",
    ),
    "dkim_not_successful": (
        "sesmon_identity_dkim_status",
        {"status": "FAILED"},
        {"identity": "example.com"},
        "value",
    ),
    "dns_check_failed": ("sesmon_dns_check_ok", {}, {"domain": "example.com", "check": "dmarc"}, "flipped"),
    "source_down": ("sesmon_source_up", {}, {"source": "sqs"}, "flipped"),
    "configuration_set_sending_disabled": ("sesmon_configuration_set_sending_enabled", {}, {}, "flipped"),
    "event_type_not_routed": (
        "sesmon_configuration_set_event_type_routed",
        {},
        {"event_type": "bounce"},
        "flipped",
    ),
}
_PER_SET = ("configuration_set_sending_disabled", "event_type_not_routed")


def subjects(rule: RuleConfig, config: Config) -> list[Subject]:
    """Two label sets per rule, each exported as the metric its generated rule reads."""
    signal = rule.signal
    exported = _exported(config)
    info: tuple[str, Reading] = (exported["sesmon_target_info", "", ""], "one")
    out: list[Subject] = []
    for cs in SETS:
        in_set = {"configuration_set": cs}
        # Account-level signals get a second target where per-set ones get a second set.
        base = {**BASE, "target": "prod" if cs == "marketing" else "staging"}
        if signal in ("bounce_rate", "complaint_rate"):
            name = signal.split("_")[0]
            keyed = {**in_set, "window": rule.window or ""}
            ratio = exported[f"sesmon_window_{name}_ratio", cs, keyed["window"]]
            sent = exported["sesmon_window_sent_recipients", cs, keyed["window"]]
            series: tuple[tuple[str, Reading], ...] = ((ratio, "value"), (sent, "recipients"), info)
            out.append(Subject({"target": "prod", **in_set}, series, {**BASE, **keyed}))
        elif signal in ("cloudwatch_bounce_rate", "cloudwatch_complaint_rate"):
            name = signal.split("_")[1]
            if cs == "marketing":  # the account-level reading, then one configuration set's
                metric, labels, observed = f"sesmon_account_reputation_{name}_ratio", {}, "(account)"
            else:
                metric, labels, observed = f"sesmon_configuration_set_reputation_{name}_ratio", in_set, cs
            series = ((_series(metric, labels), "value"),)
            out.append(Subject({"target": "prod", "configuration_set": observed}, series, {**BASE, **labels}))
        elif signal == "quota_usage":
            series = (
                (_series("sesmon_send_quota_sent_last_24h", {}, base), "events"),
                (_series("sesmon_send_quota_max_24h", {}, base), "quota"),
            )
            out.append(Subject({"target": base["target"]}, series, base))
        elif signal == "no_events":
            text = exported["sesmon_configuration_set_last_event_timestamp_seconds", cs, ""]
            series = ((text, "last_event"), info)
            out.append(Subject({"target": "prod", **in_set}, series, {**BASE, **in_set}))
        else:
            metric, series_only, shared, reading = _CONDITIONS[signal]
            if signal in _PER_SET:
                shared, base = {**in_set, **shared}, BASE
            labels = {**shared, **series_only}
            series = ((_series(metric, labels, base), reading),)
            out.append(Subject({"target": base["target"], **shared}, series, {**base, **labels}))
    return out


# -- the series of observations -------------------------------------------------------------------


def scripted(rule: RuleConfig, ratio: float) -> list[Sample]:
    """A walk through every behaviour of the rule's kind, ``for`` measured in steps."""
    hold = max(1, int(rule.for_ // STEP))
    if rule.signal == "no_events":
        return _silences(rule, hold)
    if rule.signal not in RATE_SIGNALS:
        on, off = Sample(1.0), Sample(0.0)
        # A flap shorter than `for`, a condition that holds long enough, a resolution, again.
        return (
            [off] * 3 + [on] * (hold - 1) + [off] + [on] * (hold + 2) + [off] * 2 + [on] * (hold + 1) + [off]
        )
    marks = dict(levels(rule))
    warning, critical = marks.get("warning"), marks.get("critical")
    low = min(marks.values())
    walk: list[tuple[float, bool]] = [(0.5 * low, True)] * 3
    if warning is not None:
        walk += [(1.2 * warning, True)] * (hold + 2)  # fires warning after `for`
    if critical is not None:
        walk += [(1.2 * critical, True)] * (hold - 1)  # a spike shorter than `for`: no escalation
        if warning is not None:
            walk += [(1.2 * warning, True)] * 2
        walk += [(1.2 * critical, True)] * (hold + 2)  # escalates (or fires) after `for`
        walk += [((critical + hold_line(critical, ratio)) / 2, True)] * 2  # critical's hysteresis band
        walk += [(hold_line(critical, ratio), True)]  # exactly on the hold line: kept
        if warning is not None and hold_line(critical, ratio) > warning:
            walk += [((warning + hold_line(critical, ratio)) / 2, True)] * 2  # de-escalates at once
    walk += [(0.0, False)] * 3  # too little volume while firing: held
    walk += [((low + hold_line(low, ratio)) / 2, True)] * 2  # the lowest level's hysteresis band
    walk += [(0.5 * low, True)] * 3  # resolves
    walk += [(1.5 * (critical or low), False)] * (hold + 2)  # a huge rate on too little volume: nothing
    walk += [(1.2 * low, True)] * (hold - 1) + [(1.2 * low, False)] + [(1.2 * low, True)] * (hold - 1)
    walk += [(1.2 * low, True)] * 3  # the guard reset the timer: fires `for` after the dip only
    walk += [(low, True)] * 2 + [(hold_line(low, ratio), True)] * 2  # exactly on the lines: inclusive
    walk += [(hold_line(low, ratio) * 0.999, True)] * 2 + [(0.0, True)] * 2
    return [_rate_sample(rule, value, judged, index) for index, (value, judged) in enumerate(walk)]


def randomized(rule: RuleConfig, ratio: float, seed: int) -> list[Sample]:
    """A seeded random walk over the interesting values of the rule, changing about once per ``for``."""
    rng = random.Random(seed)  # reproducible test input
    hold = max(1, int(rule.for_ // STEP))
    steps, change = max(200, 20 * hold), 1.0 / (hold + 1)
    if rule.signal == "no_events":
        return _silences(rule, max(1, int(rule.for_ // STEP)), rng)
    if rule.signal not in RATE_SIGNALS:
        out, value = [], 0.0
        for _ in range(steps):
            if rng.random() < change:
                value = 1.0 - value
            out.append(Sample(value))
        return out
    points = [0.0, 0.5 * min(line for _name, line in levels(rule))]
    for _name, line in levels(rule):
        points += [0.5 * line, hold_line(line, ratio) * 0.999, hold_line(line, ratio), line, 1.2 * line]
    walk: list[Sample] = []
    value = points[0]
    for index in range(steps):
        if rng.random() < change:
            value = rng.choice(points)
        walk.append(_rate_sample(rule, value, rng.random() > 0.12, index))
    return walk


def _rate_sample(rule: RuleConfig, value: float, judged: bool, index: int) -> Sample:
    if rule.signal in ("bounce_rate", "complaint_rate"):
        if not judged and rule.min_recipients:
            # Alternate the two guards: too few recipients, then too few events.
            if index % 2 or not rule.min_events:
                sent = rule.min_recipients - 1
                events = round(value * sent)
                return Sample(events / sent, sent, events)
            events = rule.min_events - 1
            return Sample(events / SENT, SENT, events)
        events = round(value * SENT)
        return Sample(events / SENT, SENT, events)
    if rule.signal == "quota_usage":
        sent = round(value * QUOTA)
        return Sample(sent / QUOTA, events=sent)
    return Sample(value)


def _silences(rule: RuleConfig, hold: int, rng: random.Random | None = None) -> list[Sample]:
    """``no_events``: Sample.events carries the last event's time; silence fires after the window."""
    del hold
    window = int(3600 if rule.window in (None, "volume") else _window_seconds(rule.window))
    pattern = [True] * 5 + [False] * (window // STEP + 5) + [True] * 3 + [False] * (window // STEP // 2)
    if rng is not None:  # bursts and silences of random lengths around the window's
        pattern = []
        while len(pattern) < window // STEP * 6:
            pattern += [True] * rng.randint(1, 5) + [False] * rng.randint(1, 2 * window // STEP)
    out, last = [], -1
    for index, active in enumerate(pattern):
        if active:
            last = index * STEP
        out.append(Sample(0.0, events=last))
    return out


def _window_seconds(window: str) -> float:
    from sesmon.durations import parse_duration  # noqa: PLC0415

    return parse_duration(window)


# -- the two engines ------------------------------------------------------------------------------


def builtin_alerts(rule: RuleConfig, config: Config, walks: list[list[Sample]]) -> list[list[dict[str, str]]]:
    """At each step, the Prometheus alerts the built-in evaluator's firing alerts stand for."""
    evaluator = Evaluator(
        [rule],
        resolve_ratio=config.alerts.resolve_ratio,
        repeat_interval=1e12,
        resolve_missing_after=config.alerts.resolve_missing_after,
    )
    subs = subjects(rule, config)
    by_labels = {tuple(sorted(s.labels.items())): s for s in subs}
    names = [name for name, _line in levels(rule)]
    out: list[list[dict[str, str]]] = []
    length = max(len(w) for w in walks)
    for index in range(length):
        now = float(index * STEP)
        observations = []
        for subject, walk in zip(subs, walks, strict=True):
            sample = walk[min(index, len(walk) - 1)]
            observations.append(_observation(rule, subject, sample, now, config))
        evaluator.evaluate({rule.name: [o for o in observations if o is not None]}, now)
        expected = []
        for alert in evaluator.firing():
            subject = by_labels[alert.labels]
            for name in names:
                if SEVERITY_RANK[name] <= SEVERITY_RANK[alert.severity]:
                    labels = {**SCRAPE, **subject.alert_labels, "severity": name, "signal": rule.signal}
                    expected.append(labels)
        out.append(expected)
    return out


def _observation(
    rule: RuleConfig, subject: Subject, sample: Sample, now: float, config: Config
) -> Observation | None:
    labels = tuple(sorted(subject.labels.items()))
    if rule.signal == "no_events":
        if sample.events < 0:
            return None  # a set that never had an event is not observed (ingest knows no last event)
        window = config.window_seconds.get(rule.window or "", min(config.window_seconds.values()))
        silent = sample.events <= now - window
        return Observation(rule.signal, labels, 1.0 if silent else 0.0)
    return Observation(rule.signal, labels, sample.value, recipients=sample.recipients, events=sample.events)


def promtool_case(
    rule: RuleConfig, config: Config, walks: list[list[Sample]], expected: list[list[dict[str, str]]]
) -> dict[str, Any]:
    """One promtool test group: the walks as input series, the built-in's alerts at every minute."""
    values: dict[str, list[str]] = {}
    length = max(len(w) for w in walks)
    for subject, walk in zip(subjects(rule, config), walks, strict=True):
        for text, reading in subject.series:
            if text in values:
                continue  # one series both subjects read (their target's info): written once
            read = [_read(reading, walk[min(index, len(walk) - 1)]) for index in range(length)]
            values[text] = ["_" if value is None else repr(value) for value in read]
    return {
        "interval": "1m",
        "input_series": [{"series": text, "values": " ".join(v)} for text, v in values.items()],
        "alert_rule_test": [
            {
                "eval_time": f"{index}m",
                "alertname": rule.name,
                "exp_alerts": [{"exp_labels": labels} for labels in alerts],
            }
            for index, alerts in enumerate(expected)
        ],
    }


def _without_annotations(config: Config) -> dict[str, Any]:
    # The differential is about firing and resolving; annotation text has tests of its own.
    data = rule_file(config)
    for item in data["groups"][0]["rules"]:
        item.pop("annotations", None)
    return data


def cases(config: Config) -> Iterator[tuple[RuleConfig, list[list[Sample]]]]:
    ratio = config.alerts.resolve_ratio
    for number, rule in enumerate(config.alerts.rules):
        main = scripted(rule, ratio)
        # The second subject runs the same walk two steps later, so label sets must not interfere.
        yield rule, [main, [main[0]] * 2 + main]
        yield rule, [randomized(rule, ratio, seed=number), randomized(rule, ratio, seed=1000 + number)]


def test_builtin_and_generated_rules_fire_and_resolve_alike(promtool: str, tmp_path: Path) -> None:
    config = load_config(ROOT / "config.example.yaml", {})
    groups, covered, transitions = [], set(), 0
    for rule, walks in cases(config):
        expected = builtin_alerts(rule, config, walks)
        # The walks must make the rule do something, or agreeing would prove nothing.
        changes = sum(1 for a, b in itertools.pairwise(expected) if a != b)
        assert changes >= 2, f"{rule.name}: the walk never fires and resolves"
        transitions += changes
        covered.add(rule.name)
        groups.append(promtool_case(rule, config, walks, expected))
    assert covered == {r.name for r in config.alerts.rules}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(_without_annotations(config), sort_keys=False))
    test_file = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": groups}
    (tmp_path / "differential.test.yml").write_text(yaml.safe_dump(test_file, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", "differential.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    assert transitions > 4 * len(covered)


def test_the_differential_catches_a_disagreement(promtool: str, tmp_path: Path) -> None:
    # Guard against a differential that cannot fail: one alert claimed a minute early shows.
    config = load_config(ROOT / "config.example.yaml", {})
    rule = next(r for r in config.alerts.rules if r.min_recipients)
    walks = [scripted(rule, config.alerts.resolve_ratio)] * 2
    expected = builtin_alerts(rule, config, walks)
    tampered = [list(a) for a in expected]
    first = next(i for i, a in enumerate(tampered) if a)
    tampered[first - 1] = tampered[first]  # claim it fired one minute earlier
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(_without_annotations(config), sort_keys=False))
    test_file = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [promtool_case(rule, config, walks, tampered)],
    }
    (tmp_path / "tampered.test.yml").write_text(yaml.safe_dump(test_file, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", "tampered.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert rule.name in result.stdout + result.stderr
