"""The daemon's health subtree on a real tmux server: a frozen server is handed over."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.health.conftest import audit_actions, view, wait_for
from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import load_config
from yesman_recovery.tmux.client import TmuxClient

pytestmark = pytest.mark.tmux


def test_a_stopped_tmux_server_fails_its_check_and_session_recovery_brings_it_back(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    tmux_client.run("new-session", "-d", "-s", "agent")
    pid = tmux_client.server_pid()
    assert pid is not None
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[metrics]
enabled = false

[storage]
path = "{tmp_path / "state"}"

[tmux]
socket_name = "{tmux_client.socket_name}"
command_timeout = "500ms"
poll_interval = "60s"

[[health_checks]]
name = "tmux"
kind = "tmux_server"
interval = "500ms"
timeout = "300ms"
failure_threshold = 1
"""
    )
    app = RecoveryApp(load_config(config))
    app.start()
    try:
        store = app.store
        assert store is not None
        wait_for(lambda: view(app.health, "tmux")["status"] == "healthy", what="healthy")
        os.kill(pid, signal.SIGSTOP)
        # The check fails at its timeout and hands over; session recovery (the watcher, polling
        # only every 60 s on its own) looks at once, finds the server stopped and continues it.
        wait_for(lambda: ("heal", "handed_over") in audit_actions(store, "tmux"),
                 what="handed over")  # fmt: skip
        wait_for(lambda: view(app.health, "tmux")["status"] == "healthy", 10, what="healthy")
        actions = [e.action for e in store.audit.query(kind="recovery", subject="tmux-server")]
        assert "sigcont" in actions
    finally:
        os.kill(pid, signal.SIGCONT)
        app.stop()
