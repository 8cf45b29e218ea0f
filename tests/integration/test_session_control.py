"""Session control end to end: a real daemon, a real isolated tmux server, the real CLI."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import kill_tmux_server
from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux.client import TmuxClient

from .conftest import wait_until
from .daemon import Daemon, cli, write_config

pytestmark = [pytest.mark.tmux, pytest.mark.slow]


@pytest.fixture
def config(tmux_client: TmuxClient, tmp_path: Path) -> Path:
    assert tmux_client.socket_name is not None
    return write_config(
        tmp_path / "yr.toml",
        tmux_client.socket_name,
        'programs = ["sleep"]\nprogram_max_restarts = 1\nprogram_max_seconds = "1h"\n',
    )


@pytest.fixture
def daemon(config: Path) -> Iterator[Daemon]:
    started = Daemon(config)
    yield started
    started.stop()


def _has(client: TmuxClient, name: str) -> bool:
    try:
        return client.snapshot().session(name) is not None
    except TmuxError:  # no server
        return False


def _audit(config: Path, kind: str) -> list[dict[str, object]]:
    result = cli(config, "audit", "--kind", kind, "--json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _healthy_and_checkpointed(daemon: Daemon, name: str) -> bool:
    found = daemon.sessions().get(name)
    return bool(found and found["state"] == "healthy" and found["checkpointed"])


def test_pause_stops_restoring_and_resume_restores(
    daemon: Daemon, config: Path, tmux_client: TmuxClient
) -> None:
    tmux_client.run("new-session", "-d", "-s", "work")
    wait_until(lambda: _healthy_and_checkpointed(daemon, "work"), timeout=20)

    paused = cli(config, "sessions", "pause", "work")
    assert paused.returncode == 0, paused.stderr
    wait_until(lambda: daemon.state_of("work") == "paused")  # /status is rebuilt each second
    assert "paused since" in daemon.sessions()["work"]["detail"]
    kill_tmux_server(tmux_client)
    # Every watched session looks at the server now: the paused one is left alone.
    looked = cli(config, "sessions", "restore", "--all")
    assert "paused" in looked.stdout
    assert not _has(tmux_client, "work")

    resumed = cli(config, "sessions", "resume", "work")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed: now healthy" in resumed.stdout
    assert _has(tmux_client, "work")
    assert [e["action"] for e in _audit(config, "control")] == ["pause", "restore", "resume"]
    again = cli(config, "sessions", "resume", "work")
    assert again.returncode == 1
    assert "session 'work' is not paused" in again.stderr


def test_reset_clears_failed_now(daemon: Daemon, config: Path, tmux_client: TmuxClient) -> None:
    tmux_client.run("new-session", "-d", "-s", "agent", "sleep", "1000")
    wait_until(lambda: _healthy_and_checkpointed(daemon, "agent"), timeout=20)

    def program_pid() -> int | None:
        session = tmux_client.snapshot().session("agent") if _has(tmux_client, "agent") else None
        return session.panes()[0].program_pid if session else None

    # Killed again each time it is brought back, until it is given up on (the first kill takes
    # the server down with its only pane: a restore; then respawns, one allowed per hour).
    for _ in range(4):
        if daemon.state_of("agent") == "failed":
            break
        pid = wait_until(program_pid, timeout=20)
        recoveries = daemon.sessions()["agent"]["recoveries"]
        os.kill(pid, signal.SIGKILL)

        def recovered_or_failed(n: int = recoveries) -> bool:
            recovered = daemon.sessions()["agent"]["recoveries"] > n
            return bool(recovered or daemon.state_of("agent") == "failed")

        wait_until(recovered_or_failed, timeout=20)
    wait_until(lambda: daemon.state_of("agent") == "failed", timeout=20)

    reset = cli(config, "sessions", "reset", "agent")
    assert reset.returncode == 0, reset.stderr
    assert "session 'agent' reset: now healthy" in reset.stdout
    wait_until(lambda: daemon.state_of("agent") == "healthy")
    assert _audit(config, "control")[-1]["action"] == "reset"
    unknown = cli(config, "sessions", "reset", "nope")
    assert unknown.returncode == 1
    assert "no watched session 'nope'; watched: agent" in unknown.stderr


def test_forget_deletes_an_adopted_sessions_checkpoints(
    daemon: Daemon, config: Path, tmux_client: TmuxClient
) -> None:
    tmux_client.run("new-session", "-d", "-s", "keep")
    tmux_client.run("new-session", "-d", "-s", "old")
    wait_until(lambda: _healthy_and_checkpointed(daemon, "old"), timeout=20)
    refused = cli(config, "sessions", "forget", "old")
    assert refused.returncode == 1
    assert "still runs on the tmux server" in refused.stderr

    tmux_client.run("kill-session", "-t", "=old")  # closed by the user: released
    wait_until(lambda: "old" not in daemon.sessions(), timeout=20)
    forgotten = cli(config, "sessions", "forget", "old")
    assert forgotten.returncode == 0, forgotten.stderr
    assert "session 'old' forgotten:" in forgotten.stdout
    listed = cli(config, "checkpoints", "list", "--json")
    assert {c["scope"] for c in json.loads(listed.stdout)} == {"keep"}
    assert _audit(config, "control")[-1]["action"] == "forget"


def test_restore_all_without_a_daemon_and_pause_kept_for_the_next_daemon(
    config: Path, tmux_client: TmuxClient
) -> None:
    for name in ("one", "two"):
        tmux_client.run("new-session", "-d", "-s", name)
    assert cli(config, "sessions", "save").returncode == 0
    kill_tmux_server(tmux_client)

    restored = cli(config, "sessions", "restore", "--all")
    assert restored.returncode == 0, restored.stderr
    assert _has(tmux_client, "one")
    assert _has(tmux_client, "two")
    nothing = cli(config, "sessions", "restore", "--all")
    assert "nothing to restore" in nothing.stdout

    assert cli(config, "sessions", "pause", "two").returncode == 0
    daemon = Daemon(config)
    try:
        wait_until(lambda: daemon.state_of("two") == "paused", timeout=20)
        wait_until(lambda: daemon.state_of("one") == "healthy", timeout=20)
    finally:
        daemon.stop()
    assert cli(config, "sessions", "reset", "one").returncode == 1
