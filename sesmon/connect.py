"""The ``sesmon setup`` and ``sesmon doctor`` commands: connect a real AWS account, then check it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from sesmon import redact
from sesmon.config import Config, TargetConfig

if TYPE_CHECKING:
    from sesmon.wiring import Wiring

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


def setup_arguments(setup: argparse.ArgumentParser) -> None:
    """``sesmon setup``'s own options (``--config`` comes with every command)."""
    setup.add_argument("--apply", action="store_true", help="create or update the resources (default: plan)")
    setup.add_argument(
        "--format",
        choices=("plan", "cloudformation"),
        default="plan",
        help="plan (default) or a CloudFormation template of the same resources",
    )


def doctor_arguments(doctor: argparse.ArgumentParser) -> None:
    """``sesmon doctor``'s own options."""
    doctor.add_argument("--output", choices=("text", "json"), default="text", help="text (default) or json")
    doctor.add_argument("--no-dns", action="store_true", help="skip the DNS checks")


def _wired(config: Config, err: TextIO) -> list[tuple[TargetConfig, Wiring]] | None:
    """Every target with a queue and its wiring; None (after saying why) when no target has one."""
    from sesmon.wiring import wiring_for  # noqa: PLC0415

    wired = [(t, wiring_for(t, config)) for t in config.targets if t.sqs is not None]
    if not wired:
        print("targets[*].sqs.queue_url: no target names a queue to connect SES events to", file=err)
        return None
    return wired


def run_setup(
    config: Config, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Print the plan or the template, or apply the plan; 1 when AWS refused a step."""
    out, err = out or sys.stdout, err or sys.stderr
    from sesmon import cloudformation  # noqa: PLC0415 - keep other commands' start-up lean
    from sesmon.aws_errors import SETUP_POLICY_COMMAND, one_line  # noqa: PLC0415
    from sesmon.provisioning import Provisioner, SetupError, render  # noqa: PLC0415
    from sesmon.sources.aws import ApiCallCounter, AwsClients  # noqa: PLC0415

    wired = _wired(config, err)
    if wired is None:
        return EXIT_CONFIG
    if args.format == "cloudformation":
        out.write(cloudformation.render([w for _, w in wired]))
        return EXIT_OK
    counter = ApiCallCounter()
    outcomes = []
    for target, wiring in wired:
        provisioner = Provisioner(wiring, AwsClients(target, counter).client, apply=args.apply)
        try:
            outcomes.append(provisioner.run())
        except (ClientError, BotoCoreError, SetupError) as exc:
            # Only what was planned or done is shown: a failure on the first call planned nothing.
            shown = [o for o in (*outcomes, provisioner.outcome) if o.steps]
            if shown:
                out.write(render(shown, applied=args.apply, stopped=True))
            # A SetupError already says what to do; AWS's failures get their fix.
            line = str(exc) if isinstance(exc, SetupError) else one_line(exc, SETUP_POLICY_COMMAND)
            print(f"sesmon setup: target {target.name}: {redact.redact(line)}", file=err)
            return EXIT_FAILED
    out.write(render(outcomes, applied=args.apply))
    return EXIT_OK


def run_doctor(
    config: Config, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """The checklist of every target with a queue; 0 when every check holds, 1 otherwise."""
    out, err = out or sys.stdout, err or sys.stderr
    from sesmon.doctor import Doctor, render_json, render_text  # noqa: PLC0415
    from sesmon.sources.aws import ApiCallCounter, AwsClients  # noqa: PLC0415

    wired = _wired(config, err)
    if wired is None:
        return EXIT_CONFIG
    counter = ApiCallCounter()
    reports = []
    for target, _ in wired:
        reports.append(Doctor(target, config, AwsClients(target, counter)).run(dns=not args.no_dns))
    out.write(render_json(reports) if args.output == "json" else render_text(reports))
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILED
