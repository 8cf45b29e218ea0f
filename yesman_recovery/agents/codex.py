"""Codex CLI (``codex``, Rust behind a node launcher): ``codex resume <id>``.

Conversations ("rollouts") live in ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl``
(``$CODEX_HOME`` defaults to ``~/.codex``); the first line is
``{"type":"session_meta","payload":{"id":…,"cwd":…}}``. The running process keeps its rollout
open, so a pane's conversation is read from ``/proc/PID/fd`` of the program and its children
(the npm launcher runs the native binary as a child). A truncated first line falls back to the
uuid in the file's name. ``resume --last`` (the newest anywhere) and the picker are dropped on
a resume: they are guesses.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from yesman_recovery.agents.base import Agent, home, is_uuid, recognised, split_head, take

_ROLLOUT = re.compile(
    r"rollout-[0-9T:-]+-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})\.jsonl$"
)
_HEAD_BYTES = 64 * 1024


def codex_home() -> Path:
    """``$CODEX_HOME``, else ``~/.codex``."""
    return Path(os.environ.get("CODEX_HOME") or home() / ".codex")


def rollout_id(path: str) -> str | None:
    """The conversation id of the rollout file ``path``: its first line's ``session_meta``
    payload id, else the uuid in its name, else None (not a rollout)."""
    named = _ROLLOUT.search(os.path.basename(path))
    if named is None:
        return None
    try:
        with open(path, "rb") as f:
            first = f.read(_HEAD_BYTES).split(b"\n", 1)[0]
        meta = json.loads(first)
        found = meta["payload"]["id"] if meta.get("type") == "session_meta" else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        found = None
    return (found if isinstance(found, str) and is_uuid(found) else named.group(1)).lower()


class Codex(Agent):
    """Codex CLI (see the module docstring)."""

    name = "codex"

    def recognises(self, argv: Sequence[str]) -> bool:
        return recognised(argv, ("codex",), ("/@openai/codex/",))

    def _split(self, argv: Sequence[str]) -> tuple[list[str], list[str], str | None]:
        head, args = split_head(argv)
        if not args or args[0] not in ("resume", "fork"):
            return head, list(args), None
        rest, _ = take(args[1:], (), (), ("--last", "--all"))
        positional = [a for a in rest if not a.startswith("-")]
        conversation = positional[0] if positional and is_uuid(positional[0]) else None
        if conversation is not None:
            rest.remove(conversation)
        return head, rest, conversation

    def conversation_in(self, argv: Sequence[str], cwd: str | None) -> str | None:
        _, args = split_head(argv)
        if args[:1] != ["resume"]:
            return None  # ``fork`` starts a new conversation from an old one
        conversation = self._split(argv)[2]
        return conversation.lower() if conversation else None

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        head, rest, _ = self._split(argv)
        return [*head, "resume", conversation, *rest]

    def fresh(self, argv: Sequence[str]) -> list[str]:
        head, rest, _ = self._split(argv)
        return [*head, *rest]

    def exists(self, conversation: str, cwd: str | None) -> bool:
        if not is_uuid(conversation):
            return False
        sessions = codex_home() / "sessions"
        return any(sessions.glob(f"*/*/*/rollout-*-{conversation}.jsonl"))

    def held_open(self, pids: Sequence[int]) -> str | None:
        for pid in pids:
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.endswith(".jsonl") and "/sessions/" in target:
                    found = rollout_id(target)
                    if found is not None:
                        return found
        return None
