"""Refs of supervised children: wait for the exit, stop (a whole tree), await from asyncio.

:class:`ChildRef` is what every child's ref offers; :class:`SupervisedRef` is the Pykka
``ActorRef`` of a :class:`~yesman_recovery.supervisors.actor.SupervisedActor` and
``TaskRef`` (in :mod:`~yesman_recovery.supervisors.tasks`) that of a coroutine child.
:class:`SupervisedFuture` is the future of every call to a supervised actor: awaited on an
asyncio loop it never blocks it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Generator
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

import pykka
from pykka import ThreadingFuture

from yesman_recovery.supervisors.link import SupervisionLink, SyncWithSupervisor
from yesman_recovery.supervisors.restart import ExitReason

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
        from yesman_recovery.supervisors.awaiting import await_latch

        self._link.stop_requested.set()
        self._request_stop()
        if not await await_latch(self._link.down, 30.0):
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
        from yesman_recovery.supervisors.awaiting import get

        value: T = yield from get(self).__await__()
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
