"""Whether and what a session actor checkpoints, and what it expects: pure, no tmux, no store.

:class:`Checkpointing` holds the newest good checkpoint of one session (what the session is
expected to look like), the pid of the server whose pane ids it carries, and whether a restore
left the session unvalidated. :meth:`Checkpointing.due` says whether an observation is worth a
new checkpoint:

- never an empty session, a half-restored one, or one with a pane whose program just exited and
  tmux has not reaped yet (a bad state must never replace a good one);
- only when the session's *shape* changed (:func:`fingerprint` ignores ids, pids, titles,
  stopped/dead flags and scrollback), or the server changed, or — for a session that keeps its
  scrollback — the observation carries freshly captured history that differs from the
  checkpoint's (the watcher captures it every ``scrollback_interval``). A checkpoint written
  from an observation without history keeps the previous checkpoint's, pane by position.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from yesman_recovery.actors.diagnosis import Diagnosis, FailureKind, missing_structure
from yesman_recovery.tmux.checkpoint import SessionCheckpoint
from yesman_recovery.tmux.records import SessionSnapshot

VOLATILE = frozenset(
    {"session_id", "window_id", "pane_id", "pid", "program_pid", "stopped", "dead",
     "dead_status", "dead_signal", "title", "scrollback", "jobs"}
)  # fmt: skip
"""Fields that change without the session changing shape: not a reason to write a checkpoint."""


def strip(value: Any) -> Any:
    """``value`` (a session's ``to_dict()``) without the :data:`VOLATILE` keys, at any depth."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def fingerprint(session: SessionSnapshot, server_pid: int | None) -> Any:
    """The shape of ``session`` on server ``server_pid``: equal fingerprints, same checkpoint."""
    return (strip(session.to_dict()), server_pid)


def with_ids(expected: SessionSnapshot, actual: SessionSnapshot) -> SessionSnapshot:
    """``expected`` with the session, window and pane ids (and pids) of ``actual``, by position."""
    windows = []
    for w, aw in zip(expected.windows, actual.windows, strict=False):
        panes = (
            tuple(
                replace(p, pane_id=ap.pane_id, pid=ap.pid, program_pid=ap.program_pid)
                for p, ap in zip(w.panes, aw.panes, strict=False)
            )
            + w.panes[len(aw.panes) :]
        )
        windows.append(replace(w, window_id=aw.window_id, panes=panes))
    windows += expected.windows[len(actual.windows) :]
    return replace(expected, session_id=actual.session_id, windows=tuple(windows))


def _history(session: SessionSnapshot) -> list[list[str | None]]:
    return [[p.scrollback for p in w.panes] for w in session.windows]


def carry_scrollback(actual: SessionSnapshot, previous: SessionSnapshot) -> SessionSnapshot:
    """``actual`` with ``previous``'s history in each pane that has none, by position."""
    windows = []
    for pos, w in enumerate(actual.windows):
        old = previous.windows[pos].panes if pos < len(previous.windows) else ()
        panes = tuple(
            replace(p, scrollback=old[i].scrollback) if p.scrollback is None and i < len(old) else p
            for i, p in enumerate(w.panes)
        )
        windows.append(replace(w, panes=panes))
    return replace(actual, windows=tuple(windows))


@dataclass(frozen=True)
class Due:
    """A checkpoint to write now, with its fingerprint."""

    checkpoint: SessionCheckpoint
    fingerprint: Any


class Checkpointing:
    """The expected state of one session and the checkpoint decisions (see the module doc)."""

    def __init__(self, *, keeps_scrollback: bool = False) -> None:
        self.keeps_scrollback = keeps_scrollback
        self.expected: SessionSnapshot | None = None  # newest good checkpoint
        self.server_pid: int | None = None  # server on which `expected`'s pane ids are valid
        self.unvalidated = False  # True iff a restore ran and its result did not match
        self._fingerprint: Any = None  # shape of the last checkpoint written or read
        self._last_write = 0.0  # monotonic time of the last write

    def load(self, checkpoint: SessionCheckpoint) -> None:
        """Start from a stored checkpoint (the actor's start)."""
        self.expected = checkpoint.session
        self.server_pid = checkpoint.server_pid
        self._fingerprint = fingerprint(checkpoint.session, checkpoint.server_pid)

    def due(self, actual: SessionSnapshot, server_pid: int | None, now: float) -> Due | None:
        """The checkpoint to write for this healthy observation, or None (see the module doc)."""
        if actual.is_empty or self.unvalidated:
            return None
        if any(p.argv is None and not p.dead for p in actual.panes()):
            return None
        shape = fingerprint(actual, server_pid)
        captured = self.keeps_scrollback and any(p.scrollback is not None for p in actual.panes())
        if self.keeps_scrollback and self.expected is not None:
            if captured:
                scrollback_due = _history(actual) != _history(self.expected)
            else:
                actual, scrollback_due = carry_scrollback(actual, self.expected), False
        else:
            scrollback_due = captured
        if shape == self._fingerprint and not scrollback_due:
            return None
        return Due(SessionCheckpoint(actual, server_pid), shape)

    def written(self, due: Due, now: float) -> None:
        """``due`` is stored: it is what the session is expected to look like from now on."""
        self.expected = due.checkpoint.session
        self.server_pid = due.checkpoint.server_pid
        self._fingerprint = due.fingerprint
        self._last_write = now

    def incomplete_restore(self, actual: SessionSnapshot) -> Diagnosis | None:
        """After a restore that did not match: what ``actual`` still lacks, as ``corrupted``.

        None, and the restore counts as validated, once nothing is missing.
        """
        if not self.unvalidated or self.expected is None:
            return None
        missing = missing_structure(self.expected, actual)
        if not missing:
            self.unvalidated = False
            return None
        return Diagnosis(FailureKind.CORRUPTED, "incomplete restore: " + "; ".join(missing))

    def rebind(self, actual: SessionSnapshot) -> None:
        """After our own restore or repair: the checkpoint's panes now have ``actual``'s ids."""
        if self.expected is not None:
            self.expected = with_ids(self.expected, actual)
