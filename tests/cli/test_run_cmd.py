"""``yesman-recovery run`` as a real process: endpoints up, SIGTERM/SIGINT stop it with exit 0."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from yesman_recovery.cli import main
from yesman_recovery.cli.run_cmd import _Stopper

DEADLINE = 20.0  # generous: catches a hang, not a slow machine


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """A ``yesman-recovery run`` subprocess whose stdout lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yesman_recovery.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            for line in stdout:
                self.lines.put(line)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def wait_for_line(self, prefix: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line.strip()
        stderr = self.stop_now()
        raise AssertionError(f"no line starting {prefix!r} within {DEADLINE}s; stderr:\n{stderr}")

    def stop_now(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        _, err = self.process.communicate(timeout=DEADLINE)
        return err


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop_now()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_the_endpoints_and_stops_cleanly_on_a_signal(
    daemons: list[Daemon],
    config_file: Path,
    environment: dict[str, str],
    signum: signal.Signals,
) -> None:
    daemon = Daemon(["run", "--config", str(config_file)], environment)
    daemons.append(daemon)
    line = daemon.wait_for_line("yesman-recovery: metrics on ")
    metrics_url = line.rsplit(" ", 1)[1]
    base = metrics_url.removesuffix("/metrics")
    assert base.startswith("http://127.0.0.1:")
    assert not base.endswith(":0"), "port 0 is replaced by the port actually bound"

    assert get(base + "/healthz") == (200, b'{"healthy": true, "reasons": []}\n')
    code, body = get(metrics_url)
    assert code == 200
    assert b'yesman_recovery_build_info{version="0.1.0"} 1.0' in body
    code, body = get(base + "/status")
    assert code == 200
    status = json.loads(body)
    assert status["healthy"] is True
    assert status["tree"]["id"] == "root"
    assert status["tree"]["state"] == "running"
    assert "metrics" in {child["id"] for child in status["tree"]["children"]}
    assert (config_file.parent / "state").is_dir(), "[storage] path is relative to the config"

    daemon.process.send_signal(signum)
    assert daemon.process.wait(timeout=5) == 0
    err = daemon.stop_now()
    assert "Traceback" not in err
    assert f"{signum.name} received" in err


@pytest.mark.slow
def test_state_dir_before_the_command_overrides_the_config(
    daemons: list[Daemon], config_file: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "elsewhere"
    daemon = Daemon(["--state-dir", str(state), "run", "--config", str(config_file)], environment)
    daemons.append(daemon)
    assert daemon.wait_for_line("yesman-recovery: running").startswith(
        f"yesman-recovery: running, state in {state};"
    )
    assert state.is_dir()
    daemon.process.terminate()
    assert daemon.process.wait(timeout=5) == 0


def test_config_check_on_broken_files_exits_2_with_the_key_path(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    broken = {
        "syntax.toml": ("[supervisor\nstrategy = 1\n", "TOML syntax error"),
        "unknown.toml": ("[tmux]\npoll = 1\n", "tmux.poll: unknown key"),
        "type.toml": ('[supervisor]\nmax_restarts = "three"\n', "supervisor.max_restarts"),
        "negative.toml": ('[tmux]\npoll_interval = "-1s"\n', "tmux.poll_interval"),
    }
    for name, (text, expected) in broken.items():
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run(
            [sys.executable, "-m", "yesman_recovery.cli", "config", "check", str(path)],
            capture_output=True,
            text=True,
            env=environment,
            timeout=DEADLINE,
            check=False,
        )
        assert result.returncode == 2, (name, result.stderr)
        assert expected in result.stderr
        assert str(path) in result.stderr
        assert "Traceback" not in result.stderr


def test_run_with_a_bad_config_exits_2_before_starting(
    tmp_path: Path, environment: dict[str, str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[storage]\npath = "st"\ndurability = "sometimes"\n')
    result = subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode == 2
    assert 'storage.durability = "sometimes"' in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "st").exists(), "nothing started"


# --- in-process: the same command under CliRunner (signals go to this very process) ----------


def _signal_when(ready: Callable[[], bool], signum: int, done: threading.Event) -> None:
    """Send ``signum`` to this process once ``ready()``; gives up at the deadline."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and not done.is_set():
        try:
            if ready():
                # run() installs its handlers before it starts the tree, so once the tree shows
                # itself the signal reaches run() and not pytest's default handler.
                os.kill(os.getpid(), signum)
                return
        except OSError:
            pass
        done.wait(0.05)


def run_in_process(args: list[str], ready: Callable[[], bool], signum: int) -> Result:
    done = threading.Event()
    signaller = threading.Thread(target=_signal_when, args=(ready, signum, done))
    signaller.start()
    try:
        return CliRunner().invoke(main, args)
    finally:
        done.set()
        signaller.join(DEADLINE)


def test_run_in_process_exits_0_on_sigterm(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    port = free_port()
    config = tmp_path / "c.toml"
    config.write_text(f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
    result = run_in_process(
        ["--state-dir", str(tmp_path / "st"), "run", "-c", str(config)],
        lambda: get(f"http://127.0.0.1:{port}/healthz")[0] == 200,
        signal.SIGTERM,
    )
    assert result.exit_code == 0, result.output
    assert f"metrics on http://127.0.0.1:{port}/metrics" in result.stdout
    assert signal.getsignal(signal.SIGTERM) is before, "handlers are restored"


def test_run_with_metrics_disabled_says_so(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[metrics]\nenabled = false\n")
    state = tmp_path / "st"
    result = run_in_process(
        ["run", "--config", str(config), "--state-dir", str(state)],
        state.is_dir,  # the store is opened after the handlers are installed
        signal.SIGINT,
    )
    assert result.exit_code == 0, result.output
    assert "metrics endpoint disabled" in result.stdout


def test_run_on_a_busy_port_exits_1_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "c.toml"
        config.write_text(f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
        result = CliRunner().invoke(
            main, ["run", "--config", str(config), "--state-dir", str(tmp_path / "st")]
        )
    assert result.exit_code == 1
    assert "could not start" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr


def test_a_second_signal_does_not_stop_the_tree_twice(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []
    release = threading.Event()

    def slow_stop(timeout: float) -> None:
        calls.append(timeout)
        release.wait(DEADLINE)

    stopper = _Stopper(slow_stop)
    stopper.on_signal(signal.SIGTERM, None)
    stopper.on_signal(signal.SIGINT, None)
    release.set()
    stopper.stop_and_join()
    assert len(calls) == 1
    assert "SIGINT received again: already stopping" in caplog.text
