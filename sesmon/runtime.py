"""Process-wide settings a sesmon process applies once it has started up: the garbage collector's and
the C allocator's."""

from __future__ import annotations

import ctypes
import gc
import os
import platform
from functools import cache
from typing import Final

# Young-generation threshold (CPython's default is 700) and the two older generations' (10, 10).
GC_THRESHOLDS: Final = (20_000, 20, 20)
# glibc malloc arenas the daemon's threads share (glibc's default is 8 per core).
MALLOC_ARENAS: Final = 2
_M_ARENA_MAX: Final = -8  # mallopt's parameter number, from glibc's <malloc.h>
ARENA_ENV: Final = "MALLOC_ARENA_MAX"  # glibc's own setting, read when the process starts


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
    macOS), where neither setting below exists and memory is left as the allocator manages it."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let every thread share ``arenas`` glibc malloc arenas; call before starting threads.

    glibc gives threads that contend for the allocator arenas of their own, up to 8 per core, and an
    arena keeps the memory its thread freed for that thread. The daemon's dozen threads (receivers,
    renderer, HTTP workers, scheduler) each allocate in bursts (a batch, a rendering of /metrics),
    so each arena ends up holding its own burst: about 20 MB more resident memory after a few
    hundred scrapes (benchmarks/scrape.py). Python objects come from CPython's own allocator, so
    sharing arenas costs little. An operator's ``MALLOC_ARENA_MAX`` is left as set. Returns whether
    the limit was applied.
    """
    libc = _glibc()
    if libc is None or ARENA_ENV in os.environ:
        return False
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> None:
    """Hand the C allocator's free pages back to the kernel (glibc ``malloc_trim``).

    A rendering of /metrics allocates and frees tens of MB (every sample, then the text) in one burst;
    glibc keeps freed memory for reuse and returns only the top of a heap, so without this the
    process stays that much larger between renderings. Trimming after each one (at most once a
    second) costs about a millisecond.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
