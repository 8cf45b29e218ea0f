"""``JournalWriter``: durable journal appends from many threads, one flush per batch.

A durable commit costs a flush (~0.4 ms on the development disk) whatever it holds, so threads
that append at the same moment share one: group commit. The first appender becomes the
*leader* and writes everything queued so far in one LMDB transaction; the others wait for their
record to be written. When the leader's batch is done, the oldest appender still waiting (if
any) leads the next batch, so no thread writes for others forever. Every append still returns
only once its own record is on disk.
"""

from __future__ import annotations

import threading
from typing import Any

from yesman_recovery.storage import Journal, JournalRecord


class _Pending:
    """One queued append; written by the leader, read by its own thread after ``ready``."""

    __slots__ = ("entry", "error", "lead", "ready", "record")

    def __init__(self, entry: tuple[str, str, Any, bool]) -> None:
        self.entry = entry
        self.ready = threading.Event()  # set when written (or failed), or when it must lead
        self.lead = False  # True iff this appender must write the next batch
        self.record: JournalRecord | None = None
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
        pending = _Pending((transaction, kind, data, terminal))
        with self._lock:
            self._queue.append(pending)
            lead = not self._busy
            self._busy = True
        if not lead:
            pending.ready.wait()
            lead = pending.lead
        if lead:
            self._write_batch()
        if pending.error is not None:
            raise pending.error
        assert pending.record is not None
        return pending.record

    def _write_batch(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._write(batch)
        finally:
            for item in batch:
                if item.record is None and item.error is None:  # only after a BaseException
                    item.error = RuntimeError("the journal write was interrupted")
                item.lead = False
                item.ready.set()
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.ready.set()
                else:
                    self._busy = False

    def _write(self, batch: list[_Pending]) -> None:
        try:
            records = self._journal.append_many([item.entry for item in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            # One bad entry fails the whole commit: write the others one by one.
            for item in batch:
                try:
                    item.record = self._journal.append(*item.entry[:3], terminal=item.entry[3])
                except Exception as single:
                    item.error = single
            return
        for item, record in zip(batch, records, strict=True):
            item.record = record
