"""Restored and respawned panes in the user's own bash, zsh and fish look like the user's own.

A real tmux server per shell (its own socket, HOME and rc files): the program is the pane's
foreground process with its own argv (``#{pane_current_command}``, the window's automatic name),
the screen and the history hold nothing of a launcher, the user's own prompt hook still runs
and still sees the exit status, and how the program ended is known to the daemon.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import kill_tmux_server
from yesman_recovery.tmux import ProgramPolicy, respawn_pane, restore_session, take_snapshot
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot, WindowSnapshot
from yesman_recovery.tmux.shell_integration import integration_dir

from .conftest import wait_until
from .shells import LAUNCHER_TEXT, SHELLS, make_home, shell_client

pytestmark = pytest.mark.tmux
POLICY = ProgramPolicy.from_names(frozenset({"sleep", "tail"}))


@pytest.fixture
def servers() -> Iterator[list[TmuxClient]]:
    made: list[TmuxClient] = []
    yield made
    for client in made:
        kill_tmux_server(client)


def _panes(client: TmuxClient) -> list[PaneSnapshot]:
    session = take_snapshot(client).session("work")
    return session.panes() if session else []


def _formats(client: TmuxClient, fmt: str) -> list[str]:
    return client.run("list-panes", "-s", "-t", "=work", "-F", fmt).splitlines()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_restored_program_is_the_panes_own_job_with_a_clean_screen(
    shell: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: list[TmuxClient]
) -> None:
    user = make_home(tmp_path, shell)
    client = shell_client(user, monkeypatch, tmp_path)
    servers.append(client)
    shell_dir = integration_dir(str(user.home / ".cache" / "yr"))
    assert shell_dir is not None
    log = tmp_path / "app.log"
    log.write_text("a log line\n" * 5)
    panes = (
        PaneSnapshot(index=0, cwd=str(tmp_path), command=("sleep", "300")),
        PaneSnapshot(index=1, cwd=str(tmp_path), command=("tail", "-f", str(log)), active=True),
    )
    window = WindowSnapshot(index=0, name="", panes=panes, automatic_rename=True, active=True)
    result = restore_session(
        client, SessionSnapshot("work", (window,), 120, 30), POLICY, shell_dir=shell_dir
    )
    assert result.ok, result.differences

    assert _formats(client, "#{pane_current_command}") == ["sleep", "tail"]
    wait_until(lambda: client.run("display", "-p", "-t", "=work:", "#{window_name}") == "tail\n")
    for pane in _panes(client):
        assert pane.pid is not None
        assert pane.program_pid is not None
        assert os.getpgid(pane.program_pid) == pane.program_pid  # a job of the shell
        assert os.getppid() != pane.program_pid
    jobs_parent = {os.path.basename(os.readlink(f"/proc/{p.pid}/exe")) for p in _panes(client)}
    assert jobs_parent == {shell}  # the pane's own process is the user's shell, no wrapper

    sleeper = _panes(client)[0]
    assert sleeper.program_pid is not None
    os.kill(sleeper.program_pid, signal.SIGKILL)
    ended = wait_until(lambda: (p := _panes(client)[0]).exit_status is not None and p)
    assert ended.exit_status == 128 + signal.SIGKILL
    assert ended.shell_reports

    respawn_pane(client, ended.pane_id, ("sleep", "300"), str(tmp_path), shell_dir=shell_dir)
    wait_until(lambda: _panes(client)[0].argv == ("sleep", "300"))
    assert _formats(client, "#{pane_current_command}") == ["sleep", "tail"]

    # A dead pane (its shell killed, the pane held) gets a fresh integrated shell, then the
    # program typed at its prompt: a report of the dead shell is not taken for the new one's.
    client.run("set-option", "-p", "-t", ended.pane_id, "remain-on-exit", "on")
    running = _panes(client)[0]
    assert running.program_pid is not None
    assert ended.pid is not None
    os.killpg(running.program_pid, signal.SIGKILL)  # the job first: nothing left outside a pane
    wait_until(lambda: _panes(client)[0].exit_status is not None)
    os.kill(ended.pid, signal.SIGKILL)
    dead = wait_until(lambda: (p := _panes(client)[0]).dead and p)
    respawn_pane(client, dead.pane_id, ("sleep", "300"), str(tmp_path), dead=True,
                 shell_dir=shell_dir)  # fmt: skip
    wait_until(lambda: _panes(client)[0].argv == ("sleep", "300"))
    assert _panes(client)[0].pid != ended.pid
    assert _formats(client, "#{pane_current_command}") == ["sleep", "tail"]

    wait_until(lambda: f"{shell} 137" in user.hook_log.read_text())  # the user's hook, chained
    for pane in _panes(client):
        screen = client.run("capture-pane", "-p", "-J", "-S", "-", "-t", pane.pane_id)
        assert not [w for w in LAUNCHER_TEXT if w in screen], screen
    time.sleep(0.2)
    history = user.history_text()
    assert not [w for w in LAUNCHER_TEXT if w in history], history
    assert "sleep 300" not in history  # typed with a leading space: out of the history
