"""Coroutine children: a supervised child that is an asyncio task on a given event loop.

A :class:`ChildSpec` whose ``start`` is an async function or a :class:`TaskWorker` subclass is
run as a task on the spec's ``loop`` (the host's). Its supervisor is the same thread-based
:class:`Supervisor` as for actors, so strategies, restart types, intensity, backoff and mixed
trees work unchanged; only the three edges differ and are bridged here:

- **start**: the supervisor's thread schedules the task with ``loop.call_soon_threadsafe`` and
  waits (up to ``start_timeout``) until the task runs — for a :class:`TaskWorker`, until its
  ``on_start`` returned. A closed loop makes the start fail at once.
- **exit**: a done-callback on the loop reports exactly one ``ChildExited`` per incarnation: a
  return is ``normal``, an exception ``crashed`` (``SystemExit``/``KeyboardInterrupt`` too, as
  :class:`ActorInterrupted`, so one task cannot end the host), a cancellation ``shutdown`` when
  its supervisor asked and ``normal`` otherwise.
- **stop**: cancel the task, then wait up to ``shutdown`` seconds for it to end; a task that
  swallows the cancellation and keeps running is abandoned, as a thread would be.

The loop must keep running while its children live: stop the tree before the loop ends
(``async with`` on the root's ref does). A blocking start or stop of such a tree from the loop's
own thread would wait for itself, so those raise ``RuntimeError`` and point to
:mod:`yesman_recovery.aio`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any, ClassVar, Literal, overload

import pykka

from yesman_recovery.errors import ActorInterrupted
from yesman_recovery.supervisors.link import ChildExited, SupervisionLink
from yesman_recovery.supervisors.refs import ChildRef, SupervisedFuture
from yesman_recovery.supervisors.restart import ExitKind, ExitReason
from yesman_recovery.supervisors.spec import ChildSpec

logger = logging.getLogger(__name__)

_live_lock = threading.Lock()
_live: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()
"""Coroutine children not yet ended, per loop; guarded by ``_live_lock``."""


def has_live_children(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether supervised coroutine children still run (or start) on ``loop``."""
    with _live_lock:
        return _live.get(loop, 0) > 0


def _count(loop: asyncio.AbstractEventLoop, delta: int) -> None:
    with _live_lock:
        _live[loop] = _live.get(loop, 0) + delta


class TaskWorker:
    """Base class of a coroutine child with a life cycle, run as a task on the spec's loop.

    Constructed as ``start(*args, **kwargs)`` on every (re)start, on the loop. Then ``on_start``
    is awaited (its failure or a timeout is a failed start, told apart from a crash later), then
    ``run``, and finally ``on_exit(reason)`` on every path — cancelled included — to release
    what the task holds (close sessions, files). All three run on the loop: never block in them.
    """

    runs_as_task: ClassVar[bool] = True
    default_shutdown: ClassVar[float | None] = 5.0
    default_start_timeout: ClassVar[float] = 10.0

    _link: SupervisionLink

    @property
    def child_id(self) -> str:
        """The id this task has under its supervisor."""
        return self._link.child_id

    @property
    def incarnation(self) -> int:
        """How many times the supervisor has started this child, this start included."""
        return self._link.incarnation

    async def on_start(self) -> None:
        """Get ready; the supervisor's start waits for this (up to ``start_timeout``)."""

    async def run(self) -> None:
        """The work. Returning is a normal exit; raising is a crash."""
        raise NotImplementedError(f"{type(self).__name__}.run")

    async def on_exit(self, reason: ExitReason) -> None:
        """Release resources; runs once after ``run`` (or a failed ``on_start``) ended."""


class TaskRef(ChildRef):
    """The ref of one incarnation of a coroutine child: its task, and the waits of a child ref.

    Made in the supervisor's thread; ``task`` is set on the loop once the task exists.
    ``stop`` cancels the task (a ``normal`` exit, as a stop of an actor by someone other than
    its supervisor); ``shutdown`` cancels it as its supervisor would.
    """

    def __init__(self, link: SupervisionLink, loop: asyncio.AbstractEventLoop) -> None:
        self._link = link
        self.loop = loop
        self.task: asyncio.Task[None] | None = None  # set on the loop; None until it runs
        self._cancel_asked = False  # True iff a stop came before the task existed (loop only)

    def __repr__(self) -> str:
        return f"<TaskRef {self._link.child_id}#{self._link.incarnation}>"

    def is_alive(self) -> bool:
        """True until the task has ended."""
        return not self._link.down.is_set()

    @overload
    def stop(self, *, block: Literal[True] = True, timeout: float | None = None) -> bool: ...

    @overload
    def stop(
        self, *, block: Literal[False], timeout: float | None = None
    ) -> pykka.Future[bool]: ...

    def stop(
        self, *, block: bool = True, timeout: float | None = None
    ) -> bool | pykka.Future[bool]:
        """Cancel the task; True once it ended, False if it had already. As ``ActorRef.stop``.

        Raises ``pykka.Timeout`` if ``block`` and it did not end within ``timeout``.
        """
        if block:
            self._check_may_block("stop()")
        future: SupervisedFuture[bool] = self._when_down(self.is_alive())
        self._request_stop()
        return future.get(timeout=timeout) if block else future

    def _check_may_block(self, what: str) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return
        if running is self.loop:
            raise RuntimeError(
                f"{what} of a coroutine child on its own loop would wait for itself: use "
                f"`await yesman_recovery.aio.shutdown(ref)` (or aio.get(ref.stop(block=False)))"
            )

    def _request_stop(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:  # the loop is closed: the task will never run again
            _finish(self._link, None)

    def _cancel(self) -> None:  # on the loop
        if self.task is None:
            self._cancel_asked = True
        else:
            self.task.cancel()


def spawn_task(spec: ChildSpec, link: SupervisionLink) -> TaskRef:
    """Schedule one incarnation of a coroutine child on its loop; do not wait for it.

    Raises ``RuntimeError`` if the loop is closed (the supervisor counts a failed start).
    """
    loop = spec.loop
    assert loop is not None
    ref = TaskRef(link, loop)
    outcome = _Outcome()

    def create() -> None:  # on the loop
        task = loop.create_task(_body(spec, link, outcome), name=f"{spec.id}#{link.incarnation}")
        task.add_done_callback(lambda _: _finish(link, outcome))
        ref.task = task
        if ref._cancel_asked:
            task.cancel()

    _count(loop, +1)
    try:
        loop.call_soon_threadsafe(create)
    except RuntimeError:
        _count(loop, -1)
        raise
    link.down.add_callback(lambda: _count(loop, -1))
    return ref


class _Outcome:
    """What the task body saw, for the done-callback: owned by the loop's thread."""

    __slots__ = ("error",)

    def __init__(self) -> None:
        self.error: BaseException | None = None  # the crash, if the body raised


async def _body(spec: ChildSpec, link: SupervisionLink, outcome: _Outcome) -> None:
    start: Any = spec.start
    worker: TaskWorker | None = None
    try:
        if isinstance(start, type):
            try:
                worker = start(*spec.args, **spec.kwargs)
                assert isinstance(worker, TaskWorker)
                worker._link = link
                await worker.on_start()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                link.start_error = _as_exception(exc, link, "on_start")
                return
            finally:
                link.started.set()
            await worker.run()
        else:
            link.started.set()
            await start(*spec.args, **spec.kwargs)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # a crash of this child only, whatever it raised
        outcome.error = _as_exception(exc, link, "its task")
        logger.debug("coroutine child %s crashed", link.child_id, exc_info=exc)
    finally:
        if worker is not None:
            await _on_exit(worker, _reason(link, outcome))


async def _on_exit(worker: TaskWorker, reason: ExitReason) -> None:
    try:
        await worker.on_exit(reason)
    except Exception:  # the exit must still be reported
        logger.exception("on_exit of %s failed", worker.child_id)


def _finish(link: SupervisionLink, outcome: _Outcome | None) -> None:
    """Record the exit, report it, then set ``down`` (the order ChildRef.wait_exit needs)."""
    if link.down.is_set():
        return
    if not link.started.is_set():  # cancelled before its first step
        link.started.set()
    link.reason = _reason(link, outcome)
    if link.supervisor is not None:
        try:
            link.supervisor.tell(ChildExited(link.child_id, link.incarnation, link.reason))
        except pykka.ActorDeadError:
            logger.debug("supervisor of %s is gone; exit not reported", link.child_id)
    link.down.set()


def _reason(link: SupervisionLink, outcome: _Outcome | None) -> ExitReason:
    if link.start_error is not None:
        return ExitReason(ExitKind.START_FAILED, link.start_error)
    if outcome is not None and outcome.error is not None:
        return ExitReason(ExitKind.CRASHED, outcome.error)
    if link.stop_requested.is_set():
        return ExitReason(ExitKind.SHUTDOWN)
    return ExitReason(ExitKind.NORMAL)


def _as_exception(exc: BaseException, link: SupervisionLink, where: str) -> BaseException:
    if isinstance(exc, Exception):
        return exc
    wrapped = ActorInterrupted(f"{type(exc).__name__}({exc}) raised in {where} of {link.child_id}")
    wrapped.__cause__ = exc
    return wrapped
