"""Group commit: batches handed in while a commit is on its way to disk commit together, once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sesmon.batch import Message, Processed
from sesmon.config import Config
from sesmon.ingest import TargetIngest
from sesmon.model import Outcome
from sesmon.state.sqlite import SqliteState
from tests.sesgen import SesEventGenerator

NOW = 1_790_000_000.0


class _SlowFirstCommit:
    """The real store, whose first batch commit waits for the test to let it finish."""

    def __init__(self, store: SqliteState) -> None:
        self._store = store
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def ingest_apply_batch(self, target: str, rows: Any, build: Callable[..., Any], expires: float) -> Any:
        self.batches.append(len(rows))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.release.wait(30)
        return self._store.ingest_apply_batch(target, rows, build, expires)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TargetIngest, _SlowFirstCommit]]:
    config = Config.model_validate(
        {
            "targets": [
                {
                    "name": "prod",
                    "region": "us-east-1",
                    "sqs": {"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
                }
            ],
            "state": {"path": str(tmp_path / "state.db")},
        }
    )
    store = SqliteState(config.state.path)
    slow = _SlowFirstCommit(store)
    ingest = TargetIngest(config.targets[0], config, slow)
    ingest.restore(NOW)
    yield ingest, slow
    store.close()


def _batch(seed: int, size: int) -> list[Message]:
    gen = SesEventGenerator(seed=seed, configuration_sets=["tx"], start=NOW - 600, spread=500)
    return [Message(f"{seed}-{i}", gen.event().body) for i in range(size)]


def test_batches_queued_during_a_commit_commit_together(setup: tuple[TargetIngest, _SlowFirstCommit]) -> None:
    ingest, slow = setup
    results: dict[str, list[Processed]] = {}
    batches = {"a": _batch(1, 10), "b": _batch(2, 10), "c": _batch(3, 7)}
    batches["c"].append(batches["b"][0])  # a redelivery inside the same group is still one count

    def run(name: str) -> None:
        results[name] = ingest.process(batches[name], NOW)

    first = threading.Thread(target=run, args=("a",))
    first.start()
    assert slow.entered.wait(30)
    others = [threading.Thread(target=run, args=(name,)) for name in ("b", "c")]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 30
    while len(ingest._queued) < 2:  # both wait behind the commit in flight
        assert time.monotonic() < deadline, "the batches never queued"
        threading.Event().wait(0.005)
    slow.release.set()
    for thread in [first, *others]:
        thread.join(30)
    assert slow.batches == [10, 18]  # two commits for three batches
    assert [len(results[n]) for n in ("a", "b", "c")] == [10, 10, 8]
    assert all(r.outcome is Outcome.COUNTED for n in ("a", "b") for r in results[n])
    assert [r.outcome for r in results["c"]][-1] is Outcome.DUPLICATE
    counters = ingest.counters()
    assert counters[("sqs", "received")] == 28
    assert counters[("sqs", "counted")] == 27
    assert counters[("sqs", "duplicate")] == 1


def test_a_failed_group_commit_fails_every_batch_in_it_and_counts_nothing(
    setup: tuple[TargetIngest, _SlowFirstCommit],
) -> None:
    ingest, slow = setup
    slow.release.set()

    def broken(*_args: Any) -> Any:
        raise OSError("disk full")

    slow.ingest_apply_batch = broken  # type: ignore[method-assign, assignment]
    with pytest.raises(OSError, match="disk full"):
        ingest.process(_batch(4, 5), NOW)
    assert ingest.counters().get(("sqs", "received"), 0) == 0
    assert not ingest._committing
