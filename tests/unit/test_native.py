"""The compiled hot path: its module list matches the sources, and compiled constants match their tables."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from sesmon import native, windows

ROOT = Path(__file__).resolve().parents[2]


def test_every_listed_module_has_its_source_and_imports() -> None:
    for module in native.COMPILED_MODULES:
        assert (ROOT / native.source_path(module)).is_file(), module
        importlib.import_module(module)
    assert native.source_path("sesmon.events") == "sesmon/events/__init__.py"
    assert native.source_path("sesmon.batch") == "sesmon/batch.py"


def test_the_script_lists_the_sources_for_scripts_bootstrap() -> None:
    printed = subprocess.run(
        [sys.executable, str(ROOT / "sesmon" / "native.py")], check=True, capture_output=True, text=True
    ).stdout.split()
    assert printed == [native.source_path(m) for m in native.COMPILED_MODULES]


def test_describe_matches_what_was_imported() -> None:
    compiled = native.compiled_modules()
    assert set(compiled) <= set(native.COMPILED_MODULES)
    text = native.describe()
    if compiled:
        total = len(native.COMPILED_MODULES)
        assert text == f"hot path compiled with mypyc ({len(compiled)} of {total} modules)"
    else:
        assert text == "hot path in plain Python"
    assert native.stale_modules() == []


def test_window_field_indexes_match_the_field_names() -> None:
    # The indexes are spelled out one by one (so compiled code inlines them); they must stay in step.
    for name, index in {
        "events": windows.EVENTS,
        "sent": windows.SENT,
        "sent_all": windows.SENT_ALL,
        "bounced_rate": windows.BOUNCED_RATE,
        "complained_rate": windows.COMPLAINED_RATE,
        "bounced": windows.BOUNCED,
        "transient": windows.TRANSIENT,
        "complained": windows.COMPLAINED,
        "delayed": windows.DELAYED,
        "rejected": windows.REJECTED,
        "rendering_failed": windows.RENDERING_FAILED,
        "delivered": windows.DELIVERED,
    }.items():
        assert windows.FIELDS[index] == name
    assert windows.WIDTH == len(windows.FIELDS) == 12
