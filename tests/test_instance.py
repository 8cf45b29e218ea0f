"""One daemon per state directory and per tmux server: real flock locks, real processes."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_app import _config
from yesman_recovery.app import RecoveryApp
from yesman_recovery.errors import RecoveryError
from yesman_recovery.instance import (
    SERVER_LOCK_SUFFIX,
    AlreadyRunning,
    _same_file,
    server_lock,
    state_lock,
    tmux_socket,
)
from yesman_recovery.tmux.client import wait_pid_gone

HOLDER = """
import sys
from pathlib import Path
from yesman_recovery.instance import state_lock
lock = state_lock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_second_lock_names_the_holders_pid_and_the_file(tmp_path: Path) -> None:
    with state_lock(tmp_path), pytest.raises(AlreadyRunning) as caught:
        state_lock(tmp_path).acquire()
    message = str(caught.value)
    assert f"(pid {os.getpid()})" in message
    assert f"the lock {tmp_path / 'daemon.lock'}" in message
    assert f"`kill {os.getpid()}`" in message
    assert "--state-dir" in message
    assert not (tmp_path / "daemon.lock").exists(), "a clean release leaves nothing behind"
    state_lock(tmp_path).acquire()  # released by the with block: free again


def test_a_lock_taken_on_a_removed_file_is_not_the_lock(tmp_path: Path) -> None:
    first = state_lock(tmp_path)
    first.acquire()
    late = os.open(tmp_path / "daemon.lock", os.O_RDWR)  # opened just before the release
    try:
        first.release()
        fcntl.flock(late, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locks the removed inode...
        assert not _same_file(late, tmp_path / "daemon.lock")  # ...which acquire() rejects
        with state_lock(tmp_path):  # and the real lock is free
            assert (tmp_path / "daemon.lock").read_text() == f"{os.getpid()}\n"
    finally:
        os.close(late)


def test_a_killed_holder_leaves_nothing_that_blocks_the_next(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}"):
            state_lock(tmp_path).acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        assert wait_pid_gone(holder.pid, 10)
        lock = state_lock(tmp_path)
        lock.acquire()  # the kernel dropped the dead process's lock
        assert lock.previous_pid == holder.pid  # it did not release: killed
        assert (tmp_path / "daemon.lock").read_text() == f"{os.getpid()}\n"
        lock.release()
        assert not (tmp_path / "daemon.lock").exists()
        again = state_lock(tmp_path)
        again.acquire()
        assert again.previous_pid is None  # released cleanly: nothing left behind
        again.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


def test_server_locks_sit_next_to_the_tmux_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMUX_TMPDIR", str(tmp_path / "tmux-tmp"))
    named = server_lock("agents", None)
    expected = tmp_path / "tmux-tmp" / f"tmux-{os.geteuid()}" / f"agents{SERVER_LOCK_SUFFIX}"
    assert named.path == expected
    assert tmux_socket(None, None).name == "default"
    assert expected.parent.stat().st_mode & 0o777 == 0o700, "created as tmux would"
    by_path = server_lock(None, tmp_path / "s.sock")
    assert by_path.path == tmp_path / f"s.sock{SERVER_LOCK_SUFFIX}"
    with named, pytest.raises(AlreadyRunning, match="the tmux server -L agents"):
        server_lock("agents", None).acquire()


def test_a_lock_file_planted_as_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("")
    (tmp_path / "daemon.lock").symlink_to(tmp_path / "target")
    with pytest.raises(RecoveryError, match="cannot open the lock file"):
        state_lock(tmp_path).acquire()


def test_a_second_app_on_the_same_state_directory_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    with RecoveryApp(config) as first:
        other_server = _config(tmp_path)  # same state directory, another tmux server
        second = RecoveryApp(other_server)
        with pytest.raises(AlreadyRunning, match="already running on the state directory"):
            second.start()
        assert first.healthy(), "the running daemon is untouched"
        assert first.status()["healthy"] is True
    third = RecoveryApp(config)  # the first released its locks when it stopped
    third.start()
    third.stop()


def test_a_second_app_on_the_same_tmux_server_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path / "a")
    elsewhere = _config(tmp_path / "b")
    same_server = elsewhere.__class__(**{**elsewhere.__dict__, "tmux": config.tmux})
    with RecoveryApp(config):
        with pytest.raises(AlreadyRunning, match=f"the tmux server -L {config.tmux.socket_name}"):
            RecoveryApp(same_server).start()
        assert not (tmp_path / "b" / "state" / "data.mdb").exists(), "nothing was opened"


def test_a_daemon_after_a_killed_one_records_that_end(tmp_path: Path) -> None:
    config = _config(tmp_path)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "daemon.lock").write_text("999999\n")  # what a SIGKILLed daemon leaves behind
    with RecoveryApp(config) as app:
        assert app.store is not None
        (event,) = app.store.audit.query(subject="daemon")
        assert "the previous daemon (pid 999999) ended without stopping" in event.detail
    with RecoveryApp(config) as app:  # after a clean stop: nothing to record
        assert app.store is not None
        assert len(app.store.audit.query(subject="daemon")) == 1
