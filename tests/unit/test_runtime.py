"""runtime: the daemon's garbage-collector and C-allocator settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from sesmon import runtime


@pytest.fixture
def _restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("_restore_gc")
def test_tune_gc_raises_the_thresholds_and_freezes_what_exists() -> None:
    gc.unfreeze()
    survivor = [object()]  # a container alive "after start-up"
    runtime.tune_gc()
    assert gc.get_threshold() == runtime.GC_THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(survivor)
    # Cycles made afterwards are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


glibc = pytest.mark.skipif(runtime._glibc() is None, reason="the allocator settings exist on glibc only")


@glibc
def test_malloc_arenas_are_limited_unless_the_operator_set_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(runtime.ARENA_ENV, raising=False)
    assert runtime.limit_malloc_arenas() is True
    monkeypatch.setenv(runtime.ARENA_ENV, "4")
    assert runtime.limit_malloc_arenas() is False


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@glibc
def test_release_free_memory_hands_freed_heap_pages_back() -> None:
    # 64 KiB blocks come from malloc's heap (below its mmap threshold). Every other one stays alive,
    # so the freed ones sit between live blocks, where glibc keeps them resident until a trim.
    blocks = [bytearray(64 * 1024) for _ in range(800)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page: resident for sure
    kept = blocks[::2]
    del blocks
    before = _resident_mb()
    runtime.release_free_memory()
    after = _resident_mb()
    assert before - after > 10, (before, after)  # about 25 MB were freed
    assert len(kept) == 400
