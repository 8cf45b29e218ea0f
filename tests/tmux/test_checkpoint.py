"""The session checkpoint format: what the daemon and ``sessions save`` write, read back."""

from __future__ import annotations

import pytest

from yesman_recovery.tmux.checkpoint import SessionCheckpoint, SessionMode
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot

WORK = SessionSnapshot(
    "work", (WindowSnapshot(0, "main", (PaneSnapshot(0, cwd="/src", argv=("claude",)),)),)
)


def test_state_and_metadata_round_trip() -> None:
    checkpoint = SessionCheckpoint(WORK, 4242)
    state = checkpoint.state()
    assert state == {"session": WORK.to_dict(), "server_pid": 4242}
    assert checkpoint.metadata(SessionMode.ADOPTED) == {"server_pid": 4242, "mode": "adopted"}
    assert SessionCheckpoint.from_state(state) == checkpoint


def test_a_state_without_a_server_pid_reads_as_none() -> None:
    assert SessionCheckpoint.from_state({"session": WORK.to_dict()}).server_pid is None
    read = SessionCheckpoint.from_state({"session": WORK.to_dict(), "server_pid": "x"})
    assert read.server_pid is None


def test_a_state_that_is_not_a_session_checkpoint_is_refused() -> None:
    with pytest.raises(KeyError):
        SessionCheckpoint.from_state({"sessions": ["a"]})  # the adopted list's format
    with pytest.raises(ValueError, match="windows"):
        SessionCheckpoint.from_state({"session": {"name": "x"}})
