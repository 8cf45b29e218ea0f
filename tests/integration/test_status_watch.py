"""``status --watch`` against a real daemon watching a real tmux server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import kill_tmux_server
from yesman_recovery.tmux.client import TmuxClient

from .conftest import wait_until
from .daemon import DEADLINE, Daemon, cli, environment, write_config

pytestmark = [pytest.mark.tmux, pytest.mark.slow]


@pytest.fixture
def daemon(tmux_client: TmuxClient, tmp_path: Path) -> Iterator[Daemon]:
    assert tmux_client.socket_name is not None
    tmux_client.run("new-session", "-d", "-s", "watched")
    started = Daemon(write_config(tmp_path / "yr.toml", tmux_client.socket_name))
    yield started
    started.stop()


def test_watch_shows_tree_sessions_and_latest_recoveries_for_n_refreshes(
    daemon: Daemon, tmux_client: TmuxClient
) -> None:
    wait_until(lambda: daemon.state_of("watched") == "healthy", timeout=20)
    kill_tmux_server(tmux_client)  # the daemon restores the session: a recovery to show
    wait_until(lambda: "restore" in cli(daemon.config, "audit", "--kind", "recovery").stdout,
               timeout=20)  # fmt: skip

    result = cli(daemon.config, "status", "--watch", "--url", daemon.url,
                 "--interval", "0.2", "--iterations", "3")  # fmt: skip

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "root" in out
    assert "sessions" in out
    assert "watched" in out
    assert "latest recoveries" in out
    assert "crashed: no tmux server" in out
    assert "Ctrl-C to quit" in out


def test_watch_ends_cleanly_on_ctrl_c(daemon: Daemon) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-m", "yesman_recovery.cli", "status", "--watch", "--url", daemon.url,
         "--interval", "0.2", "--config", str(daemon.config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=environment(daemon.config.parent),
    )  # fmt: skip
    try:
        wait_until(lambda: daemon.state_of("watched") == "healthy", timeout=20)
        # Let it draw a few refreshes (and finish importing on a loaded machine); the
        # assertion is on the exit, below.
        time.sleep(1.5)
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=DEADLINE)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0
    assert "Traceback" not in err
    assert "stopped watching" in out
    assert "watched" in out


def test_watch_keeps_going_when_the_daemon_does_not_answer(tmp_path: Path) -> None:
    config = write_config(tmp_path / "yr.toml", "yr-test-none")
    result = cli(config, "status", "--watch", "--url", "http://127.0.0.1:9",
                 "--interval", "0.1", "--iterations", "2")  # fmt: skip
    assert result.returncode == 0
    assert "not answering: no daemon answers at http://127.0.0.1:9/status" in result.stdout
