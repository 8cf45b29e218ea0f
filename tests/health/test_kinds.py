"""The built-in probes and heals against real processes, sockets, files and commands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.health.conftest import kill_pid_file, wait_for
from yesman_recovery.health.command import run_command
from yesman_recovery.health.heals import command_heal, prune_files, sessions_handover
from yesman_recovery.health.kinds import (
    CpuProbe,
    command_probe,
    disk_probe,
    find_processes,
    memory_probe,
    process_probe,
    store_probe,
    tcp_probe,
    tmux_server_probe,
)
from yesman_recovery.storage import Store
from yesman_recovery.tmux.client import TmuxClient


def test_a_command_that_hangs_is_killed_with_its_children_at_its_timeout(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    started = time.monotonic()
    outcome = run_command(f"echo before; sleep 30 & echo $! > {pid_file}; wait", 0.3)
    assert time.monotonic() - started < 5
    assert outcome.timed_out
    assert outcome.exit_status is None
    assert outcome.output == "before\n"
    assert outcome.describe(0.3) == "timed out after 0.3 s (killed)"
    pid = int(pid_file.read_text())
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
             what="group killed")  # fmt: skip


def test_a_heal_that_starts_a_background_server_returns_at_once(tmp_path: Path) -> None:
    pid_file = tmp_path / "bg.pid"
    heal = command_heal(f"sleep 30 & echo $! > {pid_file}; echo started", 10.0)
    try:
        started = time.monotonic()
        result = heal.run()
        assert time.monotonic() - started < 2  # not waiting for the server to close stdout
        assert result.outcome == "success"  # type: ignore[union-attr]
        assert result.output == "started\n"  # type: ignore[union-attr]
    finally:
        kill_pid_file(pid_file)


def test_a_failing_heal_keeps_its_exit_status_and_output_tail() -> None:
    result = command_heal("echo " + "x" * 3000 + "; echo no space left >&2; exit 4", 5).run()
    assert result.outcome == "failed"  # type: ignore[union-attr]
    assert result.exit_status == 4  # type: ignore[union-attr]
    assert result.output.endswith("no space left\n")  # type: ignore[union-attr]
    assert len(result.output) <= 2001  # type: ignore[union-attr]


def test_command_probe_keeps_the_output_tail() -> None:
    result = command_probe(["sh", "-c", "echo checking; exit 1"], 2)()
    assert not result.ok
    assert result.detail == "exit status 1"
    assert result.output == "checking\n"


def test_tcp_probe_against_a_listening_and_a_closed_port() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert tcp_probe("127.0.0.1", port, 1)().ok
    result = tcp_probe("127.0.0.1", port, 1)()
    assert not result.ok
    assert "Connection refused" in result.detail


def test_process_probe_by_pid_file_name_and_pattern(tmp_path: Path) -> None:
    marker = f"yr-health-{os.getpid()}"
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    pid_file = tmp_path / "p.pid"
    pid_file.write_text(str(proc.pid))
    try:
        assert process_probe(pid_file=pid_file)().ok
        assert process_probe(pattern=marker)().ok
        name = psutil.Process(proc.pid).name()
        assert process_probe(name=name)().ok
    finally:
        proc.kill()
        proc.wait()
    result = process_probe(pid_file=pid_file)()
    assert not result.ok
    assert result.detail == f"no live process: pid {proc.pid} from {pid_file}"
    assert not process_probe(pid_file=tmp_path / "missing.pid")().ok
    assert find_processes(pattern=marker)[0] == []


def test_memory_probe_of_a_process_tree_and_of_the_host(tmp_path: Path) -> None:
    pid_file = tmp_path / "me.pid"
    pid_file.write_text(str(os.getpid()))
    assert not memory_probe(max_rss=1024, pid_file=pid_file)().ok  # we use more than 1 KiB
    assert memory_probe(max_rss=2**40, pid_file=pid_file)().ok
    assert memory_probe(max_percent=100.0)().ok


def test_cpu_probe_fails_only_on_a_full_window() -> None:
    probe = CpuProbe(max_percent=0.0001, window=0.2)
    first = probe()
    assert first.ok  # no window yet
    time.sleep(0.3)
    sum(i * i for i in range(300_000))  # some load
    assert not probe().ok


def test_disk_probe_thresholds(tmp_path: Path) -> None:
    assert disk_probe(tmp_path, min_free=1)().ok
    result = disk_probe(tmp_path, min_free=2**60)()
    assert not result.ok
    assert "free" in result.detail
    assert not disk_probe(tmp_path / "missing")().ok


def test_prune_files_deletes_only_old_regular_files(tmp_path: Path) -> None:
    old, new = tmp_path / "old.log", tmp_path / "new.log"
    old.write_text("x" * 10)
    new.write_text("y")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    (tmp_path / "link").symlink_to(old)
    assert prune_files(tmp_path, older_than=60) == (1, 10)
    assert not old.exists()
    assert new.exists()


def test_store_probe_reads_the_store(store: Store) -> None:
    assert store_probe(store)().ok
    store.close()
    result = store_probe(store)()
    assert not result.ok


def test_tmux_server_probe_without_a_server() -> None:
    result = tmux_server_probe(TmuxClient(socket_name=f"yr-test-none-{os.getpid()}"))()
    assert not result.ok
    assert "no tmux server" in result.detail


def test_sessions_handover_without_a_watcher_fails() -> None:
    result = sessions_handover(lambda: None).run()
    assert result.outcome == "failed"  # type: ignore[union-attr]
