"""``GroupCommit``: writes that many threads ask for at once, done by one of them in one commit.

A durable LMDB commit costs a flush whatever it holds. After one poll of the tmux server every
session actor that saw a change checkpoints it, each on its own thread, at nearly the same
moment: written one by one, N changed sessions cost N flushes. Here the first caller becomes the
*leader* and writes everything queued so far with one call of ``write`` (one transaction); the
callers that arrive meanwhile wait, and the oldest of them leads the next batch with whatever
queued during the first, so no thread writes for others forever. Each caller returns only once
its own item is written (or raises its own error). The same scheme as the journal's
:class:`~yesman_recovery.transactions.writer.JournalWriter`, for any item type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class _Pending(Generic[I, R]):
    __slots__ = ("done", "error", "item", "lead", "ready", "result")

    def __init__(self, item: I) -> None:
        self.item = item
        self.ready = threading.Lock()  # released when written, or when this caller must lead
        self.ready.acquire()
        self.lead = False
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[I, R]):
    """Runs ``write(items)`` for batches of items submitted from any thread.

    ``write`` returns one result per item, in order; an item's result may be an exception,
    raised in that item's caller. An exception from ``write`` itself fails every item of the
    batch. ``batches`` counts the calls of ``write`` (tests, benchmarks).
    """

    def __init__(self, write: Callable[[Sequence[I]], Sequence[R | BaseException]]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Pending[I, R]] = []  # guarded by _lock
        self._busy = False  # guarded by _lock: a leader is writing or was handed over
        self.batches = 0

    def submit(self, item: I) -> R:
        """Write ``item`` with whatever else is queued; its result once it is written."""
        pending: _Pending[I, R] = _Pending(item)
        with self._lock:
            self._queue.append(pending)
            lead = not self._busy
            self._busy = True
        if not lead:
            pending.ready.acquire()
            lead = pending.lead
        if lead:
            self._lead()
        if pending.error is not None:
            raise pending.error
        assert pending.done
        return pending.result  # type: ignore[return-value]

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self.batches += 1
            try:
                results = self._write([p.item for p in batch])
            except Exception as exc:
                results = [exc] * len(batch)
            for pending, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    pending.error = result
                else:
                    pending.result = result
                pending.done = True
        finally:
            for pending in batch:
                if not pending.done and pending.error is None:  # only after a BaseException
                    pending.error = RuntimeError("the batched write was interrupted")
                pending.lead = False
                pending.ready.release()
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.ready.release()
                else:
                    self._busy = False
