"""Command line: ``sesmon run | check-config | version`` with exit codes 0 ok, 1 runtime, 2 config/usage."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from sesmon import __version__, redact, runtime
from sesmon.config import Config
from sesmon.config_loader import ConfigError, load_config

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2 on usage errors, which matches our contract; keep its one-line style.
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"sesmon: error: {message}\n")


def _default_config_path() -> str:
    return os.environ.get("SESMON_CONFIG") or "sesmon.yaml"


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(redact.redact(problem), file=sys.stderr)
        return None


def cmd_version(_args: argparse.Namespace) -> int:
    """Print the version."""
    print(f"sesmon {__version__}")
    return EXIT_OK


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file and summarise it in one line."""
    config = _load(args.file)
    if config is None:
        return EXIT_CONFIG
    alerts = config.alerts
    print(
        f"{args.file}: ok: {len(config.targets)} target(s) "
        f"({', '.join(f'{t.name}@{t.region}' for t in config.targets)}), "
        f"windows {', '.join(config.windows)} + volume, "
        f"{len(alerts.rules)} rule(s), {len(alerts.sinks)} sink(s)"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    config = _load(args.config or _default_config_path())
    if config is None:
        return EXIT_CONFIG
    from sesmon import logs  # noqa: PLC0415 - keep `sesmon version` and check-config fast
    from sesmon.daemon import Daemon  # noqa: PLC0415

    logs.configure(config.logging.level, config.logging.format)
    try:
        daemon = Daemon(config)
        daemon.install_signal_handlers()
        daemon.start()
        runtime.tune_gc()
    except OSError as exc:
        print(f"sesmon: cannot start: {redact.redact(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME
    return daemon.run_until_signal()


def cmd_iam_policy(args: argparse.Namespace) -> int:
    """Print the least-privilege IAM policy for what the config enables."""
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    import json  # noqa: PLC0415 - keep the other commands' start-up lean

    from sesmon.iam import build_policy  # noqa: PLC0415

    print(json.dumps(build_policy(config), indent=2))
    return EXIT_OK


def _listen_address(value: str) -> str:
    from sesmon.config import ServerConfig  # noqa: PLC0415

    try:
        return ServerConfig(listen=value).listen
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT with a port from 0 to 65535") from None


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo: embedded AWS, simulated SES traffic and the real daemon."""
    from pathlib import Path  # noqa: PLC0415

    from sesmon.demo.runner import DemoOptions, run_demo  # noqa: PLC0415

    options = DemoOptions(
        scenario=args.scenario, duration=args.duration, listen=args.listen, directory=Path(args.dir)
    )
    try:
        return run_demo(options)
    except OSError as exc:
        print(f"sesmon demo: cannot start: {redact.redact(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME


def cmd_rules(args: argparse.Namespace) -> int:
    """Print the config's alert rules as a Prometheus rule file."""
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    from sesmon.promrules import render  # noqa: PLC0415 - keep other commands fast

    sys.stdout.write(render(config))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "rules": cmd_rules,
    "iam-policy": cmd_iam_policy,
    "demo": cmd_demo,
    "run": cmd_run,
    "check-config": cmd_check_config,
    "version": cmd_version,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each later capability adds its own subcommand here."""
    parser = _Parser(prog="sesmon", description="Deliverability monitor for Amazon SES.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", help="config file (default $SESMON_CONFIG, then ./sesmon.yaml)")
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file", type=str)
    sub.add_parser("version", help="print the version")
    rules = sub.add_parser("rules", help="print the alert rules as a Prometheus rule file")
    rules.add_argument("--config", required=True, help="config file")
    iam = sub.add_parser("iam-policy", help="print the least-privilege IAM policy JSON for a config")
    iam.add_argument("--config", required=True, help="config file")
    from sesmon.demo.scenarios import DEFAULT_SCENARIO, SCENARIOS  # noqa: PLC0415 - pure and light

    demo = sub.add_parser("demo", help="see sesmon work end to end: embedded AWS, simulated SES traffic")
    demo.add_argument(
        "--duration",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop after SECONDS (default: until Ctrl-C)",
    )
    demo.add_argument(
        "--listen",
        type=_listen_address,
        default="127.0.0.1:9469",
        metavar="HOST:PORT",
        help="HTTP address (default 127.0.0.1:9469)",
    )
    demo.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        metavar="NAME",
        help=f"{', '.join(sorted(SCENARIOS))} (default {DEFAULT_SCENARIO})",
    )
    demo.add_argument(
        "--dir",
        default="sesmon-demo",
        metavar="PATH",
        help="where the config and state go (default ./sesmon-demo)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sesmon`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        # `sesmon rules ... | head` closed the pipe early: not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
