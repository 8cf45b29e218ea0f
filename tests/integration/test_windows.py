"""Windows of a declared session end to end: killed ones come back in place, renamed ones stay."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from yesman_recovery.config import SessionConfig
from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.records import SessionSnapshot
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import AppFactory, checkpointed, wait_until

pytestmark = pytest.mark.tmux


def _session(client: TmuxClient) -> SessionSnapshot | None:
    try:
        return take_snapshot(client).session("proj")
    except TmuxError:
        return None


def _windows(client: TmuxClient) -> list[tuple[int | None, str]]:
    session = _session(client)
    return [(w.index, w.name) for w in session.windows] if session else []


def _successes(app: object, kind: str) -> float:
    registry = app.metrics.registry  # type: ignore[attr-defined]
    labels = {"kind": kind, "outcome": "success"}
    return registry.get_sample_value("yesman_recovery_recoveries_total", labels) or 0.0


def test_a_killed_window_comes_back_in_place_and_a_renamed_one_is_not_duplicated(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    spec = tmp_path / "proj.yaml"
    spec.write_text(
        f"session_name: proj\nstart_directory: {tmp_path}\nwindows:\n"
        "  - window_name: agent\n    panes:\n      - sleep 1001\n"
        "  - window_name: server\n    panes:\n      - sleep 1002\n      - null\n"
        "  - window_name: shell\n    panes: [null]\n"
    )
    app = make_app(sessions=(SessionConfig(name="proj", spec=spec),))
    wait_until(lambda: checkpointed(app, "proj"))
    assert _windows(tmux_client) == [(0, "agent"), (1, "server"), (2, "shell")]

    tmux_client.run("kill-window", "-t", "=proj:server")
    wait_until(lambda: _windows(tmux_client) == [(0, "agent"), (1, "server"), (2, "shell")])
    wait_until(lambda: _successes(app, "corrupted") == 1.0)

    # Its program is the daemon's: killed, it is brought back.
    def server_program() -> int | None:
        session = _session(tmux_client)
        window = session and next((w for w in session.windows if w.name == "server"), None)
        pane = window.panes[0] if window else None
        running = pane and pane.argv == ("sleep", "1002") and pane.command == ("sleep", "1002")
        return pane.program_pid if running and pane else None

    old = wait_until(server_program)
    wait_until(lambda: checkpointed(app, "proj"))
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: (pid := server_program()) and pid != old)
    wait_until(lambda: _successes(app, "disconnected") == 1.0)

    tmux_client.run("rename-window", "-t", "=proj:shell", "shell2")
    deadline = time.monotonic() + 1.5  # several polls: no second `shell` is added
    while time.monotonic() < deadline:
        assert _windows(tmux_client) == [(0, "agent"), (1, "server"), (2, "shell2")]
        time.sleep(0.05)
    assert _successes(app, "corrupted") == 1.0
