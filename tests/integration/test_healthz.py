"""``/healthz`` tells the truth, through a real daemon: 503 with the reasons while a declared
session is given up on, 200 once it is healthy again; ``status`` and the metric say the same."""

from __future__ import annotations

import json
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
