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
from yesman_recovery.tmux.restore import pane_shell_command, program_matches

POLICY = ProgramPolicy(allowlist=frozenset({"cat", "false"}))


def _session(tmp_path: Path, program: tuple[str, ...]) -> SessionSnapshot:
    cwd = str(tmp_path)
    zoomed = WindowSnapshot(
        None, "zoomed", (PaneSnapshot(0, cwd), PaneSnapshot(1, cwd, active=True, argv=program)),
        zoomed=True,
    )  # fmt: skip
    plain = WindowSnapshot(None, "", (PaneSnapshot(0, cwd, active=True),), automatic_rename=True,
                           active=True)  # fmt: skip
    return SessionSnapshot("plan", (zoomed, plain), width=100, height=30)


def test_one_word_programs_run_through_exec_and_quoting() -> None:
    assert pane_shell_command(["/opt/my tool/cat"]) == ["--", "exec '/opt/my tool/cat'"]
    assert pane_shell_command(["cat", "-v"]) == ["--", "cat", "-v"]
    assert program_matches(["cat"], ["exec 'cat'"])
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
def test_a_program_that_exits_makes_the_restore_fail(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    result = restore_session(tmux_client, _session(tmp_path, ("false", "x")), POLICY, settle=1.0)
    assert not result.ok
    assert any("exited with status" in d or "instead of" in d for d in result.differences)
