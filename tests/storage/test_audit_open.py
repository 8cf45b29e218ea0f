"""Events begun and completed in place: an open one survives a reopen of the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from yesman_recovery.errors import RecordNotFoundError
from yesman_recovery.storage import Store, open_store
from yesman_recovery.storage.audit import IN_PROGRESS


def test_a_begun_event_is_open_until_completed_in_place(store: Store) -> None:
    first = store.audit.begin("recovery", "a", detail="crashed: gone", action="restore")
    second = store.audit.begin("recovery", "b", detail="crashed: gone", action="restore")
    assert [e.id for e in store.audit.open_events()] == [first, second]
    assert store.audit.query(subject="a")[0].outcome == IN_PROGRESS
    store.audit.complete(first, outcome="success", detail="crashed: gone (ok)", duration=1.5)
    assert [e.id for e in store.audit.open_events()] == [second]
    [event] = store.audit.query(subject="a")
    assert (event.id, event.outcome, event.detail, event.duration) == (
        first, "success", "crashed: gone (ok)", 1.5,
    )  # fmt: skip
    assert len(store.audit.query()) == 2


def test_open_events_survive_closing_the_store(tmp_path: Path) -> None:
    with open_store(tmp_path / "s") as store:
        begun = store.audit.begin("recovery", "a", action="restore")
    with open_store(tmp_path / "s") as store:
        assert [e.id for e in store.audit.open_events()] == [begun]


def test_completing_an_unknown_event_is_an_error(store: Store) -> None:
    with pytest.raises(RecordNotFoundError):
        store.audit.complete("00" * 12, outcome="success")
