"""The demo's printed commands name a sesmon the user's shell can run, on PATH or not."""

from __future__ import annotations

import os
from pathlib import Path

from sesmon.demo.runner import resume_command_line
from sesmon.demo.shell import sesmon_command


def _script(directory: Path) -> Path:
    directory.mkdir(parents=True)
    script = directory / "sesmon"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return script


def test_a_sesmon_on_path_is_called_by_its_name(tmp_path: Path) -> None:
    script = _script(tmp_path / "venv" / "bin")
    assert sesmon_command(str(script), path=str(script.parent)) == "sesmon"


def test_a_virtualenv_sesmon_off_path_is_printed_with_its_absolute_path(tmp_path: Path) -> None:
    script = _script(tmp_path / "my venv" / "bin")
    elsewhere = _script(tmp_path / "usr" / "bin")  # another install first on PATH is not this one
    relative = os.path.relpath(script)
    assert sesmon_command(relative, path="") == f"'{script.resolve()}'"
    assert sesmon_command(str(script), path=str(elsewhere.parent)) == f"'{script.resolve()}'"


def test_started_as_a_module_it_names_the_environments_script_or_the_interpreter(tmp_path: Path) -> None:
    script = _script(tmp_path / "venv" / "bin")
    python = str(script.parent / "python")
    assert sesmon_command("-m", path="", executable=python) == str(script.resolve())
    bare = tmp_path / "bare" / "python"
    assert sesmon_command("-m", path="", executable=str(bare)) == f"{bare} -m sesmon.cli"


def test_the_resume_line_carries_the_keys_and_quotes_the_config_path(tmp_path: Path) -> None:
    config = tmp_path / "demo dir" / "sesmon.yaml"
    line = resume_command_line(config, "marketing")
    assert line.startswith("AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo ")
    assert line.endswith(f" resume --config '{config}' --configuration-set marketing")
    assert f" {sesmon_command()} resume " in line
