"""The checkpoint format of one tmux session, shared by the daemon and ``sessions save/restore``.

A session's checkpoints are stored under scope = its (stored) name, with

- state ``{"session": SessionSnapshot.to_dict(), "server_pid": PID}``: the server pid is part of
  the state, so the first look at a new server writes a checkpoint (its pane ids are then valid
  again for matching panes by id);
- metadata ``{"server_pid": PID, "mode": "declared" | "adopted"}``.

So a checkpoint the CLI writes is restored by the daemon and the other way round. Pure: no tmux,
no store.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yesman_recovery.tmux.records import SessionSnapshot


class SessionMode(enum.StrEnum):
    """How a session came to be watched: declared in the config, or adopted from the server."""

    DECLARED = "declared"
    ADOPTED = "adopted"


@dataclass(frozen=True)
class SessionCheckpoint:
    """One session as checkpointed, and the pid of the server it was seen on."""

    session: SessionSnapshot
    server_pid: int | None

    def state(self) -> dict[str, Any]:
        """The JSON state to store."""
        return {"session": self.session.to_dict(), "server_pid": self.server_pid}

    def metadata(self, mode: SessionMode) -> dict[str, Any]:
        """The metadata to store with the state."""
        return {"server_pid": self.server_pid, "mode": mode.value}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SessionCheckpoint:
        """Read a stored state back.

        Raises ``KeyError`` (no ``session``), ``TypeError``/``AttributeError`` (not a mapping)
        or ``ValueError`` (naming the bad key of the session).
        """
        session = SessionSnapshot.from_dict(state["session"])
        pid = state.get("server_pid")
        return cls(session, pid if isinstance(pid, int) and not isinstance(pid, bool) else None)
