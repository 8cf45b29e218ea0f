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
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, TypeVar, overload

import pykka
from pykka import ActorRegistry, ThreadingFuture

from yesman_recovery.errors import ActorInterrupted, StartError
from yesman_recovery.supervisors.restart import ExitKind, ExitReason
from yesman_recovery.supervisors.scheduler import Tick

logger = logging.getLogger(__name__)

T = TypeVar("T")


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


class _Latch:
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
        self.started = _Latch()  # set once (by the child) when on_start has returned or raised
        self.start_error: BaseException | None = None  # valid once `started` is set
        self.down = _Latch()  # set once (by the child) when the actor loop has ended
        self.reason: ExitReason | None = None  # valid once `down` is set
        self.stop_requested = _Latch()  # set by whoever stops the child as its supervisor would


@dataclass(frozen=True)
class SyncWithSupervisor:
    """Asked of a supervisor by :meth:`ChildRef.wait_exit`: answered once the exit reports
    queued before it have been handled (a supervisor's inbox is first in, first out)."""


SYNC_TIMEOUT = 5.0
"""Seconds :meth:`ChildRef.wait_exit` without a timeout waits for the supervisor's answer."""


class ChildRef:
    """What every supervised child's ref offers: wait for its exit, stop it, stop as its
    supervisor would. Shared by :class:`SupervisedRef` (a thread) and
    :class:`~yesman_recovery.supervisors.tasks.TaskRef` (a task)."""

    _link: SupervisionLink

    @property
    def child_id(self) -> str:
        """The child's id under its supervisor (the class name when unsupervised)."""
        return self._link.child_id

    @property
    def incarnation(self) -> int:
        """Which start of the child this ref is (1 for the first)."""
        return self._link.incarnation

    def wait_exit(self, timeout: float | None = None) -> ExitReason | None:
        """Block until the child has ended; its reason, or None if ``timeout`` passed first.

        Once this returns a reason, the supervisor has taken the exit in: its answers
        (``which_children``, ``whereis``…) no longer show this incarnation running. Waits for
        that up to the rest of ``timeout`` (:data:`SYNC_TIMEOUT` without one).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._link.down.wait(timeout):
            return None
        sync = self._sync_with_supervisor()
        if sync is not None:
            left = SYNC_TIMEOUT if deadline is None else max(0.0, deadline - time.monotonic())
            with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
                sync.get(timeout=left)
        return self._link.reason

    @property
    def exit_reason(self) -> ExitReason | None:
        """The reason the child ended, or None while it runs."""
        return self._link.reason if self._link.down.is_set() else None

    def shutdown(self, timeout: float | None = 30.0) -> bool:
        """Ask the child to stop as its supervisor would; True iff it ended within ``timeout``.

        For a supervisor, ended means its whole tree is down (or abandoned).
        """
        self._check_may_block("shutdown()")
        self._link.stop_requested.set()
        self._request_stop()
        return self._link.down.wait(timeout)

    def _request_stop(self) -> None:
        """Ask the child to stop, without waiting (any thread)."""
        raise NotImplementedError

    def _check_may_block(self, what: str) -> None:
        """Raise if blocking here would wait for the calling thread itself (an event loop)."""
        _check_not_on_task_loop(what)

    def _when_down(self, value: bool) -> SupervisedFuture[bool]:
        """A future that gets ``value`` once the child (a supervisor: its tree) is down."""
        future: SupervisedFuture[bool] = SupervisedFuture()
        self._link.down.add_callback(lambda: future.set(value))
        return future

    def _sync_with_supervisor(self) -> pykka.Future[Any] | None:
        supervisor = self._link.supervisor
        if supervisor is None:
            return None
        try:
            return supervisor.ask(SyncWithSupervisor(), block=False)
        except pykka.ActorDeadError:
            return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from yesman_recovery import aio

        if not await aio.shutdown(self):
            logger.error("%s did not stop within 30 s; abandoning it", self)


class SupervisedRef(ChildRef, pykka.ActorRef[Any]):
    """The ref of a :class:`SupervisedActor`: a Pykka ``ActorRef`` that can wait for the exit.

    ``stop()`` keeps Pykka's contract for the whole tree: ``stop(block=True)`` returns once the
    actor — and, for a supervisor, every actor below it — has stopped (or raises
    ``pykka.Timeout``); ``stop(block=False)`` returns a future of that. Usable as a context
    manager (``with``, or ``async with`` on an event loop): leaving the block stops the actor
    (and, for a supervisor, its whole tree in reverse start order) and waits for it, so a crash
    of the main thread never leaves the process hanging on actor threads.
    """

    @overload
    def stop(self, *, block: Literal[True] = True, timeout: float | None = None) -> bool: ...

    @overload
    def stop(
        self, *, block: Literal[False], timeout: float | None = None
    ) -> pykka.Future[bool]: ...

    @overload
    def stop(
        self, *, block: bool = True, timeout: float | None = None
    ) -> bool | pykka.Future[bool]: ...

    def stop(
        self, *, block: bool = True, timeout: float | None = None
    ) -> bool | pykka.Future[bool]:
        """Ask the actor to stop; True once it (its tree) is down, False if it was dead already.

        Stopped this way the actor ends ``normal``: its supervisor restarts a permanent child.
        Raises ``pykka.Timeout`` if ``block`` and the tree is not down within ``timeout``.
        """
        if block:
            self._check_may_block("stop()")
        future = self._when_down(self.is_alive())
        self._request_stop()
        return future.get(timeout=timeout) if block else future

    def _request_stop(self) -> None:
        # Pykka's own stop message: it queues behind messages sent before it.
        super().stop(block=False)

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


class SupervisedFuture(ThreadingFuture[T]):
    """The future of a call to a supervised actor: awaiting it never blocks an event loop.

    Pykka's own ``await future`` waits in ``get()``, holding the loop; this one waits through
    :func:`yesman_recovery.aio.get` when awaited on a running asyncio loop (use that function
    directly for a timeout).
    """

    def __await__(self) -> Generator[Any, None, T]:
        if running_loop() is None:
            return (yield from super().__await__())
        from yesman_recovery import aio

        value: T = yield from aio.get(self).__await__()
        return value


def running_loop() -> Any:
    """The asyncio loop running in this thread, or None (without importing asyncio)."""
    asyncio = sys.modules.get("asyncio")
    return None if asyncio is None else asyncio.events._get_running_loop()


def _check_not_on_task_loop(what: str) -> None:
    loop = running_loop()
    if loop is None:
        return
    tasks = sys.modules.get("yesman_recovery.supervisors.tasks")
    if tasks is not None and tasks.has_live_children(loop):
        raise RuntimeError(
            f"{what} would block the event loop that runs supervised coroutine children, and "
            f"they need it to stop: use `await yesman_recovery.aio.shutdown(ref)` or "
            f"`async with` on the loop"
        )


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
    default_shutdown: ClassVar[float | None] = 5.0
    """``shutdown`` of a :class:`ChildSpec` of this class that names none."""
    default_start_timeout: ClassVar[float] = 10.0
    """``start_timeout`` of a :class:`ChildSpec` of this class that names none."""

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
        cls.check_blocking_start(kwargs)
        link = SupervisionLink(None, cls.__name__, 1)
        ref = cls.spawn(link, args, kwargs)
        await_start(ref, link, cls.start_timeout)
        return ref

    @classmethod
    def check_blocking_start(cls, kwargs: dict[str, Any]) -> None:
        """Raise if a blocking :meth:`start` with ``kwargs`` would wait for its own thread.

        A :class:`Supervisor` overrides it: starting coroutine children on the event loop of
        the calling thread needs that loop, which a blocking start holds.
        """

    @staticmethod
    def _create_future() -> SupervisedFuture[Any]:
        # Every ask and proxy call to a supervised actor answers with this future, which an
        # asyncio caller can await without blocking its loop.
        return SupervisedFuture()

    @classmethod
    def spawn(
        cls, link: SupervisionLink, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> SupervisedRef:
        """Construct the actor with ``link`` and start its thread; do not wait for ``on_start``.

        Called by supervisors (with themselves in ``link``); exceptions from ``__init__``
        propagate to the caller. Only an actor without a supervisor is entered in Pykka's
        ``ActorRegistry``: ``ActorRegistry.stop_all()`` then stops each tree from its root,
        top down, instead of stopping children one by one under a supervisor that restarts
        them (and a registry lookup could not follow a restart anyway).
        """
        obj = cls(*args, **kwargs)
        obj._supervision = link
        ref = obj.actor_ref
        assert isinstance(ref, SupervisedRef), "SupervisedActor.__init__ was not called"
        ref._link = link
        if link.supervisor is None:
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
            # Reported before `down` is set: whoever saw `down` and then asks the supervisor
            # finds the report ahead of the question in its inbox (see ChildRef.wait_exit).
            self._report_exit(link)
            link.down.set()

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


def await_start(ref: ChildRef, link: SupervisionLink, timeout: float) -> None:
    """Wait for ``on_start`` of a just-spawned actor; raise :class:`StartError` if it failed.

    On a timeout the actor is asked to stop (it may still be inside ``on_start``; it is
    abandoned if it never returns).
    """
    if not link.started.wait(timeout):
        link.stop_requested.set()
        ref._request_stop()
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
