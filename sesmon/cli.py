"""Command line: one parser, subcommands registered with :func:`command`; exit 0 ok, 1 runtime, 2 usage.

Every subcommand that reads a config takes ``--config FILE`` (default ``$SESMON_CONFIG``, then
``./sesmon.yaml``); ``run`` and ``demo`` also take ``--listen`` and ``--log-level``, which override
the file. A new subcommand is one decorated function here that imports its own module lazily::

    @command("doctor", "check each target's setup", arguments=_doctor_arguments)
    def cmd_doctor(args: argparse.Namespace, config: Config) -> int: ...

A command registered with ``config=True`` receives the loaded :class:`Config` (an invalid one never
reaches it: its problems are printed one per line and the exit code is 2).

Past 400 lines on purpose: it is the registry of every subcommand's arguments; each command's
work lives in its own module, imported lazily, so this file stays declarations and dispatch.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sesmon import __version__, redact, runtime
from sesmon.config import Config, LoggingConfig
from sesmon.config_loader import ConfigError, load_config

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_CONFIG = 2

CONFIG_ENV = "SESMON_CONFIG"
DEFAULT_CONFIG = "sesmon.yaml"
# What the `demo` extra installs that the demo imports (moto's server runs on werkzeug).
DEMO_MODULES = ("moto", "werkzeug")
LOG_LEVELS: tuple[str, ...] = typing.get_args(LoggingConfig.model_fields["level"].annotation)

Arguments = Callable[[argparse.ArgumentParser], None]
Handler = Callable[..., int]


@dataclass(frozen=True)
class Command:
    """One subcommand: its handler, its own arguments and which shared options it takes."""

    name: str
    help: str
    handler: Handler
    arguments: Arguments | None = None
    # Takes --config / $SESMON_CONFIG; the handler is called as handler(args, config).
    config: bool = True
    # Takes --listen HOST:PORT and --log-level LEVEL, applied over the file's server and logging.
    overrides: bool = False
    # Checks a combination of arguments argparse cannot express; returns the usage error, if any.
    check: Callable[[argparse.Namespace], str | None] | None = None


COMMANDS: dict[str, Command] = {}


def command(
    name: str,
    help: str,
    *,
    arguments: Arguments | None = None,
    config: bool = True,
    overrides: bool = False,
    check: Callable[[argparse.Namespace], str | None] | None = None,
) -> Callable[[Handler], Handler]:
    """Register the decorated function as subcommand ``name`` (listed in ``sesmon --help`` in order)."""

    def register(handler: Handler) -> Handler:
        COMMANDS[name] = Command(name, help, handler, arguments, config, overrides, check)
        return handler

    return register


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> typing.NoReturn:
        # argparse exits 2 on usage errors, which matches our contract; keep its one-line style.
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"sesmon: error: {message}\n")


class _VersionAction(argparse.Action):
    """``--version``."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: typing.Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit", **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kwargs: object) -> None:
        print(version_text())
        parser.exit(EXIT_OK)


def version_text() -> str:
    """``sesmon 0.1.0``."""
    return f"sesmon {__version__}"


# -- shared options ------------------------------------------------------------------------------


def _listen_address(value: str) -> str:
    from sesmon.config import ServerConfig  # noqa: PLC0415

    try:
        return ServerConfig(listen=value).listen
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT with a port from 0 to 65535") from None


def _config_options() -> _Parser:
    parent = _Parser(add_help=False)
    parent.add_argument(
        "--config",
        metavar="FILE",
        help=f"config file (default ${CONFIG_ENV}, then ./{DEFAULT_CONFIG})",
    )
    return parent


def _override_options() -> _Parser:
    parent = _Parser(add_help=False)
    parent.add_argument(
        "--listen",
        type=_listen_address,
        metavar="HOST:PORT",
        help="HTTP address for /metrics, /healthz and the status page (overrides server.listen)",
    )
    parent.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        metavar="LEVEL",
        help=f"{', '.join(LOG_LEVELS)} (overrides logging.level)",
    )
    return parent


def config_path(args: argparse.Namespace) -> tuple[str, bool]:
    """The config file to read and whether it was chosen explicitly (flag or environment)."""
    if getattr(args, "config", None):
        return str(args.config), True
    if os.environ.get(CONFIG_ENV):
        return os.environ[CONFIG_ENV], True
    return DEFAULT_CONFIG, False


def apply_overrides(config: Config, args: argparse.Namespace) -> Config:
    """``config`` with the command line's ``--listen`` and ``--log-level`` in place of the file's."""
    update: dict[str, object] = {}
    if getattr(args, "listen", None):
        update["server"] = config.server.model_copy(update={"listen": args.listen})
    if getattr(args, "log_level", None):
        update["logging"] = config.logging.model_copy(update={"level": args.log_level})
    return config.model_copy(update=update) if update else config


def load(args: argparse.Namespace) -> Config | None:
    """The command's config with overrides applied, or None after printing one line per problem."""
    path, explicit = config_path(args)
    if not explicit and not Path(path).exists():
        print(
            f"{path}: file not found; give --config FILE or set {CONFIG_ENV} "
            "(start from a copy of config.example.yaml)",
            file=sys.stderr,
        )
        return None
    try:
        config = load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(redact.redact(problem), file=sys.stderr)
        return None
    return apply_overrides(config, args)


# -- commands ------------------------------------------------------------------------------------


@command("run", "run the daemon until SIGTERM/SIGINT", overrides=True)
def cmd_run(_args: argparse.Namespace, config: Config) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    from sesmon import logs  # noqa: PLC0415 - keep `sesmon --version` and check-config fast
    from sesmon.daemon import Daemon  # noqa: PLC0415
    from sesmon.state.ports import StateError  # noqa: PLC0415

    logs.configure(config.logging.level, config.logging.format)
    runtime.tune_malloc()  # before any thread starts: arenas are made per thread
    try:
        daemon = Daemon(config)
        daemon.install_signal_handlers()
        daemon.start()
        runtime.tune_gc()
    except StateError as exc:
        # One line naming the file, the problem and the fix: a crash loop's log then says what to do.
        print(f"sesmon: {redact.redact(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME
    except OSError as exc:
        print(f"sesmon: cannot start: {redact.redact(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME
    return daemon.run_until_signal()


def _state_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action", choices=("check", "backup"), help="check: integrity and contents; backup: copy"
    )
    parser.add_argument("path", metavar="PATH", help="the state file (state.path)")
    parser.add_argument("dest", nargs="?", metavar="DEST", help="backup: the new file to write")


def _state_check_arguments(args: argparse.Namespace) -> str | None:
    if args.action == "backup" and args.dest is None:
        return "state backup: give the destination: sesmon state backup PATH DEST"
    if args.action == "check" and args.dest is not None:
        return "state check: takes one PATH"
    return None


@command(
    "state",
    "check a state file (integrity and what it holds) or back it up online: state check|backup PATH [DEST]",
    arguments=_state_arguments,
    config=False,
    check=_state_check_arguments,
)
def cmd_state(args: argparse.Namespace) -> int:
    """``sesmon state check PATH`` / ``sesmon state backup PATH DEST`` (safe while sesmon runs)."""
    from sesmon.state import file as statefile  # noqa: PLC0415

    if args.action == "backup":
        try:
            pages = statefile.backup(args.path, args.dest)
        except statefile.StateFileError as exc:
            print(f"sesmon: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        print(f"{args.path}: backed up to {args.dest} ({pages:,} pages, integrity ok)")
        return EXIT_OK
    problem, summary = statefile.check(args.path)
    if summary is None:
        fix = "restore a backup, or set state.on_corrupt: quarantine to move it aside and start fresh"
        print(f"sesmon: state file {args.path}: {problem}; {fix}", file=sys.stderr)
        return EXIT_RUNTIME
    print(statefile.describe(args.path, summary))
    return EXIT_OK


def _check_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", metavar="FILE", help="the same as --config FILE")
    parser.add_argument(
        "--strict", action="store_true", help="exit 2 when there are warnings (placeholders, no sinks …)"
    )


def _check_config_file(args: argparse.Namespace) -> str | None:
    # The positional form predates --config and stays as an alias of it.
    if args.file is not None:
        if args.config is not None and args.config != args.file:
            return "check-config: give the file either as FILE or with --config, not both"
        args.config = args.file
    return None


@command(
    "check-config",
    "validate a config file, summarise it and warn of likely mistakes",
    arguments=_check_config_arguments,
    check=_check_config_file,
)
def cmd_check_config(args: argparse.Namespace, config: Config) -> int:
    """Validate a config file and summarise it in one line; then one ``warning:`` line (stderr) per
    item that is valid but surely not meant, which ``--strict`` makes a usage error (exit 2)."""
    from sesmon.config_warnings import config_warnings  # noqa: PLC0415

    alerts = config.alerts
    print(
        f"{config_path(args)[0]}: ok: {len(config.targets)} target(s) "
        f"({', '.join(f'{t.name}@{t.region}' for t in config.targets)}), "
        f"windows {', '.join(config.windows)} + volume, "
        f"{len(alerts.rules)} rule(s), {len(alerts.sinks)} sink(s)"
    )
    warnings = config_warnings(config)
    for warning in warnings:
        print(f"warning: {redact.redact(warning)}", file=sys.stderr)
    return EXIT_CONFIG if warnings and args.strict else EXIT_OK


@command("rules", "print the alert rules as a Prometheus rule file")
def cmd_rules(args: argparse.Namespace, config: Config) -> int:
    """Print the config's alert rules as a Prometheus rule file, or (exit 2) one line per rule
    whose metric family the config does not export, which Prometheus would never fire."""
    from sesmon.promrules import problems, render  # noqa: PLC0415 - keep other commands fast

    if found := problems(config):
        for problem in found:
            print(f"{config_path(args)[0]}: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(render(config))
    return EXIT_OK


def _iam_policy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--setup",
        action="store_true",
        help="the separate policy `sesmon setup --apply` needs (writes), not the daemon's",
    )


@command(
    "iam-policy", "print the least-privilege IAM policy JSON for a config", arguments=_iam_policy_arguments
)
def cmd_iam_policy(args: argparse.Namespace, config: Config) -> int:
    """Print the least-privilege IAM policy for what the config enables (run and doctor: reads only),
    or with --setup the one `sesmon setup --apply` needs."""
    import json  # noqa: PLC0415 - keep the other commands' start-up lean

    from sesmon.iam import build_policy  # noqa: PLC0415

    print(json.dumps(build_policy(config, setup=args.setup), indent=2))
    return EXIT_OK


def _setup_arguments(parser: argparse.ArgumentParser) -> None:
    from sesmon.connect import setup_arguments  # noqa: PLC0415 - the command's module owns its options

    setup_arguments(parser)


@command(
    "setup", "plan, apply or print as CloudFormation the SES → SQS event path", arguments=_setup_arguments
)
def cmd_setup(args: argparse.Namespace, config: Config) -> int:
    """What the config implies in AWS: the plan, --apply to build it, or a CloudFormation template."""
    from sesmon.connect import run_setup  # noqa: PLC0415 - boto3 only for the commands that call AWS

    return run_setup(config, args)


def _doctor_arguments(parser: argparse.ArgumentParser) -> None:
    from sesmon.connect import doctor_arguments  # noqa: PLC0415

    doctor_arguments(parser)


@command(
    "doctor",
    "check credentials, SES, the queue and every event route, with the fix",
    arguments=_doctor_arguments,
)
def cmd_doctor(args: argparse.Namespace, config: Config) -> int:
    """A checklist per target; exit 0 when every check holds, 1 otherwise."""
    from sesmon.connect import run_doctor  # noqa: PLC0415

    return run_doctor(config, args)


def _healthcheck_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        type=_listen_address,
        metavar="HOST:PORT",
        help="the address `sesmon run --listen` was given, if any (default: server.listen)",
    )
    parser.add_argument("--timeout", type=_positive_seconds, default=4.0, metavar="SECONDS")


@command(
    "healthcheck",
    "exit 0 if the daemon on server.listen answers /healthz (for HEALTHCHECK)",
    arguments=_healthcheck_arguments,
)
def cmd_healthcheck(args: argparse.Namespace, config: Config) -> int:
    """Ask the daemon on ``server.listen`` (or ``--listen``) for /healthz; 0 healthy, 1 not."""
    from sesmon.healthcheck import probe  # noqa: PLC0415

    healthy, message = probe(config.server.listen, args.timeout)
    print(message, file=sys.stdout if healthy else sys.stderr)
    return EXIT_OK if healthy else EXIT_RUNTIME


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of seconds")
    return seconds


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    from sesmon.demo.scenarios import DEFAULT_SCENARIO, SCENARIOS  # noqa: PLC0415 - pure and light

    parser.add_argument(
        "--duration",
        type=_positive_seconds,
        metavar="SECONDS",
        help="stop after SECONDS (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        metavar="NAME",
        help=f"{', '.join(sorted(SCENARIOS))} (default {DEFAULT_SCENARIO})",
    )
    parser.add_argument(
        "--dir",
        default="sesmon-demo",
        metavar="PATH",
        help="where the generated config and the state go (default ./sesmon-demo)",
    )


# The demo writes its own config (it points at the embedded AWS), so it reads none: --config and
# $SESMON_CONFIG do not apply to it.
@command(
    "demo",
    "see sesmon work: embedded AWS, simulated SES traffic, the real daemon",
    arguments=_demo_arguments,
    config=False,
    overrides=True,
)
def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo: embedded AWS, simulated SES traffic and the real daemon."""
    missing = [name for name in DEMO_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        # The embedded AWS (moto) and its web stack are the `demo` extra, absent from production installs.
        print(
            f"sesmon demo: {', '.join(missing)} not installed; the demo needs the demo extra: "
            "pip install 'sesmon[demo]' (or run ./scripts/demo from a checkout)",
            file=sys.stderr,
        )
        return EXIT_RUNTIME
    from sesmon.demo.runner import DemoOptions, run_demo  # noqa: PLC0415

    options = DemoOptions(
        scenario=args.scenario,
        duration=args.duration,
        listen=args.listen or DemoOptions.listen,
        log_level=args.log_level,
        directory=Path(args.dir),
    )
    try:
        return run_demo(options)
    except OSError as exc:
        print(f"sesmon demo: cannot start: {redact.redact(str(exc))}", file=sys.stderr)
        return EXIT_RUNTIME


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    # Checked after the config loads, like every config command's other arguments.
    parser.add_argument("--configuration-set", metavar="NAME", help="the set to resume (required)")
    parser.add_argument("--target", metavar="NAME", help="the target it is in (needed with several)")


@command(
    "resume",
    "re-enable a configuration set's sending after a pause, and re-arm its actions",
    arguments=_resume_arguments,
)
def cmd_resume(args: argparse.Namespace, config: Config) -> int:
    """Re-enable a configuration set's sending and re-arm its actions."""
    if not args.configuration_set:
        print("sesmon resume: --configuration-set NAME is required", file=sys.stderr)
        return EXIT_CONFIG
    from sesmon.actions.resume import resume_command  # noqa: PLC0415 - keep other commands fast

    return resume_command(config, args.configuration_set, args.target)


@command("version", "print the version", config=False)
def cmd_version(_args: argparse.Namespace) -> int:
    """Print the version."""
    print(version_text())
    return EXIT_OK


# -- parser and entry point ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subparser per registered :class:`Command`."""
    parser = _Parser(prog="sesmon", description="Deliverability monitor for Amazon SES.")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    config_options, override_options = _config_options(), _override_options()
    for cmd in COMMANDS.values():
        parents = ([config_options] if cmd.config else []) + ([override_options] if cmd.overrides else [])
        child = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help, parents=parents)
        if cmd.arguments is not None:
            cmd.arguments(child)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sesmon`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # A bare `sesmon` is a request for help, not a mistake.
        parser.print_help()
        return EXIT_OK
    cmd = COMMANDS[args.command]
    problem = cmd.check(args) if cmd.check is not None else None
    if problem is not None:
        parser.error(problem)
    try:
        if not cmd.config:
            return cmd.handler(args)
        config = load(args)
        if config is None:
            return EXIT_CONFIG
        return cmd.handler(args, config)
    except BrokenPipeError:
        # `sesmon rules ... | head` closed the pipe early: not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
