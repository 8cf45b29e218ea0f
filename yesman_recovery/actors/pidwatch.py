"""Process exits as events: one thread waits on pidfds and reports exits within milliseconds.

``os.pidfd_open(pid)`` (Linux >= 5.3) gives a descriptor that becomes readable when that process
exits — any process, not only our children. :class:`ExitWatcher` keeps one per watched pid in a
selector and calls ``on_exit(pid, monotonic_time)`` from its own daemon thread when one exits, so
the tmux watcher hears "the server died" or "the agent exited" without waiting for its next poll.
Where pidfds are not available (another OS, an old kernel, a pid that is already gone),
:meth:`ExitWatcher.watch` returns False and polling alone notices the exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from yesman_recovery.clock import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)

PIDFD_SUPPORTED = hasattr(os, "pidfd_open")


OnExit = Callable[[int, float], None]
"""Called with (pid, the ``clock``'s monotonic time the exit was seen)."""


class PidWatch(Protocol):
    """What the tmux watcher needs of an exit watcher (tests give it a fake)."""

    def watch_only(self, pids: Iterable[int]) -> None: ...

    def close(self, timeout: float = 2.0) -> None: ...


PidWatchFactory = Callable[[OnExit, Clock], PidWatch]
"""Builds the exit watcher of a tmux watcher: ``(on_exit, clock) -> watcher``."""


class ExitWatcher:
    """Watches a changing set of pids; ``on_exit`` runs in the watcher's own thread.

    Exit times are ``clock``'s monotonic time, the clock the observations are compared on.
    """

    def __init__(self, on_exit: OnExit, clock: Clock = SYSTEM_CLOCK) -> None:
        self._on_exit = on_exit
        self._clock = clock
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}  # pid -> pidfd; guarded by _lock
        self._closed = False
        self._thread = threading.Thread(
            target=self._run, name="yesman-recovery-pidwatch", daemon=True
        )
        self._thread.start()

    @property
    def pids(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._fds)

    def watch(self, pid: int) -> bool:
        """Start watching ``pid``; False if pidfds are unsupported or the process is gone."""
        if not PIDFD_SUPPORTED or pid <= 0:
            return False
        with self._lock:
            if self._closed:
                return False
            if pid in self._fds:
                return True
            try:
                fd = os.pidfd_open(pid)
            except OSError:  # ESRCH: already gone; ENOSYS/EPERM: not available here
                return False
            self._fds[pid] = fd
            self._selector.register(fd, selectors.EVENT_READ, pid)
        self._wake()
        return True

    def unwatch(self, pid: int) -> None:
        with self._lock:
            fd = self._fds.pop(pid, None)
            if fd is not None:
                self._forget(fd)
        self._wake()

    def watch_only(self, pids: Iterable[int]) -> None:
        """Watch exactly ``pids``: start the new ones, stop the ones no longer listed."""
        wanted = set(pids)
        for pid in self.pids - wanted:
            self.unwatch(pid)
        for pid in wanted:
            self.watch(pid)

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._thread.join(timeout)

    def _forget(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)
        os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _run(self) -> None:
        try:
            while True:
                events = self._selector.select()
                now = self._clock.monotonic()
                exited: list[int] = []
                with self._lock:
                    if self._closed:
                        break
                    for key, _mask in events:
                        if key.data is None:
                            with contextlib.suppress(BlockingIOError, OSError):
                                os.read(self._wake_r, 4096)
                            continue
                        pid = int(key.data)
                        fd = self._fds.pop(pid, None)
                        if fd is not None:
                            self._forget(fd)
                            exited.append(pid)
                for pid in exited:
                    try:
                        self._on_exit(pid, now)
                    except Exception:  # a failing callback must not end the watcher thread
                        logger.exception("exit callback for pid %d failed", pid)
        finally:
            with self._lock:
                for fd in self._fds.values():
                    self._forget(fd)
                self._fds.clear()
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)
