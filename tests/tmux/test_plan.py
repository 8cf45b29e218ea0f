"""Restore plans: zoom, one-word programs, unindexed windows, failed programs."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from yesman_recovery.tmux import (
    PaneSnapshot,
    ProgramPolicy,
    SessionSnapshot,
    TmuxClient,
    WindowSnapshot,
    plan_restore,
    restore_session,
)
from yesman_recovery.tmux.restore import program_matches

POLICY = ProgramPolicy.from_names(frozenset({"cat", "false"}))


def _session(tmp_path: Path, program: tuple[str, ...]) -> SessionSnapshot:
    cwd = str(tmp_path)
    zoomed = WindowSnapshot(
        None, "zoomed", (PaneSnapshot(0, cwd), PaneSnapshot(1, cwd, active=True, argv=program)),
        zoomed=True,
    )  # fmt: skip
    plain = WindowSnapshot(None, "", (PaneSnapshot(0, cwd, active=True),), automatic_rename=True,
                           active=True)  # fmt: skip
    return SessionSnapshot("plan", (zoomed, plain), width=100, height=30)


def test_started_programs_are_matched_by_their_argv() -> None:
    assert program_matches(["cat", "-v"], ["cat", "-v"])
    assert program_matches(["node", "/x/claude", "--resume", "1"], ["claude", "--resume", "1"])
    assert not program_matches(["vim"], ["cat"])
    assert not program_matches(None, ["cat"])


def test_empty_sessions_cannot_be_planned() -> None:
    with pytest.raises(ValueError, match="empty snapshot"):
        plan_restore(SessionSnapshot("x", ()), POLICY)


@pytest.mark.tmux
def test_zoom_unindexed_windows_and_one_word_programs_restore(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    result = restore_session(tmux_client, _session(tmp_path, ("cat",)), POLICY)
    try:
        assert result.ok, result.differences
        assert result.session is not None
        zoomed, plain = result.session.windows
        assert zoomed.zoomed
        assert plain.active
        assert zoomed.panes[1].argv == ("cat",)
    finally:
        for pane in result.session.panes() if result.session else []:
            if pane.pid:
                os.kill(pane.pid, signal.SIGKILL)


@pytest.mark.tmux
def test_a_program_that_never_runs_makes_the_restore_fail(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    missing = ("false-but-not-on-path", "x")  # the shell says "not found" and exits 127
    policy = ProgramPolicy.from_names(frozenset({missing[0]}))
    result = restore_session(tmux_client, _session(tmp_path, missing), policy, settle=1.0)
    assert not result.ok
    assert any("instead of" in d for d in result.differences), result.differences
