"""A flooded HTTP endpoint cannot starve the daemon: with 1,100 idle connections held open (and
the daemon's open-file limit at 1,024) a crashed tmux server is still restored, and /healthz
and /status answer promptly throughout (within :data:`ANSWER_WITHIN`: a bound that catches a
starved endpoint — before, requests hung for 10 s and more — while the latency itself is
measured by ``benchmarks/bench_flood.py``: 0.5 ms median)."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.snapshot import take_snapshot

from .conftest import wait_until

pytestmark = pytest.mark.tmux
IDLE_CONNECTIONS = 1100
ANSWER_WITHIN = 3.0


@pytest.fixture
def many_files() -> Iterator[None]:
    """Let this test process hold the idle connections (restored afterwards)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = IDLE_CONNECTIONS + 512
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-file limit {hard} is below {wanted}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Daemon:
    """``yesman-recovery run`` in a subprocess, optionally with a lower open-file limit."""

    def __init__(self, config: Path, nofile: int | None) -> None:
        def limit() -> None:  # runs in the child between fork and exec
            if nofile is not None:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))

        env = {k: v for k, v in os.environ.items() if not k.startswith("YESMAN_RECOVERY_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yesman_recovery.cli", "--config", str(config), "run",
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
            preexec_fn=limit,  # noqa: PLW1509 -- only setrlimit, no locks or threads touched
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = ""
        for line in self.process.stdout:
            found = re.search(r"metrics on (http://\S+)/metrics", line)
            if found:
                self.url = found.group(1)
                break
        assert self.url, "the daemon did not announce its endpoint"

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err


class Prober(threading.Thread):
    """GETs /healthz and /status on new connections every 0.1 s; records the slowest answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.done = threading.Event()
        self.failures: list[str] = []
        self.slowest = 0.0
        self.answers = 0

    def run(self) -> None:
        while not self.done.is_set():
            for path in ("/healthz", "/status"):
                started = time.monotonic()
                try:
                    with urllib.request.urlopen(self.url + path, timeout=5) as response:
                        response.read()
                        status = response.status
                except Exception as exc:
                    self.failures.append(f"{path}: {exc!r}")
                    continue
                took = time.monotonic() - started
                self.slowest = max(self.slowest, took)
                self.answers += 1
                if status != 200 or took > ANSWER_WITHIN:
                    self.failures.append(f"{path}: {status} after {took:.2f} s")
            self.done.wait(0.1)


def flood(url: str) -> list[socket.socket]:
    """Open IDLE_CONNECTIONS connections; every tenth sends half a request and stops."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    held = []
    for n in range(IDLE_CONNECTIONS):
        conn = socket.create_connection((host, int(port)), timeout=5)
        if n % 10 == 0:
            conn.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        held.append(conn)
    return held


@pytest.mark.parametrize("nofile", [1024, None], ids=["nofile-1024", "default-limit"])
def test_a_flooded_endpoint_does_not_stop_recovery(
    tmux_client: TmuxClient, tmp_path: Path, many_files: None, nofile: int | None
) -> None:
    tmux_client.run("new-session", "-d", "-s", "work", "-x", "100", "-y", "30")
    tmux_client.run("split-window", "-t", "=work:")
    old_pid = tmux_client.server_pid()
    assert old_pid is not None
    config = tmp_path / "yr.toml"
    config.write_text(
        f'[metrics]\nlisten = "127.0.0.1:0"\n[storage]\npath = "{tmp_path / "state"}"\n'
        f'durability = "fast"\n[tmux]\nsocket_name = "{tmux_client.socket_name}"\n'
        'poll_interval = "200ms"\n'
    )
    daemon = Daemon(config, nofile)
    held: list[socket.socket] = []
    prober = Prober(daemon.url)
    try:

        def checkpointed() -> bool:
            with urllib.request.urlopen(daemon.url + "/status", timeout=5) as response:
                text = response.read().decode()
            return '"name": "work"' in text and '"checkpointed": true' in text

        wait_until(checkpointed, timeout=20)
        held = flood(daemon.url)
        prober.start()
        wait_until(lambda: prober.answers >= 4, timeout=10)
        os.kill(old_pid, signal.SIGKILL)
        wait_pid_gone(old_pid, 5)

        def restored() -> bool:
            with contextlib.suppress(Exception):
                pid = tmux_client.server_pid()
                work = take_snapshot(tmux_client).session("work")
                return pid not in (None, old_pid) and work is not None and len(work.panes()) == 2
            return False

        wait_until(restored, timeout=20)
        wait_until(lambda: prober.answers >= 20, timeout=10)
        assert daemon.process.poll() is None, "the daemon died"
        if nofile is not None:
            assert daemon.open_fds() < nofile - 100
    finally:
        prober.done.set()
        if prober.ident is not None:  # started
            prober.join(10)
        for conn in held:
            conn.close()
        err = daemon.stop()
    assert not prober.failures, (prober.failures[:5], prober.slowest)
    assert prober.slowest < ANSWER_WITHIN
    assert "Too many open files" not in err
    assert "Traceback" not in err
