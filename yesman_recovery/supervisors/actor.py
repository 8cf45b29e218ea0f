"""``SupervisedActor``: a Pykka actor that tells its supervisor how it ended, on every path.

Pykka has no links or monitors: nothing tells anyone that an actor died. Its ``on_failure`` hook
sees only crashes of ``tell`` handlers, not a failed ``on_start``, a failing ``on_stop`` or an
actor that simply stops itself. So this class wraps the actor loop itself: whatever ends the loop,
a ``finally`` block records an :class:`ExitReason` in the actor's :class:`SupervisionLink` and
sends one :class:`ChildExited` to the supervisor — exactly once per incarnation.

The exit paths and what the supervisor hears:

===========================================  ==========================================
what happens                                 reported reason
===========================================  ==========================================
``__init__`` raises                          the supervisor's start call fails directly
``on_start`` raises or times out             ``start_failed`` (and the start call fails)
a ``tell`` handler raises                    ``crashed`` (after ``on_failure`` ran)
``on_stop`` raises                           ``crashed``
``SystemExit``/``KeyboardInterrupt`` inside  ``crashed`` with :class:`ActorInterrupted`
the actor stops itself / is stopped by       ``normal``
someone other than its supervisor
its supervisor stops it                      ``shutdown``
===========================================  ==========================================

An exception raised while answering an ``ask`` (or a proxy call) goes back to the caller and does
**not** end the actor: that is Pykka's rule, and a supervisor does not see it. Crash-worthy work
belongs in ``tell`` handlers.

Pykka turns a ``BaseException`` in a handler into ``ActorRegistry.stop_all()``, stopping every
actor in the process; a supervised actor converts it into :class:`ActorInterrupted` first, so only
that actor dies and its supervisor decides what happens next.

This module uses Pykka 4's private hooks ``_actor_loop``, ``_actor_loop_setup``,
``_handle_receive``, ``_handle_failure`` and ``_start_actor_loop`` (hence ``pykka>=4.5,<5``);
the tests exercise every path above.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self

import pykka
from pykka import ActorRegistry

from yesman_recovery.errors import ActorInterrupted, StartError
from yesman_recovery.supervisors.restart import ExitKind, ExitReason
from yesman_recovery.supervisors.scheduler import Tick

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildExited:
    """Sent by a supervised actor to its supervisor when its actor loop has ended."""

    child_id: str
    incarnation: int
    reason: ExitReason


class _Latch:
    """A one-shot event on a single lock: ``set`` once, ``wait`` from any number of threads.

    The part of ``threading.Event`` a link needs, for about a sixth of its memory (an Event
    carries a Condition, a deque and two locks), which counts once per supervised actor. The
    lock is held from creation until :meth:`set`; a waiter acquires and at once releases it,
    so every waiter wakes. ``set`` is meant for one thread (the link says which); a racing
    second ``set`` is harmless while nobody waits, which is the case for ``stop_requested``.
    """

    __slots__ = ("_flag", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # released by set(): until then, waiters block on it
        self._flag = False  # True iff set() has run

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            with contextlib.suppress(RuntimeError):  # a racing second set: already released
                self._lock.release()

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
        self.started = _Latch()  # set once (by the child) when on_start has returned or raised
        self.start_error: BaseException | None = None  # valid once `started` is set
        self.down = _Latch()  # set once (by the child) when the actor loop has ended
        self.reason: ExitReason | None = None  # valid once `down` is set
        self.stop_requested = _Latch()  # set by whoever stops the child as its supervisor would


class SupervisedRef(pykka.ActorRef[Any]):
    """The ref of a :class:`SupervisedActor`: a Pykka ``ActorRef`` that can wait for the exit.

    Usable as a context manager: leaving the block stops the actor (and, for a supervisor, its
    whole tree in reverse start order) and waits for it, so a crash of the main thread never
    leaves the process hanging on actor threads.
    """

    _link: SupervisionLink

    def wait_exit(self, timeout: float | None = None) -> ExitReason | None:
        """Block until the actor has ended; its reason, or None if ``timeout`` passed first."""
        if not self._link.down.wait(timeout):
            return None
        return self._link.reason

    @property
    def exit_reason(self) -> ExitReason | None:
        """The reason the actor ended, or None while it runs."""
        return self._link.reason if self._link.down.is_set() else None

    def shutdown(self, timeout: float | None = 30.0) -> bool:
        """Ask the actor to stop as its supervisor would; True iff it ended within ``timeout``."""
        self._link.stop_requested.set()
        with contextlib.suppress(pykka.ActorDeadError):
            self.stop(block=False)
        return self._link.down.wait(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.shutdown():
            logger.error("%s did not stop within 30 s; abandoning it", self)


class SupervisedActor(pykka.ThreadingActor):
    """Base class of every actor that runs under a :class:`Supervisor`.

    Subclass it like any ``pykka.ThreadingActor`` (override ``on_start``, ``on_receive``,
    ``on_stop``, add methods for proxies). Started by a supervisor, it reports its exit to it;
    started on its own with :meth:`start`, ``start`` waits for ``on_start`` and raises
    :class:`StartError` if it failed, and the returned :class:`SupervisedRef` can wait for the
    exit.

    Threads are daemon threads: Python cannot kill a thread, so a child that ignores its
    shutdown is abandoned, and an abandoned thread must never keep the process alive.
    """

    use_daemon_thread: ClassVar[bool] = True
    start_timeout: ClassVar[float] = 30.0
    """Seconds :meth:`start` waits for ``on_start`` when the actor is started on its own."""

    _supervision: SupervisionLink
    _exit_error: BaseException | None = None  # the first failure of this incarnation

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._actor_ref = SupervisedRef(self)

    # --- starting -------------------------------------------------------------------------

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> SupervisedRef:
        """Start the actor outside any supervisor and wait until its ``on_start`` has finished.

        Raises :class:`StartError` if ``on_start`` raised or did not finish within
        :attr:`start_timeout` seconds.
        """
        link = SupervisionLink(None, cls.__name__, 1)
        ref = cls.spawn(link, args, kwargs)
        await_start(ref, link, cls.start_timeout)
        return ref

    @classmethod
    def spawn(
        cls, link: SupervisionLink, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> SupervisedRef:
        """Construct the actor with ``link`` and start its thread; do not wait for ``on_start``.

        Called by supervisors (with themselves in ``link``); exceptions from ``__init__``
        propagate to the caller.
        """
        obj = cls(*args, **kwargs)
        obj._supervision = link
        ref = obj.actor_ref
        assert isinstance(ref, SupervisedRef), "SupervisedActor.__init__ was not called"
        ref._link = link
        ActorRegistry.register(ref)
        obj._start_actor_loop()
        return ref

    @property
    def child_id(self) -> str:
        """The id this actor has under its supervisor (the class name when unsupervised)."""
        return self._supervision.child_id

    @property
    def incarnation(self) -> int:
        """How many times the supervisor has started this child, this start included."""
        return self._supervision.incarnation

    # --- the wrapped actor loop (runs in the actor's thread) ------------------------------

    def _actor_loop(self) -> None:
        link = self._supervision
        try:
            try:
                self._actor_loop_setup()
            finally:
                link.start_error = self._exit_error
                link.started.set()
            self._actor_loop_running()
            self._actor_loop_teardown()
        except BaseException as exc:  # only reachable through a bug below Pykka's own handlers
            self._record_failure(exc)
            ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
            logger.exception("%s ended by an unexpected exception", self)
        finally:
            link.reason = self._exit_reason()
            try:
                self.on_exit(link.reason)
            except Exception:  # the exit must still be reported
                logger.exception("on_exit of %s failed", self)
            link.down.set()
            self._report_exit(link)

    def on_exit(self, reason: ExitReason) -> None:
        """Run once in the actor's thread after its loop ended, whatever ended it.

        Unlike Pykka's ``on_stop`` (normal stops only) and ``on_failure`` (crashes of ``tell``
        handlers only), this runs on every path — a failed ``on_start`` and an interrupt in an
        ``ask`` included — before the supervisor hears of the exit. Release resources here.
        """

    def _actor_loop_setup(self) -> None:
        try:
            self.on_start()
        except Exception:
            self._handle_failure(*sys.exc_info())
        except BaseException as exc:
            wrapped = _interrupted(exc, self, "on_start")
            self._handle_failure(type(wrapped), wrapped, exc.__traceback__)

    def _handle_receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            message.periodic.consumed()
            message = message.payload
        try:
            return super()._handle_receive(message)
        except Exception:
            raise
        except BaseException as exc:
            wrapped = _interrupted(exc, self, "a handler")
            # End this actor whatever the message was (a tell, an ask, or the stop that ran
            # on_stop): an interrupt is a crash of this actor, never an answer to a caller.
            self._record_failure(wrapped)
            ActorRegistry.unregister(self.actor_ref)
            self.actor_stopped.set()
            raise wrapped from exc

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exception_value is not None:
            self._record_failure(exception_value)
        super()._handle_failure(exception_type, exception_value, traceback)

    def _record_failure(self, exc: BaseException) -> None:
        if self._exit_error is None:
            self._exit_error = exc

    def _exit_reason(self) -> ExitReason:
        link = self._supervision
        if link.start_error is not None:
            return ExitReason(ExitKind.START_FAILED, link.start_error)
        if self._exit_error is not None:
            return ExitReason(ExitKind.CRASHED, self._exit_error)
        if link.stop_requested.is_set():
            return ExitReason(ExitKind.SHUTDOWN)
        return ExitReason(ExitKind.NORMAL)

    def _report_exit(self, link: SupervisionLink) -> None:
        if link.supervisor is None:
            return
        assert link.reason is not None
        try:
            link.supervisor.tell(ChildExited(link.child_id, link.incarnation, link.reason))
        except pykka.ActorDeadError:
            logger.debug("supervisor of %s is gone; exit not reported", self)


def await_start(ref: SupervisedRef, link: SupervisionLink, timeout: float) -> None:
    """Wait for ``on_start`` of a just-spawned actor; raise :class:`StartError` if it failed.

    On a timeout the actor is asked to stop (it may still be inside ``on_start``; it is
    abandoned if it never returns).
    """
    if not link.started.wait(timeout):
        link.stop_requested.set()
        with contextlib.suppress(pykka.ActorDeadError):
            ref.stop(block=False)
        raise StartError(f"{link.child_id}: on_start did not finish within {timeout} s")
    if link.start_error is not None:
        # The thread is ending; let it finish so the exit is fully recorded before we return.
        link.down.wait(timeout)
        raise StartError(
            f"{link.child_id}: on_start failed: {link.start_error!r}"
        ) from link.start_error


def _interrupted(exc: BaseException, actor: pykka.Actor, where: str) -> ActorInterrupted:
    wrapped = ActorInterrupted(f"{type(exc).__name__}({exc}) raised in {where} of {actor}")
    wrapped.__cause__ = exc
    return wrapped
