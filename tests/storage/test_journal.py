"""store.journal: records in order, unfinished transactions, compaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from yesman_recovery.errors import CorruptRecordError, StoreError
from yesman_recovery.storage import Store, envelope
from yesman_recovery.storage.keys import make_key, scope_bytes
from yesman_recovery.supervisors.clock import ManualClock

from .conftest import flip_on_disk


def test_records_come_back_in_append_order(store: Store, clock: ManualClock) -> None:
    store.journal.append("tx-1", "begin", {"steps": ["a", "b"]})
    clock.advance(0.5)
    store.journal.append("tx-1", "intent", {"step": 0})
    store.journal.append("tx-1", "done", {"step": 0, "result": {"ok": True}})
    records = store.journal.records("tx-1")
    assert [(r.kind, r.data) for r in records] == [
        ("begin", {"steps": ["a", "b"]}),
        ("intent", {"step": 0}),
        ("done", {"step": 0, "result": {"ok": True}}),
    ]
    assert records[1].time == pytest.approx(records[0].time + 0.5)
    assert store.journal.records("tx-unknown") == []


def test_unfinished_lists_transactions_without_a_terminal_record_oldest_first(
    store: Store, clock: ManualClock
) -> None:
    for tx in ("tx-b", "tx-a", "tx-c"):
        store.journal.append(tx, "begin")
        clock.advance(1)
    store.journal.append("tx-a", "committed", terminal=True)
    assert store.journal.unfinished() == ["tx-b", "tx-c"]


def test_nothing_may_follow_a_terminal_record(store: Store) -> None:
    store.journal.append("tx", "begin")
    store.journal.append("tx", "compensated", terminal=True)
    with pytest.raises(StoreError, match="already ended with 'compensated'"):
        store.journal.append("tx", "intent")
    assert len(store.journal.records("tx")) == 2


def test_compact_drops_only_finished_transactions_old_enough(
    store: Store, clock: ManualClock
) -> None:
    store.journal.append("old", "begin")
    store.journal.append("old", "committed", terminal=True)
    clock.advance(100)
    store.journal.append("recent", "begin")
    store.journal.append("recent", "committed", terminal=True)
    store.journal.append("open", "begin")
    assert store.journal.compact(older_than=50) == 1
    assert store.journal.records("old") == []
    assert len(store.journal.records("recent")) == 2
    assert store.journal.compact() == 1
    assert store.journal.unfinished() == ["open"]
    with pytest.raises(ValueError, match="`older_than`"):
        store.journal.compact(-1)


def test_bad_input_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="`transaction`"):
        store.journal.append("", "begin")
    with pytest.raises(ValueError, match="`kind`"):
        store.journal.append("tx", "")
    with pytest.raises(ValueError, match=r"journal data is not JSON-serialisable at \$\.f"):
        store.journal.append("tx", "begin", {"f": print})


def test_a_damaged_journal_record_is_named_and_its_transaction_stays_unfinished(
    store: Store, state_dir: Path, clock: ManualClock
) -> None:
    store.journal.append("tx", "begin")
    clock.advance(1)
    record = store.journal.append("tx", "committed", terminal=True)
    key = make_key(scope_bytes("tx"), int(record.time * 1e9), 0)
    stored = envelope.seal(
        key, envelope.dump_json({"kind": "committed", "data": None, "terminal": True})
    )
    assert flip_on_disk(state_dir, stored, index=len(stored) - 3) >= 1
    with pytest.raises(CorruptRecordError, match="journal 'tx'"):
        store.journal.records("tx")
    assert store.journal.unfinished() == ["tx"]  # unknown ending: recovery must look at it
    assert store.journal.compact() == 0
