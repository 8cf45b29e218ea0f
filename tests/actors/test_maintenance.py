"""Store maintenance runs on its interval and survives a failing pass."""

from __future__ import annotations

import time
from pathlib import Path

from yesman_recovery.actors.maintenance import StoreMaintenance
from yesman_recovery.errors import StoreError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import RetentionPolicy, open_store
from yesman_recovery.supervisors import ManualClock, ManualScheduler


def _wait(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_each_interval_prunes_by_retention(tmp_path: Path) -> None:
    scheduler = ManualScheduler(ManualClock())
    with open_store(tmp_path / "state") as store:
        for i in range(5):
            store.checkpoints.create("s", {"n": i})
        ref = StoreMaintenance.start(store, RetentionPolicy(keep_last=2), 60.0, scheduler)
        try:
            scheduler.advance(0)  # the first pass runs at start
            _wait(lambda: len(store.checkpoints.list("s")) == 2)
        finally:
            ref.shutdown(5)


class _FullDisk:
    """A store whose maintenance fails as it does when the disk is full."""

    def __init__(self) -> None:
        self.calls = 0

    def maintain(self, retention: RetentionPolicy, *, journal_keep: float = 0.0) -> None:
        self.calls += 1
        raise StoreError("No space left on device")


def test_a_failing_pass_is_counted_and_the_actor_keeps_running() -> None:
    scheduler = ManualScheduler(ManualClock())
    metrics = RecoveryMetrics()
    store = _FullDisk()
    ref = StoreMaintenance.start(store, RetentionPolicy(), 60.0, scheduler, metrics)
    try:
        scheduler.advance(0)
        _wait(lambda: store.calls == 1)
        scheduler.advance(60)
        _wait(
            lambda: (
                metrics.registry.get_sample_value(
                    "yesman_recovery_checkpoints_total", {"op": "maintain", "outcome": "error"}
                )
                == 2.0
            )
        )
        assert store.calls == 2
        assert ref.is_alive()
    finally:
        ref.shutdown(5)
