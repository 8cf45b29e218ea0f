"""A yesman session's ``before_script``: run once, before the session is first built.

Each command runs through ``/bin/sh -c`` in the session's start directory (else the home
directory), with the session's environment added, in a process group of its own, for at most
``before_script_timeout`` seconds (then the whole group is killed; at once when the daemon
stops); the commands run in order
and stop at the first that fails, as a shell script with ``set -e`` would. A failure never stops
the session from being created: it is audited and shown in ``sessions list``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from yesman_recovery.actors.context import SessionSettings
from yesman_recovery.health.command import run_command

OUTPUT_CHARS = 300
"""How much of a failed command's output is kept in the audit trail and ``sessions list``."""


def run_before_script(
    settings: SessionSettings, environment: dict[str, str], stop: Callable[[], bool]
) -> str | None:
    """Run ``settings.before_script``; None when it succeeded, else what went wrong.

    ``stop`` true (the daemon is stopping) ends the running command at once (killed)."""
    cwd = settings.before_script_cwd or os.path.expanduser("~")
    deadline = time.monotonic() + settings.before_script_timeout
    for number, script in enumerate(settings.before_script, start=1):
        left = max(0.1, deadline - time.monotonic())
        outcome = run_command(
            script, left, tail_chars=OUTPUT_CHARS, cwd=cwd, env=environment, stop=stop
        )
        if not outcome.ok:
            which = f"command {number} of {len(settings.before_script)}"
            if len(settings.before_script) == 1:
                which = "the script"
            how = outcome.describe(settings.before_script_timeout)
            output = " ".join(outcome.output.split())[-OUTPUT_CHARS:]
            return f"{which} failed in {cwd}: {how}" + (f": {output}" if output else "")
    return None
