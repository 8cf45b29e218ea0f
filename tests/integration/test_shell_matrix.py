"""The matrix: bash, zsh and fish by {program kill -9, Ctrl-C, exit 0, Ctrl-Z, server SIGKILL}.

One real daemon and one tmux server per shell, the user's HOME with the snippet in its rc (as
``eval "$(yesman-recovery shell-init bash)"`` puts it), one session per fault, programs
started by hand at the prompt. A program killed by a signal comes back (``transient``); the
user's own Ctrl-C, exit 0 and Ctrl-Z are left alone; after the server is SIGKILLed, window
names and ``#{pane_current_command}`` are those from before; no screen and no history holds
launcher text.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import kill_tmux_server
from yesman_recovery.app import RecoveryApp
from yesman_recovery.tmux.checkpoint import SessionCheckpoint
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import AppFactory, wait_until
from .shells import LAUNCHER_TEXT, SHELLS, UserShell, make_home, shell_client

pytestmark = pytest.mark.tmux
TYPED = {"kill": "sleep 300", "int": "sleep 301", "exit": "cat", "stop": "sleep 302"}


@pytest.fixture(params=SHELLS)
def user(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> UserShell:
    return make_home(tmp_path_factory.mktemp("user"), str(request.param), snippet=True)


@pytest.fixture
def tmux_client(
    user: UserShell, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TmuxClient]:
    client = shell_client(user, monkeypatch, tmp_path_factory.mktemp("tmux"))
    yield client
    kill_tmux_server(client)


def _look(client: TmuxClient) -> dict[str, str]:
    fmt = "#{session_name} #{window_name} #{pane_current_command}"
    out = client.run("list-panes", "-a", "-F", fmt)
    return {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()}


def _argv(app: RecoveryApp, name: str) -> tuple[str, ...] | None:
    assert app.store is not None
    latest = app.store.checkpoints.latest_good(name)
    if latest is None:
        return None
    return SessionCheckpoint.from_state(latest.state).session.windows[0].panes[0].argv


def _program(client: TmuxClient, name: str) -> int | None:
    """The pid of the session's ``sleep 300``, or None while it does not run."""
    session = take_snapshot(client).session(name)
    pane = session.windows[0].panes[0] if session else None
    return pane.program_pid if pane and pane.argv == ("sleep", "300") else None


def _fg_pid(client: TmuxClient, name: str) -> int | None:
    session = take_snapshot(client).session(name)
    return session.windows[0].panes[0].program_pid if session else None


def test_each_ending_in_each_shell(
    user: UserShell, tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    client = tmux_client
    for name, line in TYPED.items():
        client.run_chain([("new-session", "-d", "-s", name, "-x", "100", "-y", "20"),
                          ("send-keys", "-t", f"={name}:", "-l", line + "\n")])  # fmt: skip
    app = make_app(restart=(("cat", "transient"),))
    wait_until(lambda: all(_argv(app, n) == tuple(w.split()) for n, w in TYPED.items()), 20)

    killed = _fg_pid(client, "kill")
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    client.run("send-keys", "-t", "=int:", "C-c")
    client.run("send-keys", "-t", "=exit:", "C-d")
    client.run("send-keys", "-t", "=stop:", "C-z")
    back = wait_until(lambda: (pid := _program(client, "kill")) not in (None, killed) and pid)
    deadline = time.monotonic() + 1.5  # several polls: the user's own ends stay
    while time.monotonic() < deadline:
        shells = _look(client)
        assert [shells[n].split()[-1] for n in ("int", "exit", "stop")] == [user.name] * 3, shells
        time.sleep(0.1)
    assert _fg_pid(client, "kill") == back

    before = wait_until(lambda: (seen := _look(client))["kill"] == "sleep sleep" and seen)
    server = client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    assert wait_pid_gone(server, 5.0)
    after = wait_until(lambda: len(seen := _tried(client)) == 4 and seen == before and seen, 20)
    assert after == before
    for name in TYPED:
        screen = client.run("capture-pane", "-p", "-J", "-S", "-", "-t", f"={name}:")
        assert not [w for w in LAUNCHER_TEXT if w in screen], screen
    history = user.history_text()
    assert not [w for w in LAUNCHER_TEXT if w in history], history


def _tried(client: TmuxClient) -> dict[str, str]:
    try:
        return _look(client)
    except Exception:
        return {}
