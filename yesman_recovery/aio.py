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
import logging
from typing import Any, TypeVar

import pykka

from yesman_recovery.errors import StartError
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.awaiting import Timeout, add_done_callback, await_latch, get
from yesman_recovery.supervisors.link import SupervisionLink as _Link
from yesman_recovery.supervisors.refs import SYNC_TIMEOUT, ChildRef, SupervisedRef
from yesman_recovery.supervisors.restart import ExitReason

__all__ = ["Timeout", "add_done_callback", "get", "shutdown", "start", "wait_exit"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A", bound=SupervisedActor)


async def start(actor_class: type[A], *args: Any, **kwargs: Any) -> SupervisedRef:
    """``actor_class.start(*args, **kwargs)`` awaited: a :class:`Supervisor` (or any supervised
    actor) started from the loop, whose coroutine children may then start on this loop.

    Raises :class:`StartError` like ``start``, after ``actor_class.start_timeout`` at most.
    """
    link = _Link(None, actor_class.__name__, 1)
    ref = actor_class.spawn(link, args, kwargs)
    timeout = actor_class.start_timeout
    if not await await_latch(link.started, timeout):
        link.stop_requested.set()
        ref._request_stop()
        raise StartError(f"{link.child_id}: on_start did not finish within {timeout} s")
    if link.start_error is not None:
        await await_latch(link.down, timeout)
        raise StartError(
            f"{link.child_id}: on_start failed: {link.start_error!r}"
        ) from link.start_error
    return ref


async def shutdown(ref: ChildRef, timeout: float | None = 30.0) -> bool:
    """``ref.shutdown(timeout)`` awaited: True iff the child (a supervisor: its tree) ended."""
    ref._link.stop_requested.set()
    ref._request_stop()
    return await await_latch(ref._link.down, timeout)


async def wait_exit(ref: ChildRef, timeout: float | None = None) -> ExitReason | None:
    """``ref.wait_exit(timeout)`` awaited: the exit reason once the supervisor took it in."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    if not await await_latch(ref._link.down, timeout):
        return None
    sync = ref._sync_with_supervisor()
    if sync is not None:
        left = SYNC_TIMEOUT if deadline is None else max(0.0, deadline - loop.time())
        with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
            await get(sync, left)
    return ref._link.reason
