"""Audit events a failed write refused, kept in memory until the store takes writes again.

A full disk refuses every write, and a recovery that runs meanwhile (the tmux server killed
while the disk is full) must still end up in the audit trail. A daemon's
:class:`~yesman_recovery.storage.audit.AuditTrail` (``keep_refused``) therefore keeps each event
it could not write here, with its own time and a key chosen now, and writes the whole backlog
ahead of the next audit write that succeeds (or at ``flush()``, which the daemon's maintenance
actor calls every second while something is held). What is kept:

- a refused event (``append``/``begin``): its body, and whether it is open (begun, not
  completed);
- a refused completion (``complete``) of an event already written: its new fields, applied to
  the stored event when the backlog is written; a completion of an event still held is folded
  into it in memory.

The backlog is memory only: a process killed before space returns loses it (a daemon that
starts then still closes its own stored open records). It holds at most ``limit`` entries; past
that the oldest is dropped and counted (``dropped``), with an error in the log.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

HELD_SEQ = 1 << 31
"""Held events take sequence numbers from here: a write never picks one this high by itself
(it counts up from 0 per nanosecond), so a held key cannot meet a written one."""


@dataclass
class Held:
    """One refused write: an event (``body`` set) or a completion of a stored one (not set)."""

    key: bytes
    body: dict[str, Any] | None = None
    open: bool = False
    completion: dict[str, Any] = field(default_factory=dict)


class Backlog:
    """Refused audit writes in the order they were made; any thread."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.dropped = 0  # entries dropped because the backlog was full
        self._lock = threading.Lock()
        self._held: dict[bytes, Held] = {}  # guarded by _lock; insertion order = write order
        self._seq = 0  # guarded by _lock

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def next_seq(self) -> int:
        """A sequence number for the key of a held event."""
        with self._lock:
            self._seq = (self._seq + 1) % HELD_SEQ
            return HELD_SEQ + self._seq

    def hold_event(self, key: bytes, body: dict[str, Any], *, open: bool) -> None:
        """Keep a refused event."""
        self._add(Held(key, dict(body), open))

    def hold_completion(self, key: bytes, completion: dict[str, Any]) -> None:
        """Keep a refused completion; folded into the event if that is held too."""
        self._add(Held(key, completion=dict(completion)))

    def take(self) -> list[Held]:
        """Everything held, oldest first, now the caller's to write (or :meth:`give_back`)."""
        with self._lock:
            taken = list(self._held.values())
            self._held.clear()
            return taken

    def give_back(self, taken: list[Held]) -> None:
        """Return what :meth:`take` gave when its write failed too (ahead of newer entries)."""
        with self._lock:
            newer, self._held = self._held, {held.key: held for held in taken}
            for held in newer.values():
                self._merge(held)
            self._trim()

    def _add(self, held: Held) -> None:
        with self._lock:
            self._merge(held)
            self._trim()

    def _merge(self, held: Held) -> None:
        """Add ``held``; a completion of a key already held is folded into it."""
        existing = self._held.get(held.key)
        if existing is None or held.body is not None:
            self._held[held.key] = held
        elif existing.body is not None:
            existing.body.update(held.completion)
            existing.open = False
        else:
            existing.completion.update(held.completion)

    def _trim(self) -> None:
        while len(self._held) > self.limit:
            oldest = next(iter(self._held))
            del self._held[oldest]
            self.dropped += 1
            logger.error(
                "audit backlog full (%d refused writes held): the oldest was dropped (%d so far)",
                self.limit,
                self.dropped,
            )
