"""The user's own end of the tmux server is theirs: a ``tmux kill-server`` or the server exiting
when its last session closes restores nothing (audited "ended by the user"), a crash does, and
``[tmux] restore_after_kill`` restores after a deliberate kill too."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from yesman_recovery.app import RecoveryApp
from yesman_recovery.cli import main
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone

from .conftest import AppFactory, checkpointed, session_state, wait_until

pytestmark = pytest.mark.tmux


def _sessions(client: TmuxClient) -> list[str]:
    try:
        return client.run("list-sessions", "-F", "#{session_name}").split()
    except Exception:
        return []


def _audited(app: RecoveryApp, name: str, text: str) -> bool:
    assert app.store is not None
    return any(text in e.detail for e in app.store.audit.query(subject=name))


def _start(client: TmuxClient, make_app: AppFactory, **tmux: object) -> tuple[RecoveryApp, int]:
    client.run_chain([("new-session", "-d", "-s", "work"), ("new-session", "-d", "-s", "notes")])
    app = make_app(**tmux)
    wait_until(lambda: checkpointed(app, "work") and checkpointed(app, "notes"))
    pid = client.server_pid()
    assert pid is not None
    time.sleep(0.5)  # the control client is attached
    return app, pid


def _stays_down(client: TmuxClient, seconds: float = 1.5) -> None:
    deadline = time.monotonic() + seconds  # several polls
    while time.monotonic() < deadline:
        assert _sessions(client) == []
        time.sleep(0.1)


def test_a_deliberate_kill_server_restores_nothing_and_says_so(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    app, pid = _start(tmux_client, make_app)
    tmux_client.run("kill-server")
    assert wait_pid_gone(pid, 5.0)
    wait_until(lambda: _audited(app, "work", "ended by the user"))
    _stays_down(tmux_client)
    assert _audited(app, "notes", "ended by the user")
    assert session_state(app, "work") is None  # adopted: let go

    # Offline, `sessions restore --all` leaves what the user ended alone.
    app.stop()
    config = tmp_path / "cfg.toml"
    config.write_text(f'[tmux]\nsocket_name = "{tmux_client.socket_name}"\n')
    state = ["--state-dir", str(tmp_path / "state")]
    result = CliRunner().invoke(
        main, [*state, "sessions", "restore", "--all", "--config", str(config)]
    )
    assert "work: not restored, ended by the user" in result.output, result.output
    assert _sessions(tmux_client) == []
    named = CliRunner().invoke(
        main, [*state, "sessions", "restore", "work", "--config", str(config)]
    )
    assert named.exit_code == 0, named.output  # named, it is restored
    assert _sessions(tmux_client) == ["work"]


def test_the_last_session_closing_is_the_users_end_too(
    tmux_client: TmuxClient, make_app: AppFactory
) -> None:
    app, pid = _start(tmux_client, make_app)
    for name in ("notes", "work"):
        tmux_client.run("send-keys", "-t", f"={name}:", "exit", "Enter")
    assert wait_pid_gone(pid, 5.0)
    _stays_down(tmux_client)
    assert session_state(app, "work") is None


def test_a_crash_is_restored_and_a_kill_too_when_configured(
    tmux_client: TmuxClient, make_app: AppFactory
) -> None:
    app, pid = _start(tmux_client, make_app)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: sorted(_sessions(tmux_client)) == ["notes", "work"], timeout=15)
    assert not _audited(app, "work", "ended by the user")
    app.stop()

    again = make_app(restore_after_kill=True)
    wait_until(lambda: checkpointed(again, "work"))
    server = tmux_client.server_pid()
    tmux_client.run("kill-server")
    assert server is not None
    assert wait_pid_gone(server, 5.0)
    wait_until(lambda: sorted(_sessions(tmux_client)) == ["notes", "work"], timeout=15)
