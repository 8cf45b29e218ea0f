"""Scrollback on real tmux: captured as the pane shows it, replayed into the restored pane."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from yesman_recovery.tmux import (
    PaneSnapshot,
    ProgramPolicy,
    SessionSnapshot,
    TmuxClient,
    WindowSnapshot,
    restore_session,
    take_snapshot,
)
from yesman_recovery.tmux.plan import plan_restore

pytestmark = pytest.mark.tmux
POLICY = ProgramPolicy.from_names(frozenset({"sleep"}))
TEXT = "100%8 done %H:%M #{pane_id} #[fg=red] café ✓ 日本"


def _until(check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(0.05)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")
    return str(path)


def test_capture_keeps_percent_format_and_non_ascii_in_every_pane(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    # Ten panes: ids %0…%9, so a pane id such as %8 (an strftime sequence) is among them.
    shown = _write(tmp_path, "shown.txt", TEXT)
    tmux_client.run("new-session", "-d", "-s", "hist", "-x", "200", "-y", "50")
    for _ in range(9):
        tmux_client.run_chain(
            [("split-window", "-t", "=hist:"), ("select-layout", "-t", "=hist:", "tiled")]
        )
    snap = take_snapshot(tmux_client)
    session = snap.session("hist")
    assert session is not None
    for pane in session.panes():
        tmux_client.run("send-keys", "-t", pane.pane_id, "-l", f"cat '{shown}'\n")

    def all_captured() -> object:
        s = take_snapshot(tmux_client, scrollback={"hist": 100}).session("hist")
        assert s is not None
        return all(TEXT in (p.scrollback or "") for p in s.panes()) and s

    captured = _until(all_captured)
    assert captured, "every pane's text comes back as the pane shows it"
    assert "%8" in {p.pane_id for p in captured.panes()}  # type: ignore[attr-defined]


def test_replayed_scrollback_is_shown_before_the_shell_and_never_run(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    lines = [f"line {i} {TEXT}" for i in range(30)] + [f"$(touch {canary})", f"`touch {canary}`"]
    saved_file = _write(tmp_path, "saved.txt", "\n".join(lines))
    tmux_client.run("new-session", "-d", "-s", "keep", "-x", "120", "-y", "40")
    tmux_client.run("send-keys", "-t", "=keep:", "-l", f"cat '{saved_file}'\n")

    def with_text() -> object:
        s = take_snapshot(tmux_client, scrollback={"keep": 2000}).session("keep")
        return s if s and "line 29" in (s.panes()[0].scrollback or "") else None

    saved = _until(with_text)
    assert saved
    tmux_client.kill_server()

    result = restore_session(tmux_client, saved, POLICY)  # type: ignore[arg-type]
    assert result.ok, result.differences

    def replayed() -> object:
        s = take_snapshot(tmux_client, scrollback={"keep": 2000}).session("keep")
        text = s.panes()[0].scrollback if s else ""
        return text if text and "line 29" in text and "line 0 " in text else None

    text = _until(replayed)
    assert text, "the saved lines are in the restored pane"
    assert TEXT in str(text)
    assert not canary.exists(), "saved text is shown, never run"

    # Then the pane is at a working login shell.
    def at_shell() -> object:
        s = take_snapshot(tmux_client).session("keep")
        argv = s.panes()[0].argv if s else None
        return argv and argv[0].endswith("sh") and "-c" not in argv

    assert _until(at_shell)


def test_a_plan_replays_only_panes_with_saved_text(tmp_path: Path) -> None:
    cwd = str(tmp_path)
    window = WindowSnapshot(
        0, "w", (PaneSnapshot(0, cwd, scrollback="hello\n"), PaneSnapshot(1, cwd, active=True))
    )
    session = SessionSnapshot("plan", (window,), width=100, height=30)
    plan = plan_restore(session, POLICY, replay_dir=str(tmp_path))
    assert plan.replays == ((str(tmp_path / "0.0"), "hello\n"),)
    assert plan_restore(session, POLICY).replays == ()
