"""Await Pykka futures and supervision latches from asyncio without blocking the loop.

The machinery under :mod:`yesman_recovery.aio`, kept in the supervision layer so that refs and
futures can be awaited without importing the public module above them. See that module for the
how and why.

Why this touches Pykka's private fields: Pykka 4.5's ``Future`` offers no callback on
completion (its public surface is ``get``, ``set``, ``set_exception``, ``set_get_hook`` and the
lazy ``map``/``filter``/``join``/``reduce``), and Pykka's own answer for asyncio is to call
``get()`` in a thread pool. That costs a thread per pending await, and the loop's default
executor has ``min(32, cpus + 4)`` of them: a hundred agents awaiting slow actors would queue
behind each other. So :func:`add_done_callback` wraps a ``ThreadingFuture``'s condition
(``_condition``, read with ``_result`` and ``_get_hook``), all of it in this module, checked
against Pykka's layout on every call: a future laid out otherwise (a later Pykka) is awaited
through the public path, ``get(timeout=…)`` in the executor, slower but correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeGuard, TypeVar

import pykka
from pykka import ThreadingFuture

from yesman_recovery.supervisors.link import Latch

__all__ = ["Timeout", "add_done_callback", "await_latch", "get"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
    if not _can_call_back(future):
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


def _can_call_back(future: pykka.Future[Any]) -> TypeGuard[ThreadingFuture[Any]]:
    """True iff ``future`` is a ``ThreadingFuture`` laid out as in Pykka 4 (the fields used
    here are there) whose value is set, not computed by a get hook."""
    return (
        isinstance(future, ThreadingFuture)
        and isinstance(getattr(future, "_condition", None), _CONDITIONS)
        and hasattr(future, "_result")
        and getattr(future, "_get_hook", True) is None
    )


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


_CONDITIONS = (threading.Condition, _NotifyingCondition)


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


async def await_latch(latch: Latch, timeout: float | None) -> bool:
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
