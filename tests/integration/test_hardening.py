"""Bad input against the whole daemon on a real tmux server: nothing takes down the server, the
daemon or another session's recovery; the audit trail survives a kill of the daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.config import SessionConfig
from yesman_recovery.storage import open_store
from yesman_recovery.storage.audit import IN_PROGRESS
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import AppFactory, checkpointed, session_state, wait_until

pytestmark = pytest.mark.tmux

BAD_SPECS = {
    "inf-index": "session_name: bad\nwindows: [{window_index: .inf, panes: [null]}]\n",
    "dict-command": "session_name: bad\nwindows: [{panes: [{shell_command: {a: b}}]}]\n",
    "deep": "session_name: bad\nwindows: " + "[" * 5000 + "]" * 5000 + "\n",
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_a_spec_that_raised_fails_only_its_own_session(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path, name: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_SPECS[name])
    tmux_client.run("new-session", "-d", "-s", "other")
    app = make_app(sessions=(SessionConfig(name="bad", spec=spec),))
    wait_until(lambda: checkpointed(app, "other"))
    state = session_state(app, "bad")
    assert state is not None
    assert state["state"] == "failed"
    assert str(spec) in state["detail"]
    assert app.root.is_alive()


def test_a_bad_spec_layout_does_not_kill_the_server(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    spec = tmp_path / "tiled.yaml"
    spec.write_text("session_name: agent\nwindows:\n  - layout: Tiled\n    panes: [null, null]\n")
    tmux_client.run("new-session", "-d", "-s", "other")
    pid = tmux_client.server_pid()
    app = make_app(sessions=(SessionConfig(name="agent", spec=spec),))
    wait_until(lambda: checkpointed(app, "agent") and checkpointed(app, "other"))
    assert tmux_client.server_pid() == pid, "the tmux server was restarted"
    agent = take_snapshot(tmux_client).session("agent")
    assert agent is not None
    assert len(agent.panes()) == 2


def test_a_recovery_is_in_the_audit_trail_while_it_runs(
    tmux_client: TmuxClient, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmux_client.run("new-session", "-d", "-s", "work")
    app = make_app()
    wait_until(lambda: checkpointed(app, "work"))
    assert app.store is not None
    store = app.store
    seen_while_restoring: list[list[Any]] = []
    real_run_chain = TmuxClient.run_chain

    def run_chain(self: TmuxClient, commands: Any) -> str:
        if commands and commands[0][0] == "new-session":
            seen_while_restoring.append(store.audit.open_events())
        return real_run_chain(self, commands)

    monkeypatch.setattr(TmuxClient, "run_chain", run_chain)
    old = tmux_client.server_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait_pid_gone(old, 5.0)
    wait_until(lambda: seen_while_restoring)
    events = seen_while_restoring[0]
    assert [(e.kind, e.subject, e.action, e.outcome) for e in events] == [
        ("recovery", "work", "restore", IN_PROGRESS)
    ]

    def completed() -> Any:
        done = [e for e in store.audit.query(kind="recovery") if e.id == events[0].id]
        return done and done[0].outcome != IN_PROGRESS and done[0]

    event = wait_until(completed)
    assert event.outcome == "success"
    assert event.duration is not None
    assert store.audit.open_events() == []


def _daemon(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YESMAN_RECOVERY_")}
    return subprocess.Popen(
        [sys.executable, "-m", "yesman_recovery.cli", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def test_a_daemon_killed_mid_recovery_leaves_a_record_the_next_one_closes(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    tmux_client.run("new-session", "-d", "-s", "work")
    state = tmp_path / "state"
    config = tmp_path / "yr.toml"
    config.write_text(
        f'[metrics]\nenabled = false\n[storage]\npath = "{state}"\n'
        f'[tmux]\nsocket_name = "{tmux_client.socket_name}"\npoll_interval = "100ms"\n'
    )
    daemon = _daemon(config)
    try:
        with open_store(state) as store:
            wait_until(lambda: store.checkpoints.latest_good("work"), timeout=20)
            caught = None
            for _ in range(5):  # the restore may finish before the kill lands: try again
                old = tmux_client.server_pid()
                assert old is not None
                os.kill(old, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while caught is None and time.monotonic() < deadline:
                    caught = next(iter(store.audit.open_events()), None)
                    if caught is not None:
                        daemon.send_signal(signal.SIGKILL)
                if caught is not None:
                    break

                def restarted(old: int = old) -> bool:
                    return tmux_client.server_pid() not in (None, old)

                wait_until(restarted)
            assert caught is not None, "never saw a recovery in progress"
            daemon.wait(10)
            assert [e.id for e in store.audit.open_events()] == [caught.id]

            daemon = _daemon(config)
            wait_until(lambda: not store.audit.open_events(), timeout=20)
            closed = next(e for e in store.audit.query(kind="recovery") if e.id == caught.id)
            assert closed.outcome == "interrupted"
            assert "the daemon stopped before this restore ended" in closed.detail
            assert "at restart" in closed.detail
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def test_a_checkpoint_bomb_affects_neither_its_session_nor_another(
    tmux_client: TmuxClient, make_app: AppFactory, tmp_path: Path
) -> None:
    from tests.storage.test_bounded_decode import plant, zlib_bomb
    from yesman_recovery.storage import envelope

    with open_store(tmp_path / "state") as store:
        now = time.time_ns()  # recent: retention must not prune them before they are read
        bomb = plant(store, "victim", now - 2000, envelope.CODEC_JSON_ZLIB, zlib_bomb(256 << 20))
        deep = b'{"metadata":{},"state":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
        plant(store, "victim", now - 1000, envelope.CODEC_JSON, deep)
    tmux_client.run("new-session", "-d", "-s", "victim")
    tmux_client.run("new-session", "-d", "-s", "other")
    app = make_app()
    wait_until(lambda: checkpointed(app, "victim") and checkpointed(app, "other"))
    assert app.store is not None
    corrupt = {e.subject for e in app.store.audit.query(kind="corruption")}
    assert bomb in corrupt
    old = tmux_client.server_pid()
    assert old is not None
    os.kill(old, signal.SIGKILL)
    wait_pid_gone(old, 5.0)

    def both_back() -> bool:
        try:
            snap = take_snapshot(tmux_client)
        except Exception:
            return False
        return snap.session("victim") is not None and snap.session("other") is not None

    wait_until(both_back, timeout=20)
    assert app.root.is_alive()
