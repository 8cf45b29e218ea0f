"""Stopped programs of one session: since when each is stopped, and when SIGCONT was sent.

Pure: the session actor feeds it the panes seen stopped at each observation and asks how long
each has been stopped (for :func:`~yesman_recovery.actors.diagnosis.diagnose`), which panes ran
again after a SIGCONT (a frozen recovery that worked), and when the next grace period ends (so it
looks again then, not at the next poll).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from yesman_recovery.actors.diagnosis import PaneKey


@dataclass(frozen=True)
class Resumed:
    """A pane whose program runs again after our SIGCONT, ``after`` seconds later."""

    key: PaneKey
    after: float


class StopTracker:
    """Per pane (window index, position): first seen stopped, and SIGCONT sent (monotonic)."""

    def __init__(self) -> None:
        self._stopped_since: dict[PaneKey, float] = {}
        self._resumed: dict[PaneKey, float] = {}  # pane → time SIGCONT was sent

    def observe(self, stopped: Iterable[PaneKey], now: float) -> list[Resumed]:
        """Record which panes are stopped now; returns those that ran again after a SIGCONT."""
        current = set(stopped)
        for key in list(self._stopped_since):
            if key not in current:
                del self._stopped_since[key]
        for key in current:
            self._stopped_since.setdefault(key, now)
        resumed = []
        for key, sent in list(self._resumed.items()):
            if key not in current:
                del self._resumed[key]
                resumed.append(Resumed(key, max(0.0, now - sent)))
        return resumed

    def stopped_for(self, now: float) -> dict[PaneKey, float]:
        """Seconds each stopped pane has been seen stopped."""
        return {k: now - t for k, t in self._stopped_since.items()}

    def resumed_for(self, now: float) -> dict[PaneKey, float]:
        """Seconds since SIGCONT was sent, for each pane that got one during its current stop."""
        return {k: now - t for k, t in self._resumed.items()}

    def sigcont_sent(self, key: PaneKey, now: float) -> None:
        self._resumed[key] = now

    def respawned(self, key: PaneKey) -> None:
        """The pane's program was replaced: forget its stop."""
        self._stopped_since.pop(key, None)
        self._resumed.pop(key, None)

    def next_deadline(self, now: float, grace: float) -> float | None:
        """Seconds from ``now`` until the earliest grace period still to end, or None."""
        deadlines = [t + grace for t in (*self._stopped_since.values(), *self._resumed.values())]
        future = [d for d in deadlines if d > now]
        return min(future) - now if future else None
