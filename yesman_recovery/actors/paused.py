"""Paused sessions: neither watched nor restored until resumed (or until their pause ends).

``yesman-recovery sessions pause NAME [--for DURATION]`` (e.g. during manual surgery on the
session) adds NAME here; ``resume NAME`` removes it. The list is kept in the store under
:data:`PAUSED_SCOPE`, so a pause outlives a restart of the daemon, and the commands can write it
without a daemon. Each session actor asks :meth:`PausedSessions.get` on every observation; the
list is re-read from the store at most every :data:`REFRESH` seconds, so a pause written by a
command without the daemon's help is honoured soon after. Thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yesman_recovery.errors import StoreError
from yesman_recovery.storage import Store

logger = logging.getLogger(__name__)

PAUSED_SCOPE = "yesman-recovery:paused"
"""Checkpoint scope holding the paused sessions (``:`` cannot occur in a tmux session name)."""
REFRESH = 1.0
"""Seconds between re-reads of the stored list by a running daemon."""


@dataclass(frozen=True)
class Pause:
    """One paused session: since when (wall seconds), until when (None: until resumed)."""

    name: str
    since: float
    until: float | None = None

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def describe(self) -> str:
        """The ``detail`` shown by ``sessions list``."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        if self.until is None:
            return f"paused since {since}; `yesman-recovery sessions resume {self.name}`"
        until = time.strftime("%H:%M:%S", time.localtime(self.until))
        return f"paused since {since} until {until}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "since": self.since, "until": self.until}


class PausedSessions:
    """The paused sessions of one store (see the module docstring)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._pauses: dict[str, Pause] = {}
        self._read_at = float("-inf")  # monotonic time of the last read from the store

    def get(self, name: str) -> Pause | None:
        """The active pause of ``name``, or None (an expired pause counts as resumed)."""
        with self._lock:
            if time.monotonic() - self._read_at >= REFRESH:
                self._load()
            pause = self._pauses.get(name)
        return pause if pause is not None and pause.active(self._clock()) else None

    def all(self) -> list[Pause]:
        """Every active pause, by name."""
        with self._lock:
            self._load()
            now = self._clock()
            return [p for _, p in sorted(self._pauses.items()) if p.active(now)]

    def pause(self, name: str, seconds: float | None = None) -> Pause:
        """Pause ``name`` from now, for ``seconds`` (None: until resumed); stored at once."""
        now = self._clock()
        pause = Pause(name, now, None if seconds is None else now + seconds)
        with self._lock:
            self._load()
            self._pauses[name] = pause
            self._save()
        return pause

    def resume(self, name: str) -> Pause | None:
        """Resume ``name``; returns the pause it ended (None if it was not paused)."""
        with self._lock:
            self._load()
            pause = self._pauses.pop(name, None)
            if pause is not None:
                self._save()
        return pause if pause is not None and pause.active(self._clock()) else None

    def _load(self) -> None:
        self._read_at = time.monotonic()
        try:
            latest = self._store.checkpoints.latest_good(PAUSED_SCOPE)
        except StoreError as exc:
            logger.error("cannot read the list of paused sessions: %s", exc)
            return
        entries = (
            latest.state.get("sessions", []) if latest and isinstance(latest.state, dict) else []
        )
        pauses: dict[str, Pause] = {}
        for entry in entries:
            try:
                until = entry.get("until")
                pauses[str(entry["name"])] = Pause(
                    str(entry["name"]),
                    float(entry["since"]),
                    None if until is None else float(until),
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                continue  # a damaged entry: that session is not paused
        self._pauses = pauses

    def _save(self) -> None:
        now = self._clock()
        kept = [p.as_dict() for _, p in sorted(self._pauses.items()) if p.active(now)]
        self._store.checkpoints.create(PAUSED_SCOPE, {"sessions": kept})
