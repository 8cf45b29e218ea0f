"""Run ``tail -f /dev/null`` as the terminal's foreground process group, without job control.

This process (a pane's own process) waits for tail without WUNTRACED: a SIGSTOPped tail is then
resumed by nobody but yesman-recovery — as happens to a program whose launcher does no job
control. Used by the frozen-program tests and benchmark: ``python foreground_tail.py``.
"""

import contextlib
import os
import signal

signal.signal(signal.SIGTTOU, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.execvp("tail", ["tail", "-f", "/dev/null"])
with contextlib.suppress(OSError):
    os.setpgid(pid, pid)
os.tcsetpgrp(0, pid)
os.waitpid(pid, 0)
