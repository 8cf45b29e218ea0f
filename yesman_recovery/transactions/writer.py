"""``JournalWriter``: durable journal appends from many threads, one flush per batch.

A durable commit costs a flush (~0.4 ms on the development disk) whatever it holds, so threads
that append at the same moment share one: group commit. The first appender becomes the
*leader* and writes everything queued so far in one LMDB transaction; the others wait for their
record to be written. When the leader's batch is done, the oldest appender still waiting (if
any) leads the next batch, so no thread writes for others forever. Every append still returns
only once its own records are on disk. A caller's records (and audit events) are written in
one commit, all or none.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from yesman_recovery.storage import Journal, JournalRecord

Entry = tuple[str, str, Any, bool]
"""``(transaction, kind, data, terminal)``"""


class _Pending:
    """One caller's queued records; written by the leader, read by the caller after ``ready``."""

    __slots__ = ("audit", "entries", "error", "lead", "ready", "records")

    def __init__(self, entries: Sequence[Entry], audit: Sequence[Mapping[str, Any]]) -> None:
        self.entries = list(entries)
        self.audit = list(audit)
        # Released when written (or failed), or when it must lead; a bare lock wakes its
        # waiter for less than an Event does.
        self.ready = threading.Lock()
        self.ready.acquire()
        self.lead = False  # True iff this appender must write the next batch
        self.records: list[JournalRecord] | None = None
        self.error: BaseException | None = None


class JournalWriter:
    """Appends to a :class:`Journal` with group commit; safe from any thread."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []  # guarded by _lock; appends not yet taken by a leader
        self._busy = False  # guarded by _lock; True iff a leader is writing or was handed over

    def append(
        self, transaction: str, kind: str, data: Any = None, *, terminal: bool = False
    ) -> JournalRecord:
        """Append one record; returns once it is on disk. Raises what ``Journal.append`` does."""
        return self.append_many([(transaction, kind, data, terminal)])[0]

    def append_many(
        self, entries: Sequence[Entry], *, audit: Sequence[Mapping[str, Any]] = ()
    ) -> list[JournalRecord]:
        """Append records, and audit events, in one commit; returns once they are on disk."""
        pending = _Pending(entries, audit)
        with self._lock:
            self._queue.append(pending)
            lead = not self._busy
            self._busy = True
        if not lead:
            pending.ready.acquire()
            lead = pending.lead
        if lead:
            self._write_batch()
        if pending.error is not None:
            raise pending.error
        assert pending.records is not None
        return pending.records

    def _write_batch(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._write(batch)
        finally:
            for item in batch:
                if item.records is None and item.error is None:  # only after a BaseException
                    item.error = RuntimeError("the journal write was interrupted")
                item.lead = False
                item.ready.release()
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.ready.release()
                else:
                    self._busy = False

    def _write(self, batch: list[_Pending]) -> None:
        entries = [entry for item in batch for entry in item.entries]
        audit = [event for item in batch for event in item.audit]
        try:
            records = self._journal.append_many(entries, audit=audit)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            # One bad entry fails the whole commit: write each caller's records on their own.
            for item in batch:
                try:
                    item.records = self._journal.append_many(item.entries, audit=item.audit)
                except Exception as single:
                    item.error = single
            return
        start = 0
        for item in batch:
            item.records = records[start : start + len(item.entries)]
            start += len(item.entries)
