"""asyncio hosts: await actors and supervisors without blocking the event loop.

Pykka 4's own ``await future`` yields once and then waits in ``future.get()`` holding the loop:
an agent awaiting a slow actor stops ticking. Here nothing waits on the loop's thread. The
Pykka thread that completes a future calls back into the loop with
``loop.call_soon_threadsafe``, which wakes the awaiting task — no thread per pending call.

- :func:`get` awaits any Pykka future (an ask, a proxy call, a supervisor call) with a
  timeout. Cancelling the awaiting task detaches it from the future: the late answer goes
  nowhere and nothing keeps waiting for it. Futures of supervised actors are already awaitable
  this way (``await root.proxy().which_children()``); :func:`get` adds the timeout and works
  for plain Pykka actors too.
- :func:`start`, :func:`shutdown` and :func:`wait_exit` are the non-blocking forms of
  ``Supervisor.start``, ``ref.shutdown`` and ``ref.wait_exit``; ``async with`` on a ref is
  :func:`shutdown` on leaving. They are required, not only nicer, when the tree has coroutine
  children on this loop: a blocking start or stop would wait for the very loop it holds.

How a Pykka future calls back: a ``ThreadingFuture`` completes under its condition's lock and
then calls ``notify_all()`` on it. :func:`add_done_callback` swaps that condition, under its
lock, for a wrapper whose ``notify_all`` also runs the callbacks; a completion either happened
before the swap (seen under the lock) or notifies the wrapper. Futures that compute their value
in ``get()`` (Pykka's ``map``/``join``, a ``stop(block=False)`` of a plain actor) cannot call
back: :func:`get` waits for those in the loop's default executor, one thread per such call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pykka
from pykka import ThreadingFuture

from yesman_recovery.errors import StartError
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.link import Latch
from yesman_recovery.supervisors.link import SupervisionLink as _Link
from yesman_recovery.supervisors.refs import SYNC_TIMEOUT, ChildRef, SupervisedRef
from yesman_recovery.supervisors.restart import ExitReason

__all__ = ["Timeout", "add_done_callback", "get", "shutdown", "start", "wait_exit"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A", bound=SupervisedActor)


class Timeout(pykka.Timeout, TimeoutError):
    """An await that did not finish in time: both Pykka's ``Timeout`` and ``TimeoutError``."""


async def get(future: pykka.Future[T], timeout: float | None = None) -> T:
    """The value of ``future`` (or its exception, raised), awaited without blocking the loop.

    Raises :class:`Timeout` after ``timeout`` seconds; the actor's later answer is dropped.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:  # in the thread that completed the future
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, waiter)

    remove = add_done_callback(future, wake)
    if remove is None:  # cannot call back: wait in a thread, bounded like the await
        return await _get_in_thread(loop, future, timeout)
    try:
        async with asyncio.timeout(timeout):
            await waiter
    except TimeoutError:
        raise Timeout(f"{timeout} seconds") from None
    finally:
        remove()
    value: T = future.get(timeout=0)
    return value


def add_done_callback(
    future: pykka.Future[Any], callback: Callable[[], None]
) -> Callable[[], None] | None:
    """Call ``callback()`` once ``future`` has its value; returns a function that detaches it.

    ``callback`` runs in the thread that completes the future, holding the future's lock: it
    must be quick and must not touch the future (``call_soon_threadsafe`` is the intended
    use). Runs it at once if the value is there already. Returns None if ``future`` cannot call
    back (not a ``ThreadingFuture``, or one whose value is computed by a get hook).
    """
    if not isinstance(future, ThreadingFuture) or future._get_hook is not None:
        return None
    condition: Any = future._condition
    with condition:
        if future._result is None:
            if not isinstance(condition, _NotifyingCondition):
                condition = _NotifyingCondition(condition)
                future._condition = condition
            condition.callbacks.append(callback)
            return functools.partial(condition.discard, callback)
    callback()
    return _nothing


async def start(actor_class: type[A], *args: Any, **kwargs: Any) -> SupervisedRef:
    """``actor_class.start(*args, **kwargs)`` awaited: a :class:`Supervisor` (or any supervised
    actor) started from the loop, whose coroutine children may then start on this loop.

    Raises :class:`StartError` like ``start``, after ``actor_class.start_timeout`` at most.
    """
    link = _Link(None, actor_class.__name__, 1)
    ref = actor_class.spawn(link, args, kwargs)
    timeout = actor_class.start_timeout
    if not await _latch(link.started, timeout):
        link.stop_requested.set()
        ref._request_stop()
        raise StartError(f"{link.child_id}: on_start did not finish within {timeout} s")
    if link.start_error is not None:
        await _latch(link.down, timeout)
        raise StartError(
            f"{link.child_id}: on_start failed: {link.start_error!r}"
        ) from link.start_error
    return ref


async def shutdown(ref: ChildRef, timeout: float | None = 30.0) -> bool:
    """``ref.shutdown(timeout)`` awaited: True iff the child (a supervisor: its tree) ended."""
    ref._link.stop_requested.set()
    ref._request_stop()
    return await _latch(ref._link.down, timeout)


async def wait_exit(ref: ChildRef, timeout: float | None = None) -> ExitReason | None:
    """``ref.wait_exit(timeout)`` awaited: the exit reason once the supervisor took it in."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    if not await _latch(ref._link.down, timeout):
        return None
    sync = ref._sync_with_supervisor()
    if sync is not None:
        left = SYNC_TIMEOUT if deadline is None else max(0.0, deadline - loop.time())
        with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
            await get(sync, left)
    return ref._link.reason


# --- the machinery ---------------------------------------------------------------------------


class _NotifyingCondition:
    """A future's ``threading.Condition`` that also runs callbacks on ``notify_all``.

    Every method but ``notify_all`` is the wrapped condition's, on the same lock; the callback
    list is only touched under that lock.
    """

    __slots__ = ("_condition", "callbacks")

    def __init__(self, condition: threading.Condition) -> None:
        self._condition = condition
        self.callbacks: list[Callable[[], None]] = []

    def __enter__(self) -> bool:
        return self._condition.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._condition.__exit__(*exc)

    def wait(self, timeout: float | None = None) -> bool:
        return self._condition.wait(timeout)

    def notify(self, n: int = 1) -> None:
        self._condition.notify(n)

    def notify_all(self) -> None:
        self._condition.notify_all()
        callbacks, self.callbacks = self.callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # never break the actor that answered
                logger.exception("future callback %r failed", callback)

    def discard(self, callback: Callable[[], None]) -> None:
        with self._condition, contextlib.suppress(ValueError):
            self.callbacks.remove(callback)


def _nothing() -> None:
    pass


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():  # cancelled meanwhile: the answer goes nowhere
        waiter.set_result(None)


async def _get_in_thread(
    loop: asyncio.AbstractEventLoop, future: pykka.Future[T], timeout: float | None
) -> T:
    try:
        value: T = await loop.run_in_executor(None, functools.partial(future.get, timeout=timeout))
    except pykka.Timeout:
        raise Timeout(f"{timeout} seconds") from None
    return value


async def _latch(latch: Latch, timeout: float | None) -> bool:
    """Await a supervision latch without blocking the loop; False if ``timeout`` passed."""
    if latch.is_set():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, waiter)

    latch.add_callback(wake)
    try:
        async with asyncio.timeout(timeout):
            await waiter
    except TimeoutError:
        return False
    finally:
        latch.remove_callback(wake)
    return True
