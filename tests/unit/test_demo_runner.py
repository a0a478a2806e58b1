"""Pure parts of the demo runner and the `sesmon demo` command line."""

from __future__ import annotations

import pytest

from sesmon.cli import build_parser
from sesmon.demo.receiver import Received
from sesmon.demo.runner import _http_base, detection_latency, outage_report
from sesmon.demo.scenarios import SCENARIOS, SPIKE_AT


def _received(at: float, rule: str = "BounceRateHigh", configuration_set: str = "marketing") -> Received:
    return Received(at, "firing", rule, "warning", configuration_set, 0.03, 0.02, "", "fired", "ok")


def test_detection_latency_counts_from_the_spike_to_the_first_matching_notification() -> None:
    started = 1000.0
    received = [
        _received(started + 5, rule="SesSourceDown", configuration_set=""),
        _received(started + 30, configuration_set="transactional"),
        _received(started + SPIKE_AT + 17.5),
        _received(started + SPIKE_AT + 40),
    ]
    assert detection_latency(SCENARIOS["bounce-spike"], started, received) == pytest.approx(17.5)
    assert detection_latency(SCENARIOS["complaint-spike"], started, received) is None
    assert detection_latency(SCENARIOS["steady"], started, received) is None


def test_http_base_makes_wildcards_browsable() -> None:
    assert _http_base("0.0.0.0:9469", 9469) == "http://127.0.0.1:9469"
    assert _http_base("127.0.0.1:0", 41234) == "http://127.0.0.1:41234"
    assert _http_base("[::1]:0", 5000) == "http://[::1]:5000"
    assert _http_base("[::]:9469", 9469) == "http://[::1]:9469"


def test_demo_command_line() -> None:
    args = build_parser().parse_args(["demo"])
    # No --listen: the demo's own default (127.0.0.1:9469) applies, see tests/unit/test_cli.py.
    assert (args.scenario, args.duration, args.listen, args.dir) == (
        "bounce-spike",
        None,
        None,
        "sesmon-demo",
    )
    args = build_parser().parse_args(
        ["demo", "--scenario", "outage", "--duration", "90", "--listen", "127.0.0.1:0", "--dir", "/tmp/x"]
    )
    assert (args.scenario, args.duration, args.listen, args.dir) == ("outage", 90.0, "127.0.0.1:0", "/tmp/x")


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--scenario", "nope"],
        ["demo", "--duration", "-1"],
        ["demo", "--duration", "soon"],
        ["demo", "--listen", "9469"],
        ["demo", "--listen", "host:99999"],
    ],
)
def test_demo_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2


def _down(at: float, status: str, source: str, target: str = "demo") -> Received:
    return Received(at, status, "SesSourceDown", "warning", "", 1.0, None, "", status, "ok", target, source)


def test_outage_report_says_when_each_source_fired_and_resolved_against_the_outage() -> None:
    started = 1000.0
    scenario = SCENARIOS["outage"]
    assert scenario.outage is not None
    begin, end = scenario.outage
    received = [
        _down(started + begin + 20.4, "firing", "sqs"),
        _received(started + begin + 21, rule="BounceRateHigh"),
        _down(started + end + 3.0, "firing", "identities"),
        _down(started + end + 12.5, "resolved", "sqs"),
    ]
    assert outage_report(scenario, started, received) == [
        f"outage: the AWS endpoint failed from t+{begin:.0f}s to t+{end:.0f}s",
        f"  SesSourceDown for source identities on target demo: fired at t+{end + 3:.1f}s, 3.0 s after the "
        "endpoint had already recovered (too late to act on); no resolved notification before the demo ended",
        f"  SesSourceDown for source sqs on target demo: fired at t+{begin + 20.4:.1f}s, 20.4 s after the "
        f"endpoint began failing, while it was still down; resolved at t+{end + 12.5:.1f}s, 12.5 s after it "
        "recovered",
    ]
    assert outage_report(scenario, started, []) == [
        f"outage: the AWS endpoint failed from t+{begin:.0f}s to t+{end:.0f}s",
        "  no SesSourceDown notification arrived before the demo ended",
    ]
    assert outage_report(SCENARIOS["steady"], started, received) == []
