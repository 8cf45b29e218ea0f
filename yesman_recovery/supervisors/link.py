"""What a supervisor and one incarnation of its child share: the link, its latches, the report.

A :class:`SupervisionLink` is written by the child's thread (or, for a coroutine child, its
loop) and read by the supervisor and by whoever waits on the child; its latches order
those writes. The child reports its exit with one :class:`ChildExited` message, *before* its
``down`` latch is set, so a waiter that saw ``down`` and then asks the supervisor anything
(:class:`SyncWithSupervisor`) finds the report handled first.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from yesman_recovery.supervisors.restart import ExitReason

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildExited:
    """Sent by a supervised actor to its supervisor when its actor loop has ended."""

    child_id: str
    incarnation: int
    reason: ExitReason


_CALLBACKS_LOCK = threading.Lock()  # guards every latch's callback list (rarely contended)


def _run_callback(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:  # a waiter's bug must not break the thread that sets the latch
        logger.exception("latch callback %r failed", callback)


class Latch:
    """A one-shot event on a single lock: ``set`` once, ``wait`` from any number of threads.

    The part of ``threading.Event`` a link needs, for about a sixth of its memory (an Event
    carries a Condition, a deque and two locks), which counts once per supervised actor. The
    lock is held from creation until :meth:`set`; a waiter acquires and at once releases it,
    so every waiter wakes. ``set`` is meant for one thread (the link says which); a racing
    second ``set`` is harmless while nobody waits, which is the case for ``stop_requested``.
    """

    __slots__ = ("_callbacks", "_flag", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # released by set(): until then, waiters block on it
        self._flag = False  # True iff set() has run
        self._callbacks: list[Callable[[], None]] | None = None  # guarded by _CALLBACKS_LOCK

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            with contextlib.suppress(RuntimeError):  # a racing second set: already released
                self._lock.release()
        # Taken after the flag is written: a callback added before this sees the flag unset
        # and is in the list; one added after sees the flag set and runs at once.
        with _CALLBACKS_LOCK:
            callbacks, self._callbacks = self._callbacks, None
        for callback in callbacks or ():
            _run_callback(callback)

    def add_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the latch is set: in the thread that sets it, or now."""
        with _CALLBACKS_LOCK:
            if not self._flag:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        _run_callback(callback)

    def remove_callback(self, callback: Callable[[], None]) -> None:
        """Forget ``callback`` if it has not run yet."""
        with _CALLBACKS_LOCK:
            if self._callbacks is not None and callback in self._callbacks:
                self._callbacks.remove(callback)

    def wait(self, timeout: float | None = None) -> bool:
        """True once set; False if ``timeout`` seconds passed first."""
        if self._flag:
            return True
        if self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            self._lock.release()
            return True
        return self._flag


class SupervisionLink:
    """What a supervisor and one incarnation of its child share.

    Written by the child's thread (``start_error``, ``reason``, then the events) and by the
    supervisor's thread (``stop_requested``); the events order those writes, so a reader that
    waited on ``started``/``down`` sees the values written before them.
    """

    def __init__(
        self, supervisor: pykka.ActorRef[Any] | None, child_id: str, incarnation: int
    ) -> None:
        self.supervisor = supervisor
        self.child_id = child_id
        self.incarnation = incarnation
        self.started = Latch()  # set once (by the child) when on_start has returned or raised
        self.start_error: BaseException | None = None  # valid once `started` is set
        self.down = Latch()  # set once (by the child) when the actor loop has ended
        self.reason: ExitReason | None = None  # valid once `down` is set
        self.stop_requested = Latch()  # set by whoever stops the child as its supervisor would


@dataclass(frozen=True)
class SyncWithSupervisor:
    """Asked of a supervisor by :meth:`ChildRef.wait_exit`: answered once the exit reports
    queued before it have been handled (a supervisor's inbox is first in, first out)."""
