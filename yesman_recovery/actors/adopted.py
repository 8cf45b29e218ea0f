"""The adopted sessions: which undeclared sessions are watched, kept in the store.

Sessions matching ``[tmux] adopt`` are watched when first seen; their names are checkpointed
under :data:`ADOPTED_SCOPE` so that after a reboot or a crash of the daemon they are restored
even though the server that ran them is gone. A session released by the user (closed while the
server kept running) is forgotten. Not an actor: the tmux watcher owns one.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Collection, Iterable

from yesman_recovery.errors import StoreError
from yesman_recovery.storage import Store

logger = logging.getLogger(__name__)

ADOPTED_SCOPE = "yesman-recovery:adopted"
"""Checkpoint scope listing adopted sessions (``:`` cannot occur in a tmux session name)."""


def adopts(name: str, patterns: Iterable[str], declared: Collection[str]) -> bool:
    """True iff the undeclared session ``name`` matches one of the ``adopt`` patterns."""
    return name not in declared and any(fnmatch.fnmatchcase(name, p) for p in patterns)


class AdoptedSessions:
    """The adopted session names, loaded from and saved to ``store``.

    ``keep(name)`` says whether a stored name is still adopted under today's settings (a pattern
    removed from ``adopt`` lets its sessions go).
    """

    def __init__(self, store: Store, keep: Callable[[str], bool]) -> None:
        self._store = store
        self._keep = keep
        self.names: set[str] = set()

    def load(self) -> None:
        """Read the stored list; an unreadable one is logged and starts empty."""
        try:
            latest = self._store.checkpoints.latest_good(ADOPTED_SCOPE)
        except StoreError as exc:
            logger.error("cannot read the list of adopted sessions: %s", exc)
            self.names = set()
            return
        if latest is None:
            self.names = set()
            return
        names = latest.state.get("sessions", []) if isinstance(latest.state, dict) else []
        self.names = {n for n in names if isinstance(n, str) and self._keep(n)}

    def replace(self, names: set[str]) -> None:
        """Adopt exactly ``names``; saved only when the list changed."""
        if names != self.names:
            self.names = set(names)
            self.save()

    def forget(self, names: Iterable[str]) -> None:
        """Let ``names`` go (released by the user); saved when any was given."""
        gone = list(names)
        for name in gone:
            self.names.discard(name)
        if gone:
            self.save()

    def save(self) -> None:
        """Write the list (a failed write is logged: the next change writes it again)."""
        try:
            self._store.checkpoints.create(ADOPTED_SCOPE, {"sessions": sorted(self.names)})
        except (StoreError, ValueError) as exc:
            logger.error("cannot save the list of adopted sessions: %s", exc)
