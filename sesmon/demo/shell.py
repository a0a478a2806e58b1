"""How a user runs this same sesmon from another shell: a virtualenv's `sesmon` is often not on PATH."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

SCRIPT = "sesmon"


def sesmon_command(argv0: str | None = None, path: str | None = None, executable: str | None = None) -> str:
    """``sesmon`` when PATH finds this very install, else its console script's absolute path, else
    ``python -m sesmon.cli`` with this interpreter (``path`` is PATH, default the environment's)."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    executable = sys.executable if executable is None else executable
    script = Path(argv0)
    if script.name != SCRIPT or not script.is_file():
        # Started another way (python -m, a test): the console script of this interpreter's environment.
        script = Path(executable).parent / SCRIPT
        if not script.is_file():
            return f"{shlex.quote(executable)} -m sesmon.cli"
    found = shutil.which(SCRIPT, path=path)
    if found is not None and Path(found).resolve() == script.resolve():
        return SCRIPT
    return shlex.quote(str(script.resolve()))
