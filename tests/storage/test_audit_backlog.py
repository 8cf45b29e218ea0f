"""Audit events refused by a full disk are held in memory and written once space returns."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from yesman_recovery.errors import StoreError
from yesman_recovery.storage import Store, open_store
from yesman_recovery.storage.audit import IN_PROGRESS
from yesman_recovery.storage.audit_backlog import Backlog

from .conftest import noise


def fill(store: Store) -> None:
    """Lower the file-size limit and write until the store refuses even a small audit event."""
    size = (store.path / "data.mdb").stat().st_size
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 128 * 1024, hard))

    def checkpoints() -> None:
        for _ in range(100):
            store.checkpoints.create("filler", noise(16))

    def small_events() -> None:  # free pages inside the file may still take small writes
        for n in range(100_000):
            store.audit.append("filler", f"f{n}", detail="x" * 200)

    with pytest.raises(StoreError):
        checkpoints()
    with pytest.raises(StoreError):
        small_events()


def free() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def test_a_daemon_keeps_refused_events_and_writes_them_in_order_once_space_returns(
    state_dir: Path, file_size_limit: None
) -> None:
    with open_store(state_dir, durability="durable") as store:
        before = store.audit.begin("recovery", "dev", detail="crash", action="restore")
        fill(store)
        store.audit.keep_refused = True
        # A recovery on the full disk: begun, completed; another begun and left open; and the
        # completion of an event written before the disk filled.
        first = store.audit.begin("recovery", "work", detail="crash", action="restore")
        store.audit.complete(first, outcome="ok", duration=0.4)
        second = store.audit.begin("recovery", "notes", detail="crash", action="restore")
        store.audit.complete(before, outcome="failed", detail="crash: gave up")
        plain = store.audit.append("session", "work", detail="a window came back")
        assert len(store.audit.backlog) == 4
        assert store.audit.query(subject="work") == []  # nothing reached the disk yet
        with pytest.raises(StoreError):  # still full: flush keeps holding them
            store.audit.flush()
        assert len(store.audit.backlog) == 4

        free()
        assert store.audit.flush() == 4
        assert len(store.audit.backlog) == 0

    with open_store(state_dir, durability="durable") as store:  # durable: read back fresh
        events = {e.id: e for e in store.audit.query() if e.kind != "filler"}
        assert [e.id for e in sorted(events.values(), key=lambda e: e.time)] == [
            before, first, second, plain,
        ]  # fmt: skip
        assert (events[first].outcome, events[first].duration) == ("ok", 0.4)
        assert events[second].outcome == IN_PROGRESS
        assert (events[before].outcome, events[before].detail) == ("failed", "crash: gave up")
        assert [e.id for e in store.audit.open_events()] == [second]  # a restart closes it


def test_the_next_audit_write_that_succeeds_carries_the_held_ones(
    state_dir: Path, file_size_limit: None
) -> None:
    with open_store(state_dir, durability="durable") as store:
        fill(store)
        store.audit.keep_refused = True
        held = store.audit.append("recovery", "dev", outcome="ok")
        free()
        after = store.audit.append("recovery", "dev", outcome="ok")
        assert [e.id for e in store.audit.query(subject="dev")] == [after, held]


def test_without_keep_refused_a_refused_write_raises_as_before(
    state_dir: Path, file_size_limit: None
) -> None:
    # A one-shot command (the CLI) must say that its record was not written, not hold it in a
    # process about to exit.
    with open_store(state_dir, durability="durable") as store:
        fill(store)
        with pytest.raises(StoreError, match="nothing was written"):
            store.audit.append("control", "dev", action="pause")
        assert len(store.audit.backlog) == 0


def test_a_full_backlog_drops_its_oldest_and_counts_them() -> None:
    backlog = Backlog(limit=3)
    for n in range(5):
        backlog.hold_event(bytes([n]), {"n": n}, open=False)
    assert [h.body for h in backlog.take()] == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert backlog.dropped == 2


def test_what_a_failed_write_gives_back_stays_ahead_of_newer_entries() -> None:
    backlog = Backlog()
    backlog.hold_event(b"a", {"n": 1}, open=True)
    taken = backlog.take()
    backlog.hold_event(b"b", {"n": 2}, open=False)
    backlog.hold_completion(b"a", {"outcome": "ok"})  # its event was taken: kept on its own
    backlog.give_back(taken)
    held = backlog.take()
    assert [h.key for h in held] == [b"a", b"b"]
    assert held[0].body == {"n": 1, "outcome": "ok"}  # the completion folded into its event
    assert not held[0].open
