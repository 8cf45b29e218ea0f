"""Programs after a crash, end to end: what comes back, what is only typed, in whose environment.

A real tmux server on an isolated socket is SIGKILLed while programs run in its panes; the
daemon (a real RecoveryApp) restores the session from its newest checkpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from yesman_recovery.app import RecoveryApp
from yesman_recovery.config import SessionConfig
from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux.checkpoint import SessionCheckpoint
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.programs import launched_program
from yesman_recovery.tmux.records import PaneSnapshot
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import AppFactory, checkpointed, session_state, wait_until

pytestmark = pytest.mark.tmux

PYTHON3 = "/usr/bin/python3"


def _crash(client: TmuxClient) -> None:
    """SIGKILL the tmux server, as the OOM killer would, and wait until it is gone."""
    server = client.server_pid()
    assert server is not None
    os.kill(server, signal.SIGKILL)
    assert wait_pid_gone(server, 5.0)


def _pane(client: TmuxClient, name: str) -> PaneSnapshot | None:
    """The first pane of session ``name``; None while it (or its server) is not there."""
    try:
        session = take_snapshot(client).session(name)
    except TmuxError:
        return None
    return session.windows[0].panes[0] if session and session.windows else None


def _checkpointed_argv(app: RecoveryApp, name: str) -> tuple[str, ...] | None:
    assert app.store is not None
    latest = app.store.checkpoints.latest_good(name)
    if latest is None:
        return None
    return SessionCheckpoint.from_state(latest.state).session.windows[0].panes[0].argv


def _sample(app: RecoveryApp, metric: str, labels: dict[str, str]) -> float:
    return app.metrics.registry.get_sample_value(metric, labels) or 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_one_shot_job_running_at_the_crash_is_typed_at_the_prompt_not_run(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    job = tmp_path / "deploy.sh"
    job.write_text(f"echo run >> '{runs}'\nsleep 6\n")  # a `make deploy`: takes seconds
    tmux_client.run_chain([("new-session", "-d", "-s", "ship", "-c", str(tmp_path)),
                           ("send-keys", "-t", "=ship:", "-l", f"sh {job}\n")])  # fmt: skip
    app = make_app()
    wait_until(lambda: (_checkpointed_argv(app, "ship") or ())[-1:] == (str(job),))
    assert runs.read_text() == "run\n"

    _crash(tmux_client)

    def typed() -> str | None:
        if _pane(tmux_client, "ship") is None:
            return None
        screen = tmux_client.run("capture-pane", "-p", "-t", "=ship:")
        return screen if f"sh {job}" in screen else None

    screen = wait_until(typed)
    assert pane_is_idle_shell(tmux_client, "ship")
    deadline = time.monotonic() + 1.5  # several polls: nothing runs it behind the user's back
    while time.monotonic() < deadline:
        assert runs.read_text() == "run\n"
        time.sleep(0.05)
    assert f"sh {job}" in screen
    assert session_state(app, "ship")["state"] == "healthy"  # type: ignore[index]
    # One key (Enter) re-runs it: the line is really at the prompt.
    tmux_client.run("send-keys", "-t", "=ship:", "Enter")
    wait_until(lambda: runs.read_text() == "run\nrun\n")


def pane_is_idle_shell(client: TmuxClient, name: str) -> bool:
    pane = _pane(client, name)
    return bool(pane and pane.argv and os.path.basename(pane.argv[0]).lstrip("-") == "sh")


def _http_spec(tmp_path: Path, port: int) -> Path:
    spec = tmp_path / "web.yaml"
    spec.write_text(
        f"session_name: web\nstart_directory: {tmp_path}\nwindows:\n"
        f"  - window_name: server\n    panes:\n"
        f"      - {PYTHON3} -m http.server {port} --bind 127.0.0.1\n"
    )
    return spec


def _bound(port: int) -> socket.socket | None:
    """A socket listening on ``port``, once the port is free; None before."""
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        taken.bind(("127.0.0.1", port))
    except OSError:
        taken.close()
        return None
    taken.listen()
    return taken


def _serves(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def test_a_declared_python_module_is_restarted_by_name_after_a_crash(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    port = _free_port()
    app = make_app(sessions=(SessionConfig(name="web", spec=_http_spec(tmp_path, port)),))
    wait_until(lambda: checkpointed(app, "web") and _serves(port))
    assert _sample(app, "yesman_recovery_sessions_created_total", {"outcome": "success"}) == 1
    assert _sample(app, "yesman_recovery_recoveries_total",
                   {"kind": "crashed", "outcome": "success"}) == 0  # fmt: skip

    _crash(tmux_client)

    wait_until(lambda: _serves(port), timeout=15)
    pane = _pane(tmux_client, "web")
    assert pane is not None
    assert pane.argv is not None
    assert pane.argv[1:3] == ("-m", "http.server")
    wait_until(lambda: _sample(app, "yesman_recovery_recoveries_total",
                               {"kind": "crashed", "outcome": "success"}) == 1)  # fmt: skip


def test_a_restore_that_leaves_a_declared_program_down_is_not_ok(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    port = _free_port()
    sessions = (SessionConfig(name="web", spec=_http_spec(tmp_path, port)),)
    app = make_app(sessions=sessions)
    wait_until(lambda: checkpointed(app, "web") and _serves(port))
    app.stop()
    _crash(tmux_client)
    with wait_until(lambda: _bound(port)):  # another program holds the port now
        again = make_app(sessions=sessions)
        assert again.store is not None
        store = again.store

        def restore_failed() -> object:
            return next((e for e in store.audit.query(subject="web")
                         if e.action == "restore" and e.outcome == "failed"), None)  # fmt: skip

        event = wait_until(restore_failed, timeout=15)
        assert "http.server" in event.detail
        assert _sample(again, "yesman_recovery_recoveries_total",
                       {"kind": "crashed", "outcome": "failed"}) == 1  # fmt: skip
        assert session_state(again, "web")["state"] != "healthy"  # type: ignore[index]


def test_a_restored_program_gets_the_users_rc_and_quitting_it_leaves_a_shell(
    tmux_client: TmuxClient,
    make_app: AppFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The user's own login shell: HOME with its own .profile that puts ~/bin on PATH and exports
    # a secret; only this test's servers (the first one and the one the daemon starts) see it.
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    (home / ".profile").write_text(
        'PATH="$HOME/bin:$PATH"; export PATH\nSECRET_TOKEN=from-the-rc; export SECRET_TOKEN\n'
    )
    agent = home / "bin" / "myagent"
    agent.write_text(
        '#!/bin/sh\necho "$SECRET_TOKEN" > "$HOME/seen.$$"\nwhile :; do sleep 1; done\n'
    )
    agent.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SHELL", "/bin/sh")
    tmux_client.run_chain([("new-session", "-d", "-s", "rc", "-c", str(home)),
                           ("send-keys", "-t", "=rc:", "-l", "myagent\n")])  # fmt: skip

    def agent_pid() -> int | None:
        pane = _pane(tmux_client, "rc")
        running = (
            pane
            and pane.argv
            and pane.argv[-1].endswith("/myagent")
            and launched_program(pane.argv) is None  # the launcher, before it forked the agent
            and not pane.stopped
        )
        return pane.program_pid if running and pane else None

    first = wait_until(agent_pid)
    app = make_app(restart=(("myagent", "transient"),))
    wait_until(lambda: (_checkpointed_argv(app, "rc") or ())[-1:] == (str(agent),))

    _crash(tmux_client)

    second = wait_until(lambda: (pid := agent_pid()) and pid != first and pid, timeout=15)
    seen = home / f"seen.{second}"
    wait_until(seen.exists)
    assert seen.read_text() == "from-the-rc\n"  # PATH found it, the secret came with it

    tmux_client.run("send-keys", "-t", "=rc:", "C-c")  # the user quits it
    wait_until(lambda: pane_is_idle_shell(tmux_client, "rc"))
    tmux_client.run("send-keys", "-t", "=rc:", "-l", 'echo "$SECRET_TOKEN" > "$HOME/after"\n')
    wait_until((home / "after").exists)
    assert (home / "after").read_text() == "from-the-rc\n"
    deadline = time.monotonic() + 1.5  # the user's own Ctrl-C is never undone
    while time.monotonic() < deadline:
        assert agent_pid() is None
        time.sleep(0.05)
