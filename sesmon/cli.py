"""Command line: ``sesmon run | check-config | version`` with exit codes 0 ok, 1 runtime, 2 config/usage."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from sesmon import __version__, redact
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
        daemon.start()
    except OSError as exc:
        print(f"sesmon: cannot start: {redact.redact(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME
    return daemon.run_until_signal()


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sesmon`` console script."""
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())


