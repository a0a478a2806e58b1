"""The test-tool lookup: found on PATH or in versioned directories; skipped locally, a failure under CI."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.tools import Tool, find_tool, in_ci, require_tool


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_found_on_the_given_path_under_any_of_its_names(tmp_path: Path) -> None:
    binary = executable(tmp_path / "bin" / "alertmanager")
    tool = Tool(("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager")
    assert find_tool(tool, path=str(tmp_path / "bin")) == str(binary)


def test_found_in_the_newest_versioned_directory(tmp_path: Path) -> None:
    executable(tmp_path / "pg" / "9" / "bin" / "initdb")
    newest = executable(tmp_path / "pg" / "16" / "bin" / "initdb")
    tool = Tool(("initdb",), "postgresql", (f"{tmp_path}/pg/*/bin",))
    assert find_tool(tool, path=str(tmp_path / "empty")) == str(newest)


def test_missing_is_none(tmp_path: Path) -> None:
    assert find_tool(Tool(("no-such-tool",), "nothing"), path=str(tmp_path)) is None


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("", False), ("false", False)])
def test_ci_detection(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_ci_unset_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not in_ci()


def test_a_missing_tool_skips_locally(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CI", raising=False)
    tools = {"ghost": Tool(("no-such-tool",), "ghost-package")}
    with pytest.raises(pytest.skip.Exception, match="ghost-package"):
        require_tool("ghost", tools=tools, path=str(tmp_path))


def test_a_missing_tool_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    tools = {"ghost": Tool(("no-such-tool",), "ghost-package")}
    with pytest.raises(pytest.fail.Exception, match="CI must run every test"):
        require_tool("ghost", tools=tools, path=str(tmp_path))


def test_a_present_tool_is_returned_under_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    binary = executable(tmp_path / "promtool")
    assert require_tool("promtool", path=str(tmp_path)) == str(binary)
