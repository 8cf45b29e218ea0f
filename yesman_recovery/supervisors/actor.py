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

import logging
import sys
from types import TracebackType
from typing import Any, ClassVar

import pykka
from pykka import ActorRegistry

from yesman_recovery.errors import ActorInterrupted, StartError
from yesman_recovery.supervisors.link import ChildExited, SupervisionLink, SyncWithSupervisor
from yesman_recovery.supervisors.refs import (
    SYNC_TIMEOUT,
    ChildRef,
    SupervisedFuture,
    SupervisedRef,
    running_loop,
)
from yesman_recovery.supervisors.restart import ExitKind, ExitReason
from yesman_recovery.supervisors.scheduler import Tick

__all__ = [
    "SYNC_TIMEOUT",
    "ChildExited",
    "ChildRef",
    "SupervisedActor",
    "SupervisedFuture",
    "SupervisedRef",
    "SupervisionLink",
    "SyncWithSupervisor",
    "await_start",
    "running_loop",
]

logger = logging.getLogger(__name__)


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
