"""Which modules of the ingestion hot path this install runs compiled (mypyc, setup.py) or as plain Python.

Standard library only: setup.py reads the module list from this file before sesmon is installed.
Run as a script, it prints the source files of those modules (scripts/bootstrap rebuilds when one
of them changes).
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from typing import Final

# Pure modules only (no I/O): the parser, the counting and windows it feeds, and the batch step that
# joins them, which is where ingestion spends its time per event.
COMPILED_MODULES: Final = (
    "sesmon.events",
    "sesmon.events.addresses",
    "sesmon.events.envelopes",
    "sesmon.events.reasons",
    "sesmon.events.records",
    "sesmon.events.timestamps",
    "sesmon.events.vocabulary",
    "sesmon.model",
    "sesmon.counting",
    "sesmon.windows",
    "sesmon.batch",
)


def source_path(module: str) -> str:
    """``sesmon.events`` → ``sesmon/events/__init__.py``; ``sesmon.model`` → ``sesmon/model.py``."""
    parts = module.split(".")
    if module == "sesmon.events":
        return "/".join([*parts, "__init__.py"])
    return "/".join(parts) + ".py"


def _loaded_from(module: str) -> Path:
    return Path(getattr(importlib.import_module(module), "__file__", None) or "")


def compiled_modules() -> list[str]:
    """The hot-path modules that were imported from a compiled extension."""
    return [m for m in COMPILED_MODULES if _loaded_from(m).name.endswith(tuple(EXTENSION_SUFFIXES))]


def describe() -> str:
    """One line for ``sesmon version`` and the benchmarks."""
    count = len(compiled_modules())
    if count == 0:
        return "hot path in plain Python"
    return f"hot path compiled with mypyc ({count} of {len(COMPILED_MODULES)} modules)"


def stale_modules() -> list[str]:
    """Compiled modules whose source changed after they were built (an editable install not rebuilt)."""
    stale = []
    for module in compiled_modules():
        built = _loaded_from(module)
        source = built.parent / Path(source_path(module)).name
        if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
            stale.append(module)
    return stale


if __name__ == "__main__":
    sys.stdout.write("".join(source_path(m) + "\n" for m in COMPILED_MODULES))
