"""What every agent CLI strategy shares: the :class:`Agent` base, argv surgery, the home.

Strategies (one per CLI, in the sibling modules)
are small frozen objects that recognise their program, read an id from a command line, build
the argv that resumes a conversation or starts a fresh one, and say whether a conversation still
exists. They never run anything: an argv is returned to the caller, which hands it to tmux as
quoted words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from yesman_recovery.agents.binding import (
    SAFE_ID,
    UUID,
    Binding,
    Source,
    is_safe_id,
    is_uuid,
)
from yesman_recovery.tmux.programs import NODES, PYTHONS, program_name

__all__ = [
    "SAFE_ID",
    "UUID",
    "Agent",
    "Binding",
    "Candidate",
    "Source",
    "home",
    "is_safe_id",
    "is_uuid",
    "project_slug",
    "recognised",
    "split_head",
    "take",
]

_INTERPRETERS = frozenset({"bun", "deno"})


def split_head(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the words that start the program, its arguments).

    ``claude -c`` → ``(["claude"], ["-c"])``; ``node /…/cli.js -c`` → ``(["node", "/…/cli.js"],
    ["-c"])``: an interpreter's own options and its script stay in the head.
    """
    exe = os.path.basename(argv[0]).lstrip("-") if argv else ""
    if exe in NODES or exe in _INTERPRETERS or PYTHONS.match(exe):
        for i in range(1, len(argv)):
            if not argv[i].startswith("-"):
                return list(argv[: i + 1]), list(argv[i + 1 :])
    return list(argv[:1]), list(argv[1:])


def recognised(argv: Sequence[str], names: Iterable[str], packages: Iterable[str]) -> bool:
    """True iff ``argv`` runs one of ``names``, or a script inside one of ``packages``."""
    if not argv:
        return False
    if program_name(argv) in set(names):
        return True
    head, _ = split_head(argv)
    return len(head) > 1 and any(p in head[-1] for p in packages)


def take(
    args: Sequence[str],
    valued: Iterable[str] = (),
    optional: Iterable[str] = (),
    bare: Iterable[str] = (),
) -> tuple[list[str], list[str]]:
    """(``args`` without the named flags, the values they carried, in order).

    ``valued`` flags always take the next word (or ``=value``); ``optional`` ones take it only
    when it does not start with ``-``; ``bare`` ones take none. ``--`` ends the flags.
    """
    valued, optional, bare = set(valued), set(optional), set(bare)
    kept: list[str] = []
    values: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if arg == "--":
            kept += args[i:]
            break
        if eq and name.startswith("--") and name in valued | optional:
            values.append(value)
        elif arg in valued:
            if i + 1 < len(args):
                values.append(args[i + 1])
            i += 1
        elif arg in optional:
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                values.append(args[i + 1])
                i += 1
        elif arg not in bare:
            kept.append(arg)
        i += 1
    return kept, values


def home() -> Path:
    """The user's home directory (``$HOME``), read at each call."""
    return Path(os.environ.get("HOME") or Path.home())


def project_slug(cwd: str) -> str:
    """A directory as Claude Code and Qwen Code name its project folder: every character that
    is not a letter or digit becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9]", "-", cwd)


@dataclass(frozen=True)
class Candidate:
    """A conversation file that may be a running agent's: its id, when its conversation
    started and when it was last written (wall seconds)."""

    conversation: str
    started: float
    updated: float


class Agent:
    """One agent CLI: the defaults are those of a CLI whose conversation is known only from its
    command line; each strategy overrides what its CLI does differently.

    ``name`` is the agent's label (metrics, audit, ``sessions list``). Strategies hold no
    mutable state and are safe to share between threads.
    """

    name = ""

    def recognises(self, argv: Sequence[str]) -> bool:
        """True iff ``argv`` runs this agent."""
        raise NotImplementedError

    def conversation_in(self, argv: Sequence[str], cwd: str | None) -> str | None:
        """The conversation id on the command line ``argv``, or None."""
        return None

    def resume(self, argv: Sequence[str], conversation: str) -> list[str]:
        """``argv`` on conversation ``conversation``: the user's other flags kept, stale resume
        flags dropped."""
        raise NotImplementedError

    def fresh(self, argv: Sequence[str]) -> list[str]:
        """``argv`` on a fresh conversation: stale resume flags dropped (an id the project
        chooses added, where the CLI takes one)."""
        raise NotImplementedError

    def exists(self, conversation: str, cwd: str | None) -> bool:
        """True iff ``conversation`` can still be resumed (its files are there). A CLI whose
        store cannot be read says True: the id came from the user's own command line."""
        return True

    def held_open(self, pids: Sequence[int]) -> str | None:
        """The conversation whose file one of ``pids`` holds open, or None."""
        return None

    def candidates(self, cwd: str) -> list[Candidate]:
        """Conversation files of ``cwd``'s project, for binding by evidence (empty: none)."""
        return []

    def default_conversation(self, cwd: str | None) -> str | None:
        """The conversation every instance in ``cwd`` is on by default (Aider's history file)."""
        return None
