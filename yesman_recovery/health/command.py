"""Run a command with a timeout, keeping its exit status and the tail of its output.

Output goes to a temporary file, not a pipe: a heal command that starts a server in the
background (``myserver &``) leaves that server holding the output, and reading a pipe would wait
for the server to exit. The command runs in a session of its own; on timeout that whole process
group is killed, so a hung command leaves nothing behind. A string runs through ``/bin/sh -c``;
a list is an argv run directly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from yesman_recovery.health.check import TAIL_CHARS, tail

Command = str | Sequence[str]
STOP_POLL = 0.2
"""Seconds between two looks at ``stop`` while a command runs."""


@dataclass(frozen=True)
class CommandOutcome:
    """``exit_status`` is None when the command timed out or could not start."""

    exit_status: int | None
    timed_out: bool
    output: str
    duration: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def describe(self, timeout: float) -> str:
        """``exit status 3``, ``timed out after 5 s (killed)`` or the start error."""
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {timeout:g} s (killed)"
        return f"exit status {self.exit_status}"


def run_command(
    command: Command,
    timeout: float,
    *,
    tail_chars: int = TAIL_CHARS,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    stop: Callable[[], bool] | None = None,
) -> CommandOutcome:
    """Run ``command`` for at most ``timeout`` seconds in the caller's thread (in ``cwd``, with
    ``env`` added to this process's environment). ``stop``, looked at a few times a second,
    ends it early the same way (its process group killed; ``error`` says it was stopped)."""
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=cwd,
                env=None if env is None else {**os.environ, **env},
            )
        except OSError as exc:
            return CommandOutcome(
                None, False, "", time.monotonic() - started, f"cannot run {argv[0]!r}: {exc}"
            )
        timed_out = False
        stopped = ""
        deadline = started + timeout
        status: int | None = None
        while True:
            try:
                left = deadline - time.monotonic()
                status = proc.wait(max(0.0, left if stop is None else min(left, STOP_POLL)))
                break
            except subprocess.TimeoutExpired:
                timed_out = time.monotonic() >= deadline
                if stop is not None and not timed_out and stop():
                    stopped = "stopped before it ended (the daemon is stopping)"
                if timed_out or stopped:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    status = None
                    break
        duration = time.monotonic() - started
        out.seek(max(0, out.seek(0, os.SEEK_END) - 4 * tail_chars))
        text = out.read().decode("utf-8", errors="replace")
    return CommandOutcome(status, timed_out, tail(text, tail_chars), duration, stopped)
