"""Where probes and heals run: a worker thread per check, or the host's event loop.

The check actor never runs a probe itself: a probe that hangs would freeze the actor, and a
frozen actor cannot be killed in Python. Plain callables go to the check's :class:`Worker`, one
daemon thread that runs one job at a time; ``async`` callables become a task on the host's loop
through :class:`LoopCall`, a small ``call_soon_threadsafe`` bridge that never blocks the loop.
Either way the outcome comes back through ``deliver(job, value, error, seconds)``, called from the
worker thread or the loop thread; the actor turns it into a message to itself.

A job that outlives its timeout is *abandoned*: the actor stops waiting for it. A task on the loop
is cancelled; a thread cannot be, so the worker stays busy until the callable returns, and the
actor starts nothing new on it meanwhile (at most one stuck thread per check, never a pile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

Deliver = Callable[[int, Any, BaseException | None, float], None]


class Worker:
    """One daemon thread running submitted jobs in order; started on the first job."""

    def __init__(self, name: str, deliver: Deliver) -> None:
        self._name = name
        self._deliver = deliver
        self._queue: queue.SimpleQueue[tuple[int, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, job: int, fn: Callable[[], Any]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"yesman-recovery-health-{self._name}", daemon=True
            )
            self._thread.start()
        self._queue.put((job, fn))

    def close(self) -> None:
        """Let the thread end after its current job (a stuck job keeps it, as a daemon)."""
        self._queue.put(None)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            job, fn = item
            started = time.monotonic()
            try:
                value, error = fn(), None
            except BaseException as exc:  # a probe's SystemExit is its failure, not ours
                value, error = None, exc
            try:
                self._deliver(job, value, error, time.monotonic() - started)
            except Exception:
                logger.exception("delivering the result of %s failed", self._name)


class LoopCall:
    """Run ``fn()`` (an ``async`` callable) as a task on ``loop``, from any thread.

    ``deliver`` is called on the loop's thread when the task ends (not when it is cancelled).
    If the loop is closed, ``deliver`` is called at once with the ``RuntimeError``.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fn: Callable[[], Awaitable[Any]],
        job: int,
        deliver: Deliver,
    ) -> None:
        self._loop = loop
        self._fn = fn
        self._job = job
        self._deliver = deliver
        self._task: asyncio.Future[Any] | None = None  # touched on the loop thread only
        self._cancelled = False
        self._started = time.monotonic()
        try:
            loop.call_soon_threadsafe(self._start)
        except RuntimeError as exc:  # the host's loop is closed
            deliver(job, None, RuntimeError(f"the event loop is not running: {exc}"), 0.0)

    def cancel(self) -> None:
        """Give up on the task: it is cancelled on its loop (if the loop still runs)."""
        self._cancelled = True
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._cancel_task)

    def _cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _start(self) -> None:
        if self._cancelled:
            return
        try:
            self._task = asyncio.ensure_future(self._fn(), loop=self._loop)
        except Exception as exc:  # the callable raised before returning its coroutine
            self._deliver(self._job, None, exc, 0.0)
            return
        self._task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            return
        elapsed = time.monotonic() - self._started
        error = task.exception()
        self._deliver(self._job, None if error else task.result(), error, elapsed)
