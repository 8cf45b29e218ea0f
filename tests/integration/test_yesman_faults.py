"""One bad yesman file fails only its own session; a failing or hanging before_script is
audited and shown, and its session is still created (real app, real tmux, real shells)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import load_config
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import session_state, wait_until

pytestmark = pytest.mark.tmux


@pytest.fixture
def app(tmux_client: TmuxClient, tmp_path: Path) -> Iterator[RecoveryApp]:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / "good.yaml").write_text("windows:\n  - window_name: ok\n    panes: [null]\n")
    (sessions / "missing.yaml").write_text("template_name: nosuch\n")
    (sessions / "override.yaml").write_text("template_name: t\noverride: just text\n")
    (sessions / "latin1.yaml").write_bytes(b"session_name: caf\xe9\n")
    (sessions / "fails.yaml").write_text(
        "before_script: [echo first > ran.txt, 'echo oops >&2; exit 3', echo never >> ran.txt]\n"
        f"start_directory: {tmp_path}\nwindows: [{{window_name: w, panes: [null]}}]\n"
    )
    (sessions / "hangs.yaml").write_text(
        "before_script: sleep 613.25\nwindows: [{window_name: w, panes: [null]}]\n"
    )
    config = tmp_path / "yr.toml"
    config.write_text(
        f'[metrics]\nenabled = false\n[tmux]\nsocket_name = "{tmux_client.socket_name}"\n'
        'poll_interval = "0.2s"\nadopt = "none"\n'
        '[yesman]\nsessions_dir = "sessions"\nbefore_script_timeout = "1s"\n'
    )
    running = RecoveryApp(load_config(config), state_dir=tmp_path / "state")
    running.start()
    yield running
    running.stop()


def test_bad_files_fail_alone_and_before_scripts_never_stop_a_session(
    app: RecoveryApp, tmux_client: TmuxClient, tmp_path: Path
) -> None:
    def state_of(name: str) -> str | None:
        found = session_state(app, name)
        return None if found is None else str(found["state"])

    wait_until(lambda: all(state_of(n) == "healthy" for n in ("good", "fails", "hangs")), 20)
    for name, reason in [
        ("missing", "key `template_name` = 'nosuch': no such template"),
        ("override", "key `override` must be a mapping"),
        ("latin1", "not UTF-8 text"),
    ]:
        wait_until(lambda: state_of(name) is not None)  # noqa: B023 (called at once)
        state = session_state(app, name)
        assert state is not None
        assert state["state"] == "failed", state
        assert reason in state["detail"]
        assert str(tmp_path / "sessions" / f"{name}.yaml") in state["detail"]
    names = {s.name for s in take_snapshot(tmux_client).sessions}
    assert names == {"good", "fails", "hangs"}

    fails = session_state(app, "fails")
    assert fails is not None
    assert "before_script failed: command 2 of 3 failed" in fails["note"]
    assert "exit status 3: oops" in fails["note"]
    assert (tmp_path / "ran.txt").read_text() == "first\n"  # stopped at the failure
    hangs = session_state(app, "hangs")
    assert hangs is not None
    assert "timed out after 1 s (killed)" in hangs["note"]
    assert app.store is not None
    audited = [e for e in app.store.audit.query(kind="session") if e.action == "before_script"]
    assert {e.subject for e in audited} == {"fails", "hangs"}
    assert all(e.outcome == "failed" for e in audited)
    wait_until(lambda: not _running("sleep 613.25"), timeout=5)  # its process group is gone


def test_a_stop_ends_a_running_before_script(tmux_client: TmuxClient, tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    (sessions / "slow.yaml").write_text(
        "before_script: sleep 613.75\nwindows: [{window_name: w, panes: [null]}]\n"
    )
    config = tmp_path / "yr.toml"
    config.write_text(
        f'[metrics]\nenabled = false\n[tmux]\nsocket_name = "{tmux_client.socket_name}"\n'
        'poll_interval = "0.2s"\nadopt = "none"\n'
        '[yesman]\nsessions_dir = "sessions"\nbefore_script_timeout = "60s"\n'
    )
    app = RecoveryApp(load_config(config), state_dir=tmp_path / "state")
    app.start()
    try:
        wait_until(lambda: _running("613.75"), timeout=20)
    finally:
        started = time.monotonic()
        app.stop()
    assert time.monotonic() - started < 5  # not the script's 60 s
    wait_until(lambda: not _running("613.75"), timeout=5)


def _running(marker: str) -> bool:
    """Whether a process of this machine has ``marker`` on its command line."""
    return any(marker in _cmdline(p) for p in Path("/proc").glob("[0-9]*/cmdline"))


def _cmdline(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return ""
