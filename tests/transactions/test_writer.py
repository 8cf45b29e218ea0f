"""JournalWriter: appends from many threads share flushes and each returns once on disk."""

from __future__ import annotations

import threading

import pytest

from yesman_recovery.errors import StoreError
from yesman_recovery.storage import Store
from yesman_recovery.transactions.writer import JournalWriter


def test_appends_from_many_threads_are_all_stored_in_each_threads_order(store: Store) -> None:
    writer = JournalWriter(store.journal)
    barrier = threading.Barrier(8)

    def work(n: int) -> None:
        barrier.wait(timeout=5)
        for i in range(30):
            record = writer.append(f"tx-{n}", "step", {"i": i})
            assert record.data == {"i": i}

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for n in range(8):
        assert [r.data["i"] for r in store.journal.records(f"tx-{n}")] == list(range(30))


def test_a_refused_append_fails_alone(store: Store) -> None:
    writer = JournalWriter(store.journal)
    writer.append("done", "committed", terminal=True)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def work(n: int) -> None:
        barrier.wait(timeout=5)
        try:
            writer.append("done" if n == 0 else f"ok-{n}", "step", {"n": n})
        except StoreError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(errors) == 1
    assert "already ended with 'committed'" in str(errors[0])
    assert all(len(store.journal.records(f"ok-{n}")) == 1 for n in range(1, 6))
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        writer.append("x", "step", {"f": object()})
    assert store.journal.records("x") == []


def test_records_and_their_audit_event_are_stored_together_or_not_at_all(store: Store) -> None:
    event = {"kind": "transaction", "subject": "tx", "outcome": "committed", "detail": "d"}
    store.journal.append_many([("tx", "begin", None, False), ("tx", "committed", None, True)],
                              audit=[event])  # fmt: skip
    (stored,) = store.audit.query(subject="tx")
    assert (stored.outcome, stored.detail) == ("committed", "d")
    with pytest.raises(StoreError, match="already ended"):
        store.journal.append_many([("tx", "more", None, False)], audit=[event | {"detail": "x"}])
    assert len(store.audit.query(subject="tx")) == 1
    assert [r.kind for r in store.journal.records("tx")] == ["begin", "committed"]
    assert [s.transaction for s in store.journal.summaries()] == ["tx"]
    assert store.journal.discard("tx") == 2
    assert store.journal.summaries() == []


def test_a_batch_cannot_continue_a_transaction_it_ended(store: Store) -> None:
    with pytest.raises(StoreError, match="already ended with a terminal record"):
        store.journal.append_many([("t", "begin", None, False), ("t", "committed", None, True),
                                   ("t", "late", None, False)])  # fmt: skip
    assert store.journal.records("t") == []
    records = store.journal.append_many([("t", "begin", None, False), ("u", "begin", None, False),
                                         ("t", "intent", {"step": 0}, False)])  # fmt: skip
    assert [r.kind for r in store.journal.records("t")] == ["begin", "intent"]
    assert records[2].time >= records[0].time
