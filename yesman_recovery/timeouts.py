"""``call_with_timeout``: a plain call bounded by a timeout, the one way the package does it.

Python cannot stop a thread. The call runs on a daemon thread of its own and the caller waits at
most ``timeout`` seconds for it; after a timeout the call may still be running, and its effect
may still happen (a transaction step is then treated as possibly executed). The daemon thread
never keeps the process alive. Coroutines are bounded by ``asyncio.wait_for`` instead, which can
cancel them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def call_with_timeout(
    fn: Callable[[], T],
    timeout: float,
    *,
    what: str = "the call",
    thread: str = "yesman-recovery-call",
) -> T:
    """``fn()`` run on a daemon thread named ``thread``; its result within ``timeout`` seconds.

    Raises what ``fn`` raised, or :class:`TimeoutError` ("``what`` did not finish within
    ``timeout`` s"), leaving the thread to finish alone.
    """
    # Written by the call's thread before it sets `done`, read by the caller only after.
    results: list[T] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            results.append(fn())
        except BaseException as exc:  # delivered to the caller, never lost in this thread
            errors.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=thread, daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"{what} did not finish within {timeout} s")
    if errors:
        raise errors[0]
    return results[0]
