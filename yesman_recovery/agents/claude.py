"""Claude Code (``claude``, a node script): ``--resume <id>``, ``--session-id <uuid>``.

Conversations live in ``~/.claude/projects/<cwd, every non-alphanumeric as '-'>/<uuid>.jsonl``.
A conversation id on the command line (``--resume``/``-r <id>``, ``--session-id <uuid>``) binds
the pane; a hand-started ``claude`` is bound by the SessionStart hook
(:mod:`yesman_recovery.agents.hook`), which also moves the binding after ``/clear`` or
``/resume``. A fresh start gets ``--session-id <uuid>`` chosen here, so its conversation is
known from the start. ``-c``/``--continue`` and ``--fork-session`` are dropped on a resume and
never combined with ``--session-id`` (Claude Code refuses that combination).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from yesman_recovery.agents.base import (
    Agent,
    home,
    is_uuid,
    project_slug,
    recognised,
    split_head,
    take,
)

_VALUED = ("--session-id",)
_OPTIONAL = ("--resume", "-r")
_BARE = ("--continue", "-c", "--fork-session")


def project_dir(cwd: str, base: Path | None = None) -> Path:
    """Claude Code's conversation directory for ``cwd``."""
    return (base if base is not None else home()) / ".claude" / "projects" / project_slug(cwd)


class ClaudeCode(Agent):
    """Claude Code (see the module docstring)."""

    name = "claude"

    def recognises(self, argv: Sequence[str]) -> bool:
        return recognised(argv, ("claude",), ("/@anthropic-ai/claude-code/", "/claude-code/"))

    def conversation_in(self, argv: Sequence[str], cwd: str | None) -> str | None:
        _, args = split_head(argv)
        _, ids = take(args, (*_VALUED, "--resume"), ("-r",))
        found = [i for i in ids if is_uuid(i)]
        return found[-1].lower() if found else None

    def _flags(self, argv: Sequence[str]) -> tuple[list[str], list[str]]:
        head, args = split_head(argv)
        kept, _ = take(args, _VALUED, _OPTIONAL, _BARE)
        return head, kept

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        head, kept = self._flags(argv)
        return [*head, *kept, "--resume", conversation]

    def fresh(self, argv: Sequence[str]) -> list[str]:
        head, kept = self._flags(argv)
        return [*head, *kept, "--session-id", str(uuid.uuid4())]

    def exists(self, conversation: str, cwd: str | None) -> bool:
        if not cwd or not is_uuid(conversation):
            return False
        return (project_dir(cwd) / f"{conversation}.jsonl").is_file()
