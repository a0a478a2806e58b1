"""runtime: the daemon's garbage-collector and C-allocator settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

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
def test_malloc_is_tuned_unless_the_operator_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in runtime.MALLOC_SETTINGS.values():
        monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    assert runtime.tune_malloc() == ["arena_max", "mmap_threshold"]
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert runtime.tune_malloc() == ["mmap_threshold"]
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=65536")
    assert runtime.tune_malloc() == []
