"""``yesman-recovery run`` as a service: one instance, reload, systemd's notify protocol.

Real processes, a real datagram socket standing in for systemd's ``NOTIFY_SOCKET``.
"""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DEADLINE = 20.0  # generous: catches a hang, not a slow machine


class Daemon:
    """A ``yesman-recovery run`` subprocess; a thread collects its stderr lines."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "yesman_recovery.cli", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stderr is not None
        stderr = self.process.stderr

        def read() -> None:
            for line in stderr:
                self.lines.put(line)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(
            f"no line with {text!r} within {DEADLINE}s; got:\n{''.join(self.seen)}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE)


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.stop()


@pytest.mark.slow
def test_a_second_run_on_the_same_state_directory_exits_1_naming_the_pid_and_lock(
    daemons: list[Daemon], config_file: Path, environment: dict[str, str]
) -> None:
    first = Daemon(["run", "--config", str(config_file)], environment)
    daemons.append(first)
    first.wait_for("started (state in")
    second = subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(config_file)],
        capture_output=True, text=True, env=environment, timeout=DEADLINE, check=False,
    )  # fmt: skip
    assert second.returncode == 1
    lock = config_file.parent / "state" / "daemon.lock"
    assert f"(pid {first.process.pid})" in second.stderr
    assert f"the lock {lock}" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.process.poll() is None, "the first daemon keeps running"
    first.process.terminate()
    assert first.process.wait(timeout=DEADLINE) == 0


@pytest.mark.slow
def test_sighup_reloads_and_the_daemon_keeps_running(
    daemons: list[Daemon], config_file: Path, environment: dict[str, str]
) -> None:
    daemon = Daemon(["run", "--config", str(config_file)], environment)
    daemons.append(daemon)
    daemon.wait_for("started (state in")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for("configuration reloaded from")
    daemon.process.send_signal(signal.SIGUSR1)
    daemon.wait_for("SIGUSR1 received and ignored")
    assert daemon.process.poll() is None
    daemon.process.terminate()
    assert daemon.process.wait(timeout=DEADLINE) == 0


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", *args],
        capture_output=True, text=True, env=env, timeout=DEADLINE, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_reload_command_applies_a_good_file_and_refuses_a_bad_one_with_its_errors(
    daemons: list[Daemon], config_file: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {**environment, "NOTIFY_SOCKET": str(notify.path)}
    daemon = Daemon(["run", "--config", str(config_file)], env)
    daemons.append(daemon)
    notify.until("READY=1")
    good = config_file.read_text()
    config_file.write_text(good + '[[sessions]]\nname = "later"\n')
    applied = _cli(["reload", "--config", str(config_file)], environment)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "reloaded: applied sessions added: later"
    notify.until("RELOADING=1")
    notify.until("READY=1")

    config_file.write_text(good.replace('adopt = "none"', "adopt = 3"))
    locally = _cli(["reload", "--config", str(config_file)], environment)
    assert locally.returncode == 2  # read here first: the same errors, before asking the daemon
    assert "tmux.adopt = 3" in locally.stderr
    state_dir = str(config_file.parent / "state")
    rejected = _cli(["reload", "--state-dir", state_dir], environment)
    assert rejected.returncode == 2
    assert "reload rejected (1 problem in " in (rejected.stderr)
    assert "tmux.adopt = 3" in rejected.stderr
    daemon.wait_for("configuration reload rejected")
    assert daemon.process.poll() is None

    config_file.write_text(good.replace('"127.0.0.1:0"', '"127.0.0.1:0"\nenabled = false'))
    restart = _cli(["reload", "--config", str(config_file), "--json"], environment)
    assert restart.returncode == 0
    assert '"needs_restart": [\n    "metrics.enabled"\n  ]' in restart.stdout
    daemon.process.terminate()
    assert daemon.process.wait(timeout=DEADLINE) == 0
    notify.sock.close()


def test_reload_without_a_daemon_exits_1(config_file: Path, environment: dict[str, str]) -> None:
    result = _cli(["reload", "--config", str(config_file)], environment)
    assert result.returncode == 1
    assert "no daemon is running on state directory" in result.stderr


class NotifySocket:
    """A datagram socket playing systemd: collects what the daemon sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(DEADLINE)
        self.received: list[str] = []

    def until(self, field: str) -> list[str]:
        """Messages received until one holds ``field`` (a line such as ``READY=1``)."""
        while True:
            message = self.sock.recv(4096).decode()
            self.received.append(message)
            if field in message.splitlines():
                return self.received


@pytest.mark.slow
def test_the_notify_protocol_ready_watchdog_status_stopping(
    daemons: list[Daemon], config_file: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {**environment, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000"}
    daemon = Daemon(["run", "--config", str(config_file)], env)
    daemons.append(daemon)
    first = notify.until("READY=1")[0].splitlines()
    assert first[0] == "READY=1"
    assert first[1].startswith("STATUS=watching 0 sessions; state in ")
    for _ in range(3):  # keep-alives every 0.2 s while healthy
        notify.until("WATCHDOG=1")
    daemon.process.terminate()
    assert "STOPPING=1" in notify.until("STOPPING=1")[-1].splitlines()
    assert daemon.process.wait(timeout=DEADLINE) == 0
    notify.sock.close()


def test_run_with_a_taken_port_is_one_line_without_traceback(
    config_file: Path, environment: dict[str, str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config_file.write_text(
            config_file.read_text().replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"')
        )
        result = subprocess.run(
            [sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(config_file)],
            capture_output=True, text=True, env=environment, timeout=DEADLINE, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"yesman-recovery: error: could not start: the metrics port 127.0.0.1:{port} is already "
        f"in use; stop the process that holds it (see `ss -ltnp 'sport = :{port}'`) or choose "
        "another [metrics] listen port (0 picks a free one)"
    ]


def test_run_without_tmux_is_one_line_saying_how_to_install_it(
    config_file: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {**environment, "PATH": str(bare)}  # python is started by absolute path
    result = subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", "run", "--config", str(config_file)],
        capture_output=True, text=True, env=env, timeout=DEADLINE, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "tmux is not installed (no `tmux` on PATH)" in result.stderr
    assert "apt-get install tmux" in result.stderr


def test_sessions_save_without_tmux_is_one_line_saying_how_to_install_it(
    config_file: Path, environment: dict[str, str], tmp_path: Path
) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "yesman_recovery.cli", "sessions", "save", "-c", str(config_file)],
        capture_output=True, text=True, env={**environment, "PATH": str(bare)}, timeout=DEADLINE,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "tmux is not installed" in result.stderr
