"""Which programs come back in a restored or respawned pane, and with which command.

Each program has a restart type (:mod:`yesman_recovery.tmux.programs`): ``rules`` map program
patterns to ``permanent``/``transient``/``temporary`` (first match wins), programs a session's
spec declares take that session's type, and anything else is ``temporary`` — typed at the prompt
after a crash, never re-run. A per-program strategy may rewrite the argv; the built-in one makes
Claude Code resume its newest conversation for the pane's directory instead of starting a new
one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from yesman_recovery.tmux.programs import (
    DEFAULT_RULES,
    Ending,
    ProgramRestart,
    RestartRule,
    comes_back,
    ending_of,
    program_name,
    restart_type,
    typed_after,
)
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot

DEFAULT_SHELLS = frozenset(
    {"sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "nu", "elvish", "xonsh"}
)
INTERPRETERS = frozenset({"node", "nodejs", "bun", "deno", "python", "python3", "ruby", "perl"})
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

RestartStrategy = Callable[[Sequence[str], "str | None"], list[str]]
"""Rewrites a program's argv before a restart: ``(argv, cwd) -> argv``."""


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
    """Decides whether and how a pane's program is started again.

    ``rules``: program patterns → restart type, first match wins (see
    :func:`~yesman_recovery.tmux.programs.restart_type`); ``declared``: names of the programs the
    session's spec declares, which take ``declared_restart`` (the session's restart type);
    ``shells``: names that mean "the pane is at its prompt"; ``strategies``: program name →
    argv rewrite.
    """

    rules: tuple[RestartRule, ...] = DEFAULT_RULES
    declared: frozenset[str] = frozenset()
    declared_restart: ProgramRestart = ProgramRestart.PERMANENT
    shells: frozenset[str] = DEFAULT_SHELLS
    strategies: Mapping[str, RestartStrategy] = field(default_factory=default_strategies)

    @classmethod
    def from_names(
        cls,
        transient: frozenset[str] | set[str],
        rules: Sequence[RestartRule] = (),
        **kwargs: object,
    ) -> ProgramPolicy:
        """A policy whose ``rules`` are ``rules`` then ``transient`` names (in sorted order)."""
        named = tuple(RestartRule(n, ProgramRestart.TRANSIENT) for n in sorted(transient))
        return cls(rules=(*rules, *named), **kwargs)  # type: ignore[arg-type]

    def with_spec(self, spec: SessionSnapshot) -> ProgramPolicy:
        """This policy with the programs ``spec`` declares (its panes' simple commands)."""
        names = frozenset(program_name(p.command) for p in spec.panes() if p.command)
        return replace(self, declared=self.declared | names)

    def is_shell(self, argv: Sequence[str] | None) -> bool:
        """True iff ``argv`` is one of the ``shells`` (the pane is back at its prompt)."""
        return bool(argv) and program_name(argv or ()) in self.shells

    def restart_of(self, argv: Sequence[str]) -> ProgramRestart:
        """The restart type of ``argv`` in this session."""
        if program_name(argv) in self.declared:
            return self.declared_restart
        return restart_type(argv, self.rules)

    def program_of(self, pane: PaneSnapshot) -> tuple[str, ...] | None:
        """The program the pane runs or should run: its foreground argv unless that is a shell
        or missing, else the command it was started with or declared."""
        if pane.argv and not self.is_shell(pane.argv):
            return pane.argv
        return pane.command

    def command_for(self, pane: PaneSnapshot, ending: Ending = Ending.LOST) -> list[str] | None:
        """The argv to start in ``pane`` after its program ended by ``ending`` (default: lost
        with its server), or None (no program, a shell, or its type keeps it down)."""
        argv = self.program_of(pane)
        if not argv or self.is_shell(argv):
            return None
        if ending is Ending.LOST and self._ended_before(pane):
            ending = ending_of(pane.exit_status, None)
        if not comes_back(self.restart_of(argv), ending):
            return None
        strategy = self.strategies.get(program_name(argv))
        return strategy(argv, pane.cwd) if strategy is not None else list(argv)

    def _ended_before(self, pane: PaneSnapshot) -> bool:
        # At its shell with a recorded exit: the program had ended before the server was lost.
        return pane.exit_status is not None and self.is_shell(pane.argv) and not pane.jobs

    def typed_for(self, pane: PaneSnapshot) -> list[str] | None:
        """The command line to leave typed (not run) at the prompt of ``pane`` rebuilt after a
        crash: its program when that is ``temporary``, else None."""
        argv = self.program_of(pane)
        if not argv or self.is_shell(argv) or self._ended_before(pane):
            return None
        return list(argv) if typed_after(self.restart_of(argv), Ending.LOST) else None
