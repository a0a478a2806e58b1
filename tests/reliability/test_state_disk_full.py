"""A full disk under the state file (a tiny tmpfs): ``state`` goes down and writes are counted as failed,
no SQS message is deleted meanwhile, and once space returns every event is counted exactly once."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MotoServer
from tests.reliability.sesmon_process import SesmonProcess, event_counters, stored_counters, wait_for
from tests.sesgen import SesEventGenerator, expected_counters

TMPFS_SIZE = "4m"
EVENTS = 200


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs, mounted for the test and unmounted after it (CI runs as root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)]
    result = (
        subprocess.run(command, capture_output=True, text=True, check=False)
        if shutil.which("mount")
        else None
    )
    if result is None or result.returncode != 0:
        reason = f"cannot mount a tmpfs ({result.stderr.strip() if result else 'no mount command'})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI runs as root and must be able to")
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def sesmon(moto_server: MotoServer, tmp_path: Path, small_disk: Path) -> Iterator[SesmonProcess]:
    process = SesmonProcess(moto_server, tmp_path, small_disk / "state.db")
    yield process
    process.stop()  # before the tmpfs is unmounted (fixtures end in reverse order)


def _fill(directory: Path) -> Path:
    """Write a file until the file system is full (unbuffered, down to the last byte); return it."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def test_disk_full_marks_state_down_and_loses_no_event(sesmon: SesmonProcess, small_disk: Path) -> None:
    gen = SesEventGenerator(seed=31, start=time.time() - 600, spread=500)
    warm = [gen.event() for _ in range(20)]
    events = [gen.event() for _ in range(EVENTS)]

    sesmon.start()
    sesmon.send([e.body for e in warm])
    wait_for(
        lambda: sesmon.value("sesmon_events_total") == len(warm) and sesmon.depth() == 0, "warm-up counted"
    )
    assert sesmon.value("sesmon_source_up", source="state") == 1
    assert sesmon.value("sesmon_state_write_failures_total") == 0

    deleted = sesmon.value("sesmon_sqs_messages_deleted_total")
    filler = _fill(small_disk)
    sesmon.send([e.body for e in events])
    wait_for(lambda: sesmon.value("sesmon_state_write_failures_total") > 0, "a failed write")
    wait_for(lambda: sesmon.value("sesmon_source_up", source="state") == 0, "state down")
    errors = [e["error"] for e in sesmon.events("state_write_failed")]
    assert errors
    assert all("full" in error for error in errors), errors
    # Commits fail, so nothing was acknowledged: no delete, every message still in the queue. The
    # receivers keep receiving meanwhile, and moto counts visible and in-flight messages one after the
    # other, so a single reading can miss messages that changed sides in between: await a reading that
    # sees them all (one more is possible: moto sometimes hands a message to two receivers). The exact
    # counts at the end prove that none was dropped.
    assert sesmon.value("sesmon_events_total") == len(warm)
    assert sesmon.value("sesmon_sqs_messages_deleted_total") == deleted
    wait_for(lambda: sesmon.depth() >= EVENTS, "every message of the full-disk lot still in the queue")
    assert sesmon.value("sesmon_sqs_messages_deleted_total") == deleted

    filler.unlink()  # space again: the same process recovers by itself
    wait_for(lambda: sesmon.depth() == 0, "the queue drained after space returned")
    # /metrics serves an exposition rendered after each commit (at most once a second): await it.
    wait_for(
        lambda: sesmon.value("sesmon_events_total") == len(warm) + EVENTS,
        "the exposition shows every event counted after space returned",
    )
    assert sesmon.value("sesmon_source_up", source="state") == 1
    assert sesmon.events("state_write_recovered")
    assert sesmon.stop() == 0

    assert event_counters(stored_counters(sesmon.state)) == expected_counters(warm + events)
