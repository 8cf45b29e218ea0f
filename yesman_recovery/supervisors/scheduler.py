"""Timed messages: one thread delivers delayed and periodic messages to actors.

Actors never sleep. A supervisor waiting to restart a child, a watcher polling tmux, a health
check's interval: each is a message that the scheduler ``tell``s to the actor when it is due, so
the actor keeps answering meanwhile.

Periodic messages are wrapped in a :class:`Tick`. A periodic is *armed* while its last tick has
not been handled yet, and the scheduler skips a period rather than queue a second tick: a slow
actor never has more than one pending tick. ``SupervisedActor``
unwraps ticks and re-arms the periodic before its handler runs.

:class:`ThreadScheduler` runs in real (monotonic) time on one daemon thread;
:class:`ManualScheduler` moves only when a test calls :meth:`ManualScheduler.advance`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import pykka

from yesman_recovery.supervisors.clock import ManualClock

logger = logging.getLogger(__name__)


class Cancellable(Protocol):
    """Something scheduled that can be called off."""

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Delivers messages to actors later: once, or every ``interval`` seconds."""

    def call_later(self, delay: float, ref: pykka.ActorRef[Any], message: Any) -> Cancellable: ...

    def every(
        self, interval: float, ref: pykka.ActorRef[Any], message: Any, *, first: float = 0.0
    ) -> Periodic: ...


@dataclass(frozen=True)
class Tick:
    """A periodic message in its envelope; handlers see only ``payload``."""

    payload: Any
    periodic: Periodic


class Periodic:
    """A message delivered every ``interval`` seconds, at most one tick pending at a time."""

    def __init__(self, interval: float, ref: pykka.ActorRef[Any], message: Any) -> None:
        if not interval > 0:
            raise ValueError(f"`interval` must be positive, got {interval}")
        self.interval = interval
        self.ref = ref
        self.message = message
        self._lock = threading.Lock()
        self._pending = False  # True iff a tick was sent and its handler has not started yet
        self._cancelled = False
        self.skipped = 0  # periods skipped because the previous tick was still pending

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        self._cancelled = True

    def consumed(self) -> None:
        """Called by the receiving actor when it starts handling a tick."""
        with self._lock:
            self._pending = False

    def fire(self) -> bool:
        """Send one tick unless one is pending; False once the periodic should end."""
        if self._cancelled:
            return False
        with self._lock:
            if self._pending:
                self.skipped += 1
                return True
            self._pending = True
        try:
            self.ref.tell(Tick(self.message, self))
        except pykka.ActorDeadError:
            self._cancelled = True
            return False
        return True


class _Timer:
    def __init__(self, ref: pykka.ActorRef[Any], message: Any) -> None:
        self.ref = ref
        self.message = message
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> bool:
        if not self.cancelled:
            with contextlib.suppress(pykka.ActorDeadError):
                self.ref.tell(self.message)
        return False


_Entry = _Timer | Periodic


class _Queue:
    """A heap of due entries; not thread-safe on its own."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()

    def push(self, due: float, entry: _Entry) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), entry))

    def reschedule(self, when: float, periodic: Periodic, now: float) -> None:
        """Queue ``periodic``'s next tick after the one due at ``when`` fired at ``now``."""
        # Counted from the scheduled time, not from now, so ticks do not drift; if we fell
        # behind by more than a period, start again from now.
        nxt = when + periodic.interval
        self.push(nxt if nxt > now else now + periodic.interval, periodic)

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[float, _Entry]]:
        due: list[tuple[float, _Entry]] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, entry = heapq.heappop(self._heap)
            due.append((when, entry))
        return due

    def __len__(self) -> int:
        return len(self._heap)


def _fire(queue: _Queue, when: float, entry: _Entry, now: float) -> None:
    if entry.fire() and isinstance(entry, Periodic):
        queue.reschedule(when, entry, now)


class ThreadScheduler:
    """Real-time scheduler on one daemon thread; started lazily, stopped with :meth:`close`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue = _Queue()  # guarded by _cond
        self._thread: threading.Thread | None = None
        self._closed = False

    def call_later(self, delay: float, ref: pykka.ActorRef[Any], message: Any) -> Cancellable:
        timer = _Timer(ref, message)
        self._add(time.monotonic() + max(0.0, delay), timer)
        return timer

    def every(
        self, interval: float, ref: pykka.ActorRef[Any], message: Any, *, first: float = 0.0
    ) -> Periodic:
        periodic = Periodic(interval, ref, message)
        self._add(time.monotonic() + max(0.0, first), periodic)
        return periodic

    def close(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _add(self, due: float, entry: _Entry) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            self._queue.push(due, entry)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="yesman-recovery-scheduler", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    nxt = self._queue.next_due()
                    now = time.monotonic()
                    if nxt is not None and nxt <= now:
                        break
                    self._cond.wait(None if nxt is None else nxt - now)
                if self._closed:
                    return
                now = time.monotonic()
                due = self._queue.pop_due(now)
            # tell() outside the lock: it never blocks, but keep the lock short regardless.
            fired: list[tuple[float, Periodic]] = []
            for when, entry in due:
                try:
                    if entry.fire() and isinstance(entry, Periodic):
                        fired.append((when, entry))
                except Exception:  # a bad message must not kill the one scheduler thread
                    logger.exception("scheduled delivery to %s failed", entry.ref)
            if fired:
                with self._cond:
                    for when, entry in fired:
                        self._queue.reschedule(when, entry, now)


class ManualScheduler:
    """A test scheduler: entries fire only inside :meth:`advance`, on a :class:`ManualClock`."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._queue = _Queue()

    def call_later(self, delay: float, ref: pykka.ActorRef[Any], message: Any) -> Cancellable:
        timer = _Timer(ref, message)
        with self._lock:
            self._queue.push(self.clock.monotonic() + max(0.0, delay), timer)
        return timer

    def every(
        self, interval: float, ref: pykka.ActorRef[Any], message: Any, *, first: float = 0.0
    ) -> Periodic:
        periodic = Periodic(interval, ref, message)
        with self._lock:
            self._queue.push(self.clock.monotonic() + max(0.0, first), periodic)
        return periodic

    def pending(self) -> list[float]:
        """Due times (monotonic) of every live scheduled entry, soonest first."""
        with self._lock:
            return sorted(due for due, _, entry in self._queue._heap if not _is_cancelled(entry))

    def advance(self, seconds: float) -> int:
        """Move the clock forward and fire everything due by then; returns how many fired."""
        self.clock.advance(seconds)
        now = self.clock.monotonic()
        with self._lock:
            due = self._queue.pop_due(now)
            fired = 0
            for when, entry in due:
                if not _is_cancelled(entry):
                    fired += 1
                _fire(self._queue, when, entry, now)
        return fired


def _is_cancelled(entry: _Entry) -> bool:
    return entry.cancelled


_default: ThreadScheduler | None = None
_default_lock = threading.Lock()


def default_scheduler() -> ThreadScheduler:
    """The process-wide real-time scheduler (one daemon thread, started on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = ThreadScheduler()
        return _default
