"""Which programs come back in a restored or respawned pane, and with which command.

Each program has a restart type (:mod:`yesman_recovery.tmux.programs`): ``rules`` map program
patterns to ``permanent``/``transient``/``temporary`` (first match wins), programs a session's
spec declares take that session's type, and anything else is ``temporary`` — typed at the prompt
after a crash, never re-run. An agent CLI (:mod:`yesman_recovery.agents`) comes back on the
conversation its pane is bound to, or on a fresh one when that is gone or was never known —
never on a guess such as the newest conversation of the directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from yesman_recovery.agents.registry import DEFAULT_AGENTS, Agents
from yesman_recovery.agents.resumes import AgentStart, decide
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


@dataclass(frozen=True)
class ProgramPolicy:
    """Decides whether and how a pane's program is started again.

    ``rules``: program patterns → restart type, first match wins (see
    :func:`~yesman_recovery.tmux.programs.restart_type`); ``declared``: names of the programs the
    session's spec declares, which take ``declared_restart`` (the session's restart type);
    ``shells``: names that mean "the pane is at its prompt"; ``agents``: the agent CLIs whose
    panes resume their own conversation.
    """

    rules: tuple[RestartRule, ...] = DEFAULT_RULES
    declared: frozenset[str] = frozenset()
    declared_restart: ProgramRestart = ProgramRestart.PERMANENT
    shells: frozenset[str] = DEFAULT_SHELLS
    agents: Agents = DEFAULT_AGENTS

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
        """The restart type of ``argv`` in this session. An agent run as a script whose name is
        not the agent's (``node …/@google/gemini-cli/dist/index.js``) also matches the rules by
        the agent's name (``gemini``)."""
        name = program_name(argv)
        if name in self.declared:
            return self.declared_restart
        found = restart_type(argv, self.rules)
        if found is ProgramRestart.TEMPORARY:
            agent = self.agents.agent_for(argv)
            if agent is not None and agent.name != name:
                return restart_type([agent.name], self.rules)
        return found

    def program_of(self, pane: PaneSnapshot) -> tuple[str, ...] | None:
        """The program the pane runs or should run: its foreground argv unless that is a shell
        or missing, else the command it was started with or declared."""
        if pane.argv and not self.is_shell(pane.argv):
            return pane.argv
        return pane.command

    def _returning(self, pane: PaneSnapshot, ending: Ending) -> tuple[str, ...] | None:
        argv = self.program_of(pane)
        if not argv or self.is_shell(argv):
            return None
        if ending is Ending.LOST and self._ended_before(pane):
            ending = ending_of(pane.exit_status, None)
        return argv if comes_back(self.restart_of(argv), ending) else None

    def command_for(self, pane: PaneSnapshot, ending: Ending = Ending.LOST) -> list[str] | None:
        """The argv to start in ``pane`` after its program ended by ``ending`` (default: lost
        with its server), or None (no program, a shell, or its type keeps it down). An agent
        gets its own conversation's argv (:meth:`agent_start`)."""
        argv = self._returning(pane, ending)
        if argv is None:
            return None
        agent = self.agents.agent_for(argv)
        return list(argv) if agent is None else decide(agent, argv, pane.agent, pane.cwd).argv

    def agent_start(self, pane: PaneSnapshot, ending: Ending = Ending.LOST) -> AgentStart | None:
        """How the agent of ``pane`` comes back (see :func:`~yesman_recovery.agents.resumes.
        decide`), or None when its program is no agent or does not come back."""
        argv = self._returning(pane, ending)
        agent = self.agents.agent_for(argv)
        if argv is None or agent is None:
            return None
        return decide(agent, argv, pane.agent, pane.cwd)

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
