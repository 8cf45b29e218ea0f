"""The flusher of a durable store: the meta page of a commit reaches the disk soon after it.

A durable environment flushes each commit's data pages before the commit returns but not its
meta page (LMDB ``metasync=False``, one flush per commit instead of two); the next commit's
flush carries it, or this thread's, at most a delay later (see
:mod:`~yesman_recovery.storage.environment`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import lmdb

logger = logging.getLogger(__name__)


class MetaFlusher:
    """Calls ``sync`` within ``delay`` s of a commit left without a flush (one thread, started
    at the first such commit); commits meanwhile share that flush."""

    def __init__(self, sync: Callable[[], None], delay: float) -> None:
        self._sync = sync
        self._delay = delay
        self._cond = threading.Condition()
        self._pending = False  # guarded by _cond
        self._stopped = False  # guarded by _cond
        self._thread: threading.Thread | None = None  # guarded by _cond

    def due(self) -> None:
        """A commit's meta page waits for a flush."""
        with self._cond:
            if self._stopped:
                return
            self._pending = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="store-meta-flush", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                self._cond.wait(self._delay)  # commits meanwhile share this flush
                self._pending = False
            try:
                self._sync()
            except lmdb.Error as exc:
                logger.warning("store flush failed: %s", exc)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(5.0)
