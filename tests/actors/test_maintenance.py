"""Store maintenance runs on its interval, survives a failing pass and writes held audit events."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from yesman_recovery.actors.maintenance import FLUSH_INTERVAL, StoreMaintenance
from yesman_recovery.errors import StoreError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import RetentionPolicy, open_store
from yesman_recovery.storage.keys import stamp_key
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


def test_audit_events_held_on_a_full_disk_are_written_within_a_second(tmp_path: Path) -> None:
    scheduler = ManualScheduler(ManualClock())
    with open_store(tmp_path / "state") as store:
        # What a refused write leaves held (test_audit_backlog.py refuses real writes).
        key = stamp_key(1_700_000_000 * 10**9, store.audit.backlog.next_seq())
        body = {"kind": "recovery", "subject": "dev", "detail": "crash: restored",
                "action": "restore", "outcome": "ok", "duration": 0.3}  # fmt: skip
        store.audit.backlog.hold_event(key, body, open=False)
        ref = StoreMaintenance.start(store, RetentionPolicy(), 60.0, scheduler)
        try:
            scheduler.advance(FLUSH_INTERVAL)
            _wait(lambda: len(store.audit.backlog) == 0)
            (event,) = store.audit.query(subject="dev")
            assert (event.id, event.outcome, event.time) == (key.hex(), "ok", 1_700_000_000)
        finally:
            ref.shutdown(5)


class _FullDisk:
    """A store whose maintenance fails as it does when the disk is full."""

    def __init__(self) -> None:
        self.calls = 0
        self.audit = SimpleNamespace(backlog=[])  # nothing held

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
