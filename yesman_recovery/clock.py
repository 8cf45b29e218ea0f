"""Time, injected: a :class:`Clock` gives monotonic and wall time.

Every component that measures durations or timestamps takes a ``clock``; production code uses
:data:`SYSTEM_CLOCK`, tests use :class:`ManualClock` so windows and delays need no real time.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Source of time: ``monotonic()`` for durations, ``time()`` for wall-clock timestamps."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...


class SystemClock:
    """The real clock (``time.monotonic`` and ``time.time``)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told to; safe to read from any thread."""

    def __init__(self, start: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self._lock = threading.Lock()
        self._mono = start  # guarded by _lock; never decreases
        self._wall_offset = wall - start

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def time(self) -> float:
        with self._lock:
            return self._mono + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError(f"`seconds` must not be negative, got {seconds}")
        with self._lock:
            self._mono += seconds
