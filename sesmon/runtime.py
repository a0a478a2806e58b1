"""Process-wide settings a sesmon process applies once it has started up: the garbage collector's and
the C allocator's."""

from __future__ import annotations

import ctypes
import gc
import os
import platform
from functools import cache
from typing import Final, NamedTuple

# Young-generation threshold (CPython's default is 700) and the two older generations' (10, 10).
GC_THRESHOLDS: Final = (20_000, 20, 20)


class MallocSetting(NamedTuple):
    """One glibc malloc parameter: its mallopt number, sesmon's value, and the environment variable
    and tunable an operator sets it with (either one leaves it to them)."""

    param: int  # from glibc's <malloc.h>
    value: int
    env: str
    tunable: str


MALLOC_SETTINGS: Final = {
    # Every thread shares two arenas (glibc's default: up to 8 per core, one per contending thread).
    "arena_max": MallocSetting(-8, 2, "MALLOC_ARENA_MAX", "glibc.malloc.arena_max"),
    # Blocks of 128 KiB and more are mapped on their own and unmapped when freed. 128 KiB is glibc's
    # initial threshold; setting it keeps it there (glibc raises it up to 32 MiB after each large
    # free, and from then on keeps such blocks in the heap).
    "mmap_threshold": MallocSetting(-3, 128 * 1024, "MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold"),
}


def tune_gc() -> None:
    """Collect the young generation less often, and never walk what start-up built.

    Ingestion allocates and frees a dozen containers per event (the parsed JSON) and keeps a few
    per event until its batch commits, so at the default threshold the young generation is collected
    every couple of hundred events, each time walking objects about to be freed anyway. sesmon makes
    few reference cycles, so collecting less often holds back little memory; it saves about 3% of
    the ingestion pipeline's time (benchmarks/ingest.py). Objects alive after start-up (config, AWS
    clients and their service models) are frozen: later full collections skip them.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (the container image's and Debian's); None elsewhere (musl,
    macOS), where these settings do not exist and memory is left as the allocator manages it."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def tune_malloc() -> list[str]:
    """Apply :data:`MALLOC_SETTINGS` (call before any thread starts); return the names applied.

    Python objects up to 512 bytes come from CPython's own allocator; everything larger, and
    SQLite's pages, from glibc's malloc. A rendering of /metrics allocates and frees tens of MB in
    one burst (the samples' label dicts, the text, its copies), a batch a little in its receiver's
    thread. With an arena per thread and a threshold that glibc raised after the first large free,
    each burst stays resident in its own arena, fragmented between live blocks: with 100,000 events
    over 1,000 configuration sets, 146 MB after 200 scrapes without these settings, 113 MB with them
    (benchmarks/scrape.py). A setting the operator made in the environment is left as they made it.
    """
    libc = _glibc()
    if libc is None:
        return []
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    applied = []
    for name, setting in MALLOC_SETTINGS.items():
        if setting.env in os.environ or setting.tunable in tunables:
            continue
        if libc.mallopt(setting.param, setting.value) == 1:
            applied.append(name)
    return applied
