"""The real :class:`SystemProcesses` on real child processes: state, identity, signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from yesman_recovery.processes import SYSTEM_PROCESSES, wait_pid_gone

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_stopped_child_is_seen_stopped_keeps_its_start_time_and_runs_after_sigcont() -> None:
    child = subprocess.Popen(SLEEPER)
    try:
        started = SYSTEM_PROCESSES.started(child.pid)
        assert started is not None
        assert not SYSTEM_PROCESSES.stopped(child.pid)
        assert SYSTEM_PROCESSES.signal(child.pid, signal.SIGSTOP)
        assert wait_until_stopped(child.pid, True)
        assert SYSTEM_PROCESSES.started(child.pid) == started  # the same process
        assert SYSTEM_PROCESSES.stopped(child.pid, started)
        assert not SYSTEM_PROCESSES.stopped(child.pid, started + 1.0)  # not the one started then
        assert SYSTEM_PROCESSES.signal(child.pid, signal.SIGCONT)
        assert wait_until_stopped(child.pid, False)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert wait_pid_gone(child.pid, 5.0)
    assert SYSTEM_PROCESSES.started(child.pid) is None  # gone (reaped): no identity
    assert not SYSTEM_PROCESSES.stopped(child.pid)


def wait_until_stopped(pid: int, stopped: bool, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while SYSTEM_PROCESSES.stopped(pid) is not stopped:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
