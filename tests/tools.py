"""External tools the tests run (promtool, Prometheus, Alertmanager, PostgreSQL, Chromium): one lookup.

Locally a missing tool skips the test that needs it, with the Debian package to install. With ``CI``
set, it fails the test instead, so CI cannot silently cover less (``scripts/ensure-test-tools``
installs every one of them).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Tool:
    """An executable: the names it goes by, the Debian package that ships it, and where else to look."""

    names: tuple[str, ...]
    package: str
    # Glob patterns of directories outside PATH (PostgreSQL keeps its binaries in a versioned one).
    directories: tuple[str, ...] = ()


TOOLS: dict[str, Tool] = {
    "promtool": Tool(("promtool",), "prometheus"),
    "prometheus": Tool(("prometheus",), "prometheus"),
    "alertmanager": Tool(("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager"),
    "amtool": Tool(("amtool",), "prometheus-alertmanager"),
    "initdb": Tool(("initdb",), "postgresql", ("/usr/lib/postgresql/*/bin",)),
    "pg_ctl": Tool(("pg_ctl",), "postgresql", ("/usr/lib/postgresql/*/bin",)),
    "chromium": Tool(("chromium", "chromium-browser"), "chromium"),
    "chromedriver": Tool(("chromedriver",), "chromium-driver"),
}


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to anything but an explicit no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_tool(tool: Tool, path: str | None = None) -> str | None:
    """The tool's executable on ``path`` (default ``$PATH``), then in its extra directories; or None."""
    for name in tool.names:
        found = shutil.which(name, path=path)
        if found:
            return found
    for pattern in tool.directories:
        # Newest version first: the versioned directories sort by their version number.
        for directory in sorted(Path("/").glob(pattern.lstrip("/")), key=_version_key, reverse=True):
            for name in tool.names:
                found = shutil.which(name, path=str(directory))
                if found:
                    return found
    return None


def _version_key(path: Path) -> list[tuple[int, str]]:
    # "…/postgresql/9/bin" sorts before "…/postgresql/16/bin": numbers compare as numbers.
    return [(int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", str(path))]


def require_tool(name: str, *, tools: dict[str, Tool] | None = None, path: str | None = None) -> str:
    """The path of tool ``name``; skips the calling test when it is missing, or fails it under CI."""
    tool = (tools or TOOLS)[name]
    found = find_tool(tool, path)
    if found is not None:
        return found
    message = f"{name} not found (install Debian package {tool.package}; scripts/ensure-test-tools does)"
    if in_ci():
        pytest.fail(f"{message}; CI must run every test")
    pytest.skip(message)
