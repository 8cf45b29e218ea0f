"""The ``SessionStart`` hook: tell tmux which conversation this pane is on.

Claude Code runs the hook command (``yesman-recovery agents hook claude-session-start``) at every
start, ``/resume``, ``/clear`` and compaction, with JSON on stdin: ``session_id``,
``transcript_path``, ``cwd``, ``hook_event_name``, ``source``. Gemini CLI runs ``…
gemini-session-start`` at start, resume and ``/clear`` with the same ``session_id``. It runs in the
pane's environment, so ``$TMUX_PANE`` names the pane. The hook validates ``session_id`` as a UUID —
anything else is refused and nothing is written — and sets two pane options with one ``tmux
set-option -p`` call (quoted argv, never a shell): :data:`CONVERSATION_OPTION` (the id) and
:data:`PIDS_OPTION` (the hook's ancestors, the agent's process among them, so a value left by an
earlier agent in the pane is never taken for the current one's).

It prints nothing on stdout (Claude Code adds a SessionStart hook's stdout to the conversation) and
always exits 0: a hook must never stop the agent. Outside tmux it does nothing. Only the standard
library is imported, so it adds milliseconds to the agent's start.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from typing import IO

from yesman_recovery.agents.binding import CONVERSATION_OPTION, PIDS_OPTION, is_uuid

_PANE = re.compile(r"^%[0-9]{1,9}$")
MAX_INPUT = 1 << 20
"""Bytes of hook input read at most (the JSON is a few hundred)."""
ANCESTORS = 12
TMUX_TIMEOUT = 2.0


def ancestors(pid: int, limit: int = ANCESTORS) -> list[int]:
    """``pid``'s parent, its parent, … (from ``/proc/PID/stat``), at most ``limit``."""
    found: list[int] = []
    while len(found) < limit:
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        if pid <= 1:
            break
        found.append(pid)
    return found


def conversation_of(text: str) -> str | None:
    """The ``session_id`` of the hook input ``text`` when it is a UUID, else None."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    value = data.get("session_id") if isinstance(data, dict) else None
    return value.lower() if isinstance(value, str) and is_uuid(value) else None


def set_options_argv(pane: str, conversation: str, pids: list[int]) -> list[str]:
    """The tmux argv that records ``conversation`` on ``pane`` (one process, two options)."""
    words = " ".join(str(p) for p in pids)
    return [
        "tmux", "set-option", "-p", "-t", pane, CONVERSATION_OPTION, conversation, ";",
        "set-option", "-p", "-t", pane, PIDS_OPTION, words,
    ]  # fmt: skip


def session_start(
    stdin: IO[str],
    env: Mapping[str, str],
    stderr: IO[str] = sys.stderr,
    stdout: IO[str] | None = None,
    reply: str = "",
) -> int:
    """Run the hook: read ``stdin``, write the pane options. Always returns 0.

    ``reply`` is printed on ``stdout`` at the end: nothing for Claude Code (its SessionStart
    stdout joins the conversation), ``{}`` for Gemini CLI (which parses stdout as JSON).
    """
    try:
        return _session_start(stdin, env, stderr)
    finally:
        if reply:
            print(reply, file=stdout or sys.stdout, flush=True)


def _session_start(stdin: IO[str], env: Mapping[str, str], stderr: IO[str]) -> int:
    pane = env.get("TMUX_PANE", "")
    text = stdin.read(MAX_INPUT)
    if not env.get("TMUX") or not _PANE.match(pane):
        return 0  # not in tmux: nothing to bind
    conversation = conversation_of(text)
    if conversation is None:
        print("yesman-recovery hook: no valid session_id in the hook input", file=stderr)
        return 0
    argv = set_options_argv(pane, conversation, [os.getpid(), *ancestors(os.getpid())])
    try:
        subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            timeout=TMUX_TIMEOUT, check=False, env=dict(env),
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"yesman-recovery hook: tmux set-option failed: {exc}", file=stderr)
    return 0
