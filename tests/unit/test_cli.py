"""The command line: help, --version, --config and $SESMON_CONFIG everywhere, overrides, healthcheck."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sesmon import __version__, cli
from sesmon.demo import runner
from sesmon.healthcheck import local_address

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"
CONFIG_COMMANDS = sorted(name for name, c in cli.COMMANDS.items() if c.config)


def _minimal(tmp_path: Path, listen: str = "127.0.0.1:9469") -> Path:
    path = tmp_path / "sesmon.yaml"
    path.write_text(
        "targets:\n  - {name: prod, region: eu-west-1}\n"
        f"state: {{path: '{tmp_path / 'state.db'}'}}\n"
        f"server: {{listen: '{listen}'}}\nlogging: {{level: info, format: json}}\n"
    )
    return path


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli.CONFIG_ENV, raising=False)


def test_bare_sesmon_prints_help_listing_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sesmon")
    for name in cli.COMMANDS:
        assert f"    {name}" in out


def test_version_flag_and_command_agree(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    flag = capsys.readouterr().out
    assert flag == f"sesmon {__version__}\n"
    assert cli.main(["version"]) == 0
    assert capsys.readouterr().out == flag


@pytest.mark.parametrize("name", CONFIG_COMMANDS)
def test_every_config_command_honours_the_environment_and_the_flag(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A missing file is reported under the name it was given by, before the command does anything.
    from_env, from_flag = tmp_path / "from-env.yaml", tmp_path / "from-flag.yaml"
    monkeypatch.setenv(cli.CONFIG_ENV, str(from_env))
    assert cli.main([name]) == 2
    assert capsys.readouterr().err == f"{from_env}: file not found\n"
    assert cli.main([name, "--config", str(from_flag)]) == 2  # the flag wins over the environment
    assert capsys.readouterr().err == f"{from_flag}: file not found\n"


def test_default_config_missing_says_how_to_give_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["rules"]) == 2
    assert capsys.readouterr().err == (
        "sesmon.yaml: file not found; give --config FILE or set SESMON_CONFIG "
        "(start from a copy of config.example.yaml)\n"
    )
    (tmp_path / "sesmon.yaml").write_text(EXAMPLE.read_text())
    assert cli.main(["check-config"]) == 0
    assert capsys.readouterr().out.startswith("sesmon.yaml: ok: 1 target(s)")


def test_check_config_positional_is_an_alias_of_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-config", str(EXAMPLE)]) == 0
    positional = capsys.readouterr().out
    assert cli.main(["check-config", "--config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == positional
    assert cli.main(["check-config", str(EXAMPLE), "--config", str(EXAMPLE)]) == 0  # the same file twice
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        cli.main(["check-config", str(EXAMPLE), "--config", "other.yaml"])
    assert exc.value.code == 2
    assert "give the file either as FILE or with --config, not both" in capsys.readouterr().err


def test_listen_and_log_level_override_the_file(tmp_path: Path) -> None:
    path = _minimal(tmp_path)
    args = cli.build_parser().parse_args(["run", "--config", str(path)])
    config = cli.load(args)
    assert config is not None
    assert (config.server.listen, config.logging.level) == ("127.0.0.1:9469", "info")
    args = cli.build_parser().parse_args(
        ["run", "--config", str(path), "--listen", "[::1]:9500", "--log-level", "debug"]
    )
    config = cli.load(args)
    assert config is not None
    assert (config.server.host, config.server.port, config.logging.level) == ("::1", 9500, "debug")
    assert config.logging.format == "json"  # the rest of the file stays


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "--listen", "nope"],
            "argument --listen: 'nope' is not HOST:PORT with a port from 0 to 65535",
        ),
        (["run", "--log-level", "loud"], "argument --log-level: invalid choice: 'loud'"),
        (["version", "--config", "x.yaml"], "unrecognized arguments: --config x.yaml"),
    ],
)
def test_bad_options_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_demo_passes_listen_and_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[runner.DemoOptions] = []

    def fake_run(options: runner.DemoOptions) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(runner, "run_demo", fake_run)
    assert cli.main(["demo", "--duration", "5"]) == 0
    assert cli.main(["demo", "--listen", "127.0.0.1:0", "--log-level", "debug", "--scenario", "outage"]) == 0
    assert [(o.listen, o.log_level, o.duration, o.scenario) for o in seen] == [
        ("127.0.0.1:9469", None, 5.0, "bounce-spike"),
        ("127.0.0.1:0", "debug", None, "outage"),
    ]


def test_demo_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec

    def without_moto(name: str, *args: Any) -> Any:
        return None if name == "moto" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_moto)
    assert cli.main(["demo", "--duration", "1"]) == 1
    assert capsys.readouterr().err == (
        "sesmon demo: moto not installed; the demo needs the demo extra: "
        "pip install 'sesmon[demo]' (or run ./scripts/demo from a checkout)\n"
    )


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("0.0.0.0:9469", ("127.0.0.1", 9469, "http://127.0.0.1:9469")),
        ("[::]:9469", ("::1", 9469, "http://[::1]:9469")),
        ("10.0.0.5:9000", ("10.0.0.5", 9000, "http://10.0.0.5:9000")),
    ],
)
def test_healthcheck_asks_loopback_for_wildcard_addresses(
    listen: str, expected: tuple[str, int, str]
) -> None:
    assert local_address(listen) == expected


class _Healthz(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        body = b"ok\n" if self.status == 200 else b"scheduler stopped\n"
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def healthz_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()
    _Healthz.status = 200


def test_healthcheck_follows_server_listen(
    tmp_path: Path, healthz_server: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    port = healthz_server.server_address[1]
    path = _minimal(tmp_path, listen=f"0.0.0.0:{port}")
    assert cli.main(["healthcheck", "--config", str(path)]) == 0
    assert capsys.readouterr().out == f"healthy: http://127.0.0.1:{port}/healthz\n"
    _Healthz.status = 503
    assert cli.main(["healthcheck", "--config", str(path)]) == 1
    assert (
        capsys.readouterr().err
        == f"unhealthy: http://127.0.0.1:{port}/healthz: HTTP 503: scheduler stopped\n"
    )


def test_healthcheck_listen_flag_and_refused_connection(
    tmp_path: Path, healthz_server: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    port = healthz_server.server_address[1]
    path = _minimal(tmp_path, listen="127.0.0.1:1")  # nothing listens on port 1
    assert cli.main(["healthcheck", "--config", str(path)]) == 1
    assert capsys.readouterr().err.startswith("unhealthy: http://127.0.0.1:1/healthz: ConnectionRefusedError")
    assert cli.main(["healthcheck", "--config", str(path), "--listen", f"127.0.0.1:{port}"]) == 0
