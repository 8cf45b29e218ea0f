"""Processes outside tmux that recoveries signal and wait for, behind a small protocol.

The session and watcher actors SIGCONT a stopped program or server, SIGKILL a hung server and
wait for a killed server's pid to be gone. They do it through :class:`Processes`, so tests drive
them with a fake that never touches a real process; :data:`SYSTEM_PROCESSES` is the real one.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable
from typing import Protocol

import psutil

from yesman_recovery.clock import SYSTEM_CLOCK, Clock


class Processes(Protocol):
    """Signals and waits on processes by pid."""

    def stopped(self, pid: int, started: float | None = None) -> bool:
        """True iff ``pid`` exists and is stopped (state ``T``) — and, with ``started``, is
        still the process that started then (see :meth:`started`)."""
        ...

    def started(self, pid: int) -> float | None:
        """When ``pid`` started (its identity: a reused pid starts later), or None if gone."""
        ...

    def signal(self, pid: int, sig: int) -> bool:
        """Send ``sig`` to ``pid``; False when the process is gone."""
        ...

    def signal_group(self, pid: int, sig: int) -> bool:
        """Send ``sig`` to the process group of ``pid``; False when gone or not allowed."""
        ...

    def wait_gone(self, pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``pid`` to exit; True when it is gone."""
        ...


class SystemProcesses:
    """The real processes of this machine (``os.kill``, psutil, pidfds)."""

    def stopped(self, pid: int, started: float | None = None) -> bool:
        try:
            process = psutil.Process(pid)
            if started is not None and process.create_time() != started:
                return False
            return bool(process.status() == psutil.STATUS_STOPPED)
        except psutil.Error:
            return False

    def started(self, pid: int) -> float | None:
        try:
            return float(psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def signal(self, pid: int, sig: int) -> bool:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def signal_group(self, pid: int, sig: int) -> bool:
        try:
            os.killpg(os.getpgid(pid), sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def wait_gone(self, pid: int, timeout: float) -> bool:
        return wait_pid_gone(pid, timeout)


SYSTEM_PROCESSES = SystemProcesses()

# Re-exported for the callers that signal by number.
SIGCONT = signal.SIGCONT
SIGKILL = signal.SIGKILL


def wait_pid_gone(
    pid: int,
    timeout: float,
    *,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Wait up to ``timeout`` seconds for process ``pid`` to exit; True when it is gone.

    Uses a pidfd (readable on exit) where the OS has one, else polls every 5 ms on ``clock``
    with ``sleep``.
    """
    deadline = clock.monotonic() + timeout
    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        fd = -1
    if fd >= 0:
        try:
            # poll(), not select(): select() refuses descriptors above 1023, which a process
            # holding many connections has
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            ready = poller.poll(max(0.0, timeout) * 1000)
        finally:
            os.close(fd)
        return bool(ready) or not _alive(pid)
    while _alive(pid):
        if clock.monotonic() >= deadline:
            return False
        sleep(0.005)
    return True


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
