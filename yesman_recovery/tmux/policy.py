"""Which programs are restarted in a restored pane, and with which command.

Only programs whose name is on the allowlist are restarted (as tmux-resurrect does): a shell, a
build or a one-off command is not re-run behind the user's back. A per-program strategy may
rewrite the argv; the built-in one makes Claude Code resume its newest conversation for the
pane's directory instead of starting a new one.

A program's name is the basename of ``argv[0]`` (a login shell's leading ``-`` removed); for an
interpreter (``node``, ``python3``, ``bun``…) it is the script's basename without extension, and a
script inside a ``claude-code`` package is ``claude``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from yesman_recovery.defaults import DEFAULT_PROGRAMS
from yesman_recovery.tmux.records import PaneSnapshot

DEFAULT_SHELLS = frozenset(
    {"sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "nu", "elvish", "xonsh"}
)
INTERPRETERS = frozenset({"node", "nodejs", "bun", "deno", "python", "python3", "ruby", "perl"})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

RestartStrategy = Callable[[Sequence[str], "str | None"], list[str]]
"""Rewrites a program's argv before a restart: ``(argv, cwd) -> argv``."""


def program_name(argv: Sequence[str]) -> str:
    """The name the allowlist knows a program by (see the module docstring)."""
    if not argv:
        return ""
    name = os.path.basename(argv[0]).lstrip("-")
    if name in INTERPRETERS or re.fullmatch(r"python3\.\d+", name):
        script = _script_index(argv)
        if script is not None:
            path = argv[script]
            if "/claude-code/" in path:
                return "claude"
            return os.path.splitext(os.path.basename(path))[0]
    return name


def _script_index(argv: Sequence[str]) -> int | None:
    return next((i for i in range(1, len(argv)) if not argv[i].startswith("-")), None)


def claude_project_dir(cwd: str, home: Path | None = None) -> Path:
    """Claude Code's conversation directory for ``cwd``: non-alphanumerics become ``-``."""
    base = (home if home is not None else Path.home()) / ".claude" / "projects"
    return base / re.sub(r"[^A-Za-z0-9]", "-", cwd)


def newest_conversation(cwd: str, home: Path | None = None) -> str | None:
    """The id of the newest ``<id>.jsonl`` conversation for ``cwd``, or None."""
    try:
        files = [p for p in claude_project_dir(cwd, home).iterdir() if p.suffix == ".jsonl"]
    except OSError:
        return None
    if not files:
        return None
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name)).stem


@dataclass(frozen=True)
class ClaudeResume:
    """Restart Claude Code on its newest conversation: ``claude <flags> --resume <id>``.

    Old ``--resume [id]``, ``-r [id]``, ``--continue`` and ``-c`` flags are dropped (an id is
    dropped only when it looks like a conversation UUID). Without a conversation file for the
    cwd the original argv is returned. ``home`` replaces the user's home directory (tests).
    """

    home: Path | None = None

    def __call__(self, argv: Sequence[str], cwd: str | None) -> list[str]:
        """Return the argv to start; see the class docstring."""
        conversation = newest_conversation(cwd, self.home) if cwd else None
        if conversation is None:
            return list(argv)
        name = os.path.basename(argv[0]).lstrip("-")
        cut = 1
        if name in INTERPRETERS:
            cut = (_script_index(argv) or 0) + 1
        head, flags = list(argv[:cut]), list(argv[cut:])
        kept: list[str] = []
        i = 0
        while i < len(flags):
            flag = flags[i]
            if flag in ("--continue", "-c") or flag.startswith("--resume="):
                i += 1
            elif flag in ("--resume", "-r"):
                i += 2 if i + 1 < len(flags) and _UUID.match(flags[i + 1]) else 1
            else:
                kept.append(flag)
                i += 1
        return [*head, *kept, "--resume", conversation]


def default_strategies() -> Mapping[str, RestartStrategy]:
    """The built-in strategies: Claude Code resumes its conversation."""
    return MappingProxyType({"claude": ClaudeResume()})


@dataclass(frozen=True)
class ProgramPolicy:
    """Decides the command to start in a restored or respawned pane.

    ``allowlist``: program names that may be restarted; ``shells``: names that mean "the pane is
    at its prompt"; ``strategies``: program name → argv rewrite.
    """

    allowlist: frozenset[str] = DEFAULT_PROGRAMS
    shells: frozenset[str] = DEFAULT_SHELLS
    strategies: Mapping[str, RestartStrategy] = field(default_factory=default_strategies)

    def is_shell(self, argv: Sequence[str] | None) -> bool:
        """True iff ``argv`` is one of the ``shells`` (the pane is back at its prompt)."""
        return bool(argv) and program_name(argv or ()) in self.shells

    def program_of(self, pane: PaneSnapshot) -> tuple[str, ...] | None:
        """The program the pane runs or should run: its foreground argv unless that is a shell
        or missing, else the command it was started with or declared."""
        if pane.argv and not self.is_shell(pane.argv):
            return pane.argv
        return pane.command

    def command_for(self, pane: PaneSnapshot) -> list[str] | None:
        """The argv to start in ``pane``, or None (no program, a shell, or not allowlisted)."""
        argv = self.program_of(pane)
        if not argv:
            return None
        name = program_name(argv)
        if name not in self.allowlist or name in self.shells:
            return None
        strategy = self.strategies.get(name)
        return strategy(argv, pane.cwd) if strategy is not None else list(argv)
