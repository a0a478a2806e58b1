"""``sesmon state check PATH`` and ``sesmon state backup PATH DEST``."""

from __future__ import annotations

from pathlib import Path

import pytest

from sesmon.batch import IngestDelta
from sesmon.cli import main
from sesmon.state.ports import OutboxEntry
from sesmon.state.sqlite import SqliteState


def _state(path: Path) -> Path:
    store = SqliteState(path, clock=lambda: 1_790_000_000.0)
    store.ingest_add(
        "prod",
        IngestDelta(
            counters={("events", "tx", "send"): 4, ("events", "mkt", "send"): 1},
            admitted={"tx", "mkt"},
        ),
    )
    store.alert_commit("alerts", "state", {}, [OutboxEntry("hook", "n-1", "fp", {"a": 1})], now=1.0)
    store.close()
    return path


def test_check_prints_the_verdict_and_what_the_file_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _state(tmp_path / "state.db")
    assert main(["state", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}: ok (integrity check passed), ")
    assert out[0].endswith("state created 2026-09-21 14:13:20 UTC")
    assert out[1:5] == [
        "  configuration sets: prod: 2",
        "  counter series: 2",
        "  dedup keys: 0",
        "  outbox: pending 1",
    ]


def test_check_of_a_broken_file_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "state.db"
    path.write_text("not a database at all\n" * 50)
    assert main(["state", "check", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"sesmon: state file {path}: is not a SQLite database; restore a backup, "
        "or set state.on_corrupt: quarantine to move it aside and start fresh\n"
    )


def test_backup_makes_a_sound_copy_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _state(tmp_path / "state.db")
    dest = tmp_path / "backup.db"
    assert main(["state", "backup", str(path), str(dest)]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: backed up to {dest} (")
    copy = SqliteState(dest)
    assert copy.ingest_load("prod").counters[("events", "tx", "send")] == 4
    copy.close()
    assert main(["state", "backup", str(path), str(dest)]) == 1
    assert capsys.readouterr().err == (
        f"sesmon: state file {dest}: already exists; give a new destination path\n"
    )


def test_backup_needs_a_destination(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["state", "backup", "state.db"])
    assert exc.value.code == 2
    assert "sesmon state backup PATH DEST" in capsys.readouterr().err
