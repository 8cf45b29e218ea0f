"""``/healthz`` tells the truth, through a real daemon: 503 with the reasons while a declared
session is given up on, 200 once it is healthy again; ``status`` and the metric say the same."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from yesman_recovery.tmux.client import TmuxClient

from .conftest import wait_until
from .daemon import Daemon, cli, write_config

pytestmark = pytest.mark.tmux


def healthz(daemon: Daemon) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(daemon.url + "/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def healthy_metric(daemon: Daemon) -> str:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return str(next(x for x in text.splitlines() if x.startswith("yesman_recovery_healthy ")))


def test_healthz_is_503_while_a_session_is_given_up_on_and_200_after(
    tmux_client: TmuxClient, tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed"
    agent = tmp_path / "agent.sh"
    agent.write_text(f'if [ -e "{fixed}" ]; then exec sleep 600; fi; sleep 0.3; exit 1\n')
    spec = tmp_path / "loop.yaml"
    spec.write_text(
        f"session_name: loop\nstart_directory: {tmp_path}\nwindows:\n"
        f"  - window_name: agent\n    panes:\n      - sh {agent}\n"
    )
    config = write_config(
        tmp_path / "config.toml",
        tmux_client.socket_name or "",
        f'program_max_restarts = 1\n[[sessions]]\nname = "loop"\nspec = "{spec}"\n',
    )
    daemon = Daemon(config)
    try:
        wait_until(lambda: daemon.state_of("loop") == "failed", 30)
        _, verdict = wait_until(lambda: (h := healthz(daemon))[0] == 503 and h, 10)
        assert verdict["healthy"] is False
        [reason] = verdict["reasons"]
        assert reason["kind"] == "session_failed"
        assert reason["subject"] == "loop"
        assert "gave up" in reason["detail"]
        assert healthy_metric(daemon) == "yesman_recovery_healthy 0.0"
        shown = cli(config, "status", "--url", daemon.url)
        assert shown.returncode == 0, shown.stderr
        assert "unhealthy" in shown.stdout
        assert "unhealthy: session_failed loop: failed: " in shown.stdout

        fixed.touch()  # the operator fixes the cause, then resets the session
        reset = cli(config, "sessions", "reset", "loop")
        assert reset.returncode == 0, reset.stderr
        _, verdict = wait_until(lambda: (h := healthz(daemon))[0] == 200 and h, 30)
        assert verdict == {"healthy": True, "reasons": []}
        wait_until(lambda: healthy_metric(daemon) == "yesman_recovery_healthy 1.0", 10)
        shown = cli(config, "status", "--url", daemon.url)
        assert "  healthy  " in shown.stdout
        assert "unhealthy" not in shown.stdout
    finally:
        daemon.stop()


def test_healthz_is_503_while_the_server_cannot_be_brought_back(tmp_path: Path) -> None:
    """The server crashed and its socket's folder became a file: no restore can start one, so
    past ``server_grace`` the daemon says so; once the folder is back and the session reset, it
    restores it and answers 200."""
    folder = tmp_path / "sock"
    folder.mkdir()
    client = TmuxClient(socket_path=str(folder / "s"))
    client.run("new-session", "-d", "-s", "agent")
    config = tmp_path / "config.toml"
    config.write_text(
        '[metrics]\nlisten = "127.0.0.1:0"\n[metrics.healthz]\nserver_grace = "1s"\n'
        f'[storage]\npath = "state"\n[tmux]\nsocket_path = "{folder / "s"}"\n'
        'poll_interval = "0.2s"\n'
    )
    daemon = Daemon(config)
    pids: set[int] = set()
    try:
        wait_until(lambda: daemon.sessions().get("agent", {}).get("checkpointed"), 30)
        pids.add(client.server_pid() or 0)
        lock = folder / "s.yesman-recovery.lock"
        lock.rename(tmp_path / "lock")  # kept open by the daemon; moved aside with the folder
        os.kill(next(iter(pids)), signal.SIGKILL)
        (folder / "s").unlink(missing_ok=True)
        folder.rmdir()
        folder.write_text("")  # tmux cannot make its socket here now
        _, verdict = wait_until(lambda: (h := healthz(daemon))[0] == 503 and h, 30)
        kinds = {r["kind"] for r in verdict["reasons"]}
        assert "server_unreachable" in kinds, verdict
        [reason] = [r for r in verdict["reasons"] if r["kind"] == "server_unreachable"]
        assert reason["subject"] == f"-S {folder / 's'}"
        assert "(grace 1s): no tmux server on -S " in reason["detail"]

        folder.unlink()
        folder.mkdir()
        # The daemon gave up on its restores meanwhile; the operator resets the session.
        reset = cli(config, "sessions", "reset", "agent")
        assert reset.returncode == 0, reset.stderr
        wait_until(lambda: healthz(daemon)[0] == 200, 30)
        pids.add(client.server_pid() or 0)
    finally:
        daemon.stop()
        with contextlib.suppress(Exception):  # a server the daemon restored before a failure
            pids.add(client.server_pid() or 0)
        for pid in pids - {0}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
