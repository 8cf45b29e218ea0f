"""The pure decisions of a supervisor: whether to restart, which children, and when to give up.

These are plain functions and one small class with no threads and no actors, so they are tested
exhaustively (including a stateful property test against a simple model). The
:class:`~yesman_recovery.supervisors.supervisor.Supervisor` actor only feeds them facts.

The OTP pipeline they implement, for one child exit:

1. :func:`should_restart` — the child's restart type and its exit reason decide if anything
   happens at all (``temporary`` never, ``transient`` only after an abnormal exit).
2. :meth:`IntensityWindow.record` — every restart, and every failed restart attempt, is a
   timestamp in a sliding window over the monotonic clock; more than ``max_restarts`` within
   ``max_seconds`` means the supervisor gives up and escalates to its parent.
3. :func:`affected_children` — the strategy says which children take part: the one that died
   (``one_for_one``), all (``one_for_all``) or it and those started after it (``rest_for_one``).
   The others in that group are stopped in reverse start order, then all start in start order.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from yesman_recovery.supervisors.spec import Restart, Strategy


class ExitKind(enum.StrEnum):
    """How an actor's life ended."""

    NORMAL = "normal"
    """It stopped itself (or something other than its supervisor stopped it) without error."""
    SHUTDOWN = "shutdown"
    """Its supervisor asked it to stop and it did."""
    CRASHED = "crashed"
    """An exception escaped a handler of a ``tell``, ``on_stop``, or it was interrupted."""
    START_FAILED = "start_failed"
    """``__init__`` or ``on_start`` raised, or ``on_start`` did not finish within its timeout."""


@dataclass(frozen=True)
class ExitReason:
    """Why an actor exited: its :class:`ExitKind` and, when abnormal, the exception."""

    kind: ExitKind
    error: BaseException | None = field(default=None, compare=False)

    @property
    def abnormal(self) -> bool:
        """True iff the exit was a crash or a failed start (what ``transient`` restarts on)."""
        return self.kind in (ExitKind.CRASHED, ExitKind.START_FAILED)

    def __str__(self) -> str:
        if self.error is None:
            return self.kind.value
        return f"{self.kind.value}: {self.error!r}"


NORMAL = ExitReason(ExitKind.NORMAL)
SHUTDOWN = ExitReason(ExitKind.SHUTDOWN)


def should_restart(restart: Restart, reason: ExitReason) -> bool:
    """Whether a child with restart type ``restart`` is restarted after exiting for ``reason``."""
    if restart is Restart.PERMANENT:
        return True
    if restart is Restart.TRANSIENT:
        return reason.abnormal
    return False


def affected_children(strategy: Strategy, order: Sequence[str], failed: str) -> list[str]:
    """The ids that restart when ``failed`` dies, in start order.

    ``order`` is every child id in start order; ``failed`` must be one of them.
    """
    if failed not in order:
        raise ValueError(f"`failed` ({failed!r}) is not one of the children {list(order)!r}")
    if strategy is Strategy.ONE_FOR_ONE:
        return [failed]
    if strategy is Strategy.ONE_FOR_ALL:
        return list(order)
    return list(order[order.index(failed) :])


class IntensityWindow:
    """Restart timestamps in a sliding window: OTP's ``max_restarts`` in ``max_seconds``.

    Not thread-safe: owned by one supervisor's thread. The window is supervisor-wide (every child
    counts) and failed restart attempts count too, as in OTP.
    """

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        if not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValueError(f"`max_restarts` must be an integer >= 0, got {max_restarts!r}")
        if not (math.isfinite(max_seconds) and max_seconds > 0):
            raise ValueError(f"`max_seconds` must be a positive number, got {max_seconds!r}")
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._stamps: deque[float] = deque()  # monotonic times of restarts within the window

    def record(self, now: float) -> bool:
        """Count one restart at ``now``; True iff that exceeds the intensity (give up)."""
        self._expire(now)
        self._stamps.append(now)
        return len(self._stamps) > self.max_restarts

    def count(self, now: float) -> int:
        """Restarts within the window ending at ``now``."""
        self._expire(now)
        return len(self._stamps)

    def _expire(self, now: float) -> None:
        # A restart exactly max_seconds ago has left the window (OTP keeps stamps where
        # now - stamp < period).
        while self._stamps and now - self._stamps[0] >= self.max_seconds:
            self._stamps.popleft()
