"""Await a ``concurrent.futures.Future`` from asyncio without blocking the event loop.

The future completes in an actor's thread; its done-callback hands the outcome to the loop with
``loop.call_soon_threadsafe``, so the loop keeps running while the transaction does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import TypeVar

T = TypeVar("T")


def awaitable(future: concurrent.futures.Future[T]) -> asyncio.Future[T]:
    """An asyncio future of the running loop that completes when ``future`` does."""
    loop = asyncio.get_running_loop()
    mirror: asyncio.Future[T] = loop.create_future()

    def copy(done: concurrent.futures.Future[T]) -> None:  # runs in the loop's thread
        if mirror.done():  # cancelled by the awaiting task
            return
        if done.cancelled():
            mirror.cancel()
        elif (error := done.exception()) is not None:
            mirror.set_exception(error)
        else:
            mirror.set_result(done.result())

    def hand_over(done: concurrent.futures.Future[T]) -> None:  # runs in any thread
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(copy, done)

    future.add_done_callback(hand_over)
    return mirror
