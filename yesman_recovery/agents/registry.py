"""The agents a daemon knows, and which conversation each running agent pane is on.

:func:`bind_panes` runs once per snapshot of the whole server, for the panes whose program is
an agent. A pane's binding comes from, strongest first:

1. the agent's hook (pane option ``@yr_agent_conversation``), trusted only while the process
   that ran the hook is the pane's program (``@yr_agent_pids`` holds the hook's ancestors);
2. the conversation file the program (or a child of it) holds open (Codex);
3. an id on its command line;
4. evidence: a conversation that started while that process lived and that no other pane is on
   (Gemini, Qwen), or the one conversation of its directory (Aider).

Never two panes on one conversation: when two claim one (``claude --resume X`` typed in two
panes, two aiders in one directory), the strongest signal keeps it, then the process that
started first; the others are unbound and start fresh after a crash, audited "conversation
unknown". Nothing here runs a program or writes a file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

from yesman_recovery.agents.base import Agent, Binding, Source, is_uuid
from yesman_recovery.agents.binding import CONVERSATION_OPTION, PIDS_OPTION
from yesman_recovery.agents.claude import ClaudeCode
from yesman_recovery.agents.codex import Codex
from yesman_recovery.agents.flagged import Aider, CursorAgent, Goose, Opencode
from yesman_recovery.agents.gemini import Gemini, Qwen

logger = logging.getLogger(__name__)

__all__ = [
    "BUILTIN",
    "CONVERSATION_OPTION",
    "DEFAULT_AGENTS",
    "PIDS_OPTION",
    "AgentPane",
    "Agents",
    "bind_by_evidence",
    "bind_panes",
    "distinct",
    "observe",
    "parse_hook_pids",
]

SEEN_MAX = 4096
"""Command lines whose agent :class:`Agents` remembers (a pane's argv rarely changes)."""
EVIDENCE_SLACK = 0.05
"""Seconds a conversation may seem to start before its process (the granularity of a
process's start time)."""

BUILTIN: tuple[Agent, ...] = (
    ClaudeCode(), Codex(), Gemini(), Qwen(), Aider(), Opencode(), CursorAgent(), Goose()
)  # fmt: skip


@dataclass(frozen=True)
class Agents:
    """The agent strategies of one daemon: configured ones (``[agents.NAME]``) first."""

    strategies: tuple[Agent, ...] = BUILTIN
    _seen: dict[tuple[str, ...], Agent | None] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )  # argv → its agent: every snapshot asks for every pane; any thread may fill it

    def agent_for(self, argv: Sequence[str] | None) -> Agent | None:
        """The strategy of the agent ``argv`` runs, or None (not an agent)."""
        if not argv:
            return None
        key = tuple(argv)
        if key in self._seen:
            return self._seen[key]
        found = next((a for a in self.strategies if a.recognises(argv)), None)
        if len(self._seen) >= SEEN_MAX:
            self._seen.clear()
        self._seen[key] = found
        return found

    def named(self, name: str) -> Agent | None:
        """The strategy called ``name``, or None."""
        return next((a for a in self.strategies if a.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        """Every agent's name (the ``agent`` label of the resume metric)."""
        return tuple(dict.fromkeys(a.name for a in self.strategies))


DEFAULT_AGENTS = Agents()


@dataclass(frozen=True)
class AgentPane:
    """What :func:`bind_panes` needs of one pane: its program and what its options say."""

    pane_id: str
    argv: tuple[str, ...]
    cwd: str | None
    pids: tuple[int, ...]
    """The program's pid first, then its children's."""
    hook_conversation: str = ""
    hook_pids: frozenset[int] = field(default_factory=frozenset)


def parse_hook_pids(text: str) -> frozenset[int]:
    """The pids in ``@yr_agent_pids`` (space-separated; anything else ignored)."""
    return frozenset(int(w) for w in text.split() if w.isdigit())


def observe(agent: Agent, pane: AgentPane) -> Binding | None:
    """The binding of one agent pane from its own signals (steps 1 to 3 of the module doc)."""
    hooked = pane.hook_conversation.lower()
    if is_uuid(hooked) and pane.pids and pane.pids[0] in pane.hook_pids:
        return Binding(agent.name, hooked, Source.HOOK)
    held = agent.held_open(pane.pids)
    if held is not None:
        return Binding(agent.name, held, Source.OPEN_FILE)
    on_line = agent.conversation_in(pane.argv, pane.cwd)
    if on_line is not None:
        return Binding(agent.name, on_line, Source.COMMAND_LINE)
    default = agent.default_conversation(pane.cwd)
    if default is not None:
        return Binding(agent.name, default, Source.EVIDENCE)
    return None


def _started(pid: int | None) -> float:
    if pid is None:
        return float("inf")
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return float("inf")


def bind_by_evidence(
    agent: Agent, cwd: str, panes: Sequence[AgentPane], taken: set[str]
) -> dict[str, Binding]:
    """Bind ``panes`` (one agent, one directory, none bound yet) by the conversations of
    ``cwd`` that started while each one's process lived and are not in ``taken``.

    The newest process takes the newest conversation that started after it did, then the next
    newest process the newest of those left, and so on: a conversation never goes to a process
    that started after it, and no two processes get one. A process without such a conversation
    stays unbound. (After a ``/resume`` of an older chat inside the CLI, the process stays on
    the newest one it started: the CLI gives no better signal.)
    """
    starts = sorted(((_started(p.pids[0] if p.pids else None), p) for p in panes), key=_first)
    left = sorted(
        (c for c in agent.candidates(cwd) if c.conversation not in taken),
        key=lambda c: c.started,
    )
    found: dict[str, Binding] = {}
    for started, pane in reversed(starts):
        mine = [c for c in left if c.started >= started - EVIDENCE_SLACK and c.updated >= started]
        if mine:
            left.remove(mine[-1])
            found[pane.pane_id] = Binding(agent.name, mine[-1].conversation, Source.EVIDENCE)
    return found


def _first(item: tuple[float, AgentPane]) -> float:
    return item[0]


_STRENGTH = {Source.HOOK: 0, Source.OPEN_FILE: 1, Source.COMMAND_LINE: 2, Source.EVIDENCE: 3}


def distinct(bindings: Mapping[str, Binding], started: Mapping[str, float]) -> dict[str, Binding]:
    """``bindings`` (by pane id) with no conversation on two panes: the strongest source keeps
    it, then the process that started first (``started``)."""
    owners: dict[tuple[str, str], str] = {}
    for pane_id, binding in sorted(
        bindings.items(),
        key=lambda kv: (_STRENGTH[kv[1].source], started.get(kv[0], float("inf")), kv[0]),
    ):
        owners.setdefault((binding.agent, binding.conversation), pane_id)
    return {
        pane_id: b
        for pane_id, b in bindings.items()
        if owners[(b.agent, b.conversation)] == pane_id
    }


def bind_panes(panes: Iterable[AgentPane], agents: Agents = DEFAULT_AGENTS) -> dict[str, Binding]:
    """The binding of every agent pane among ``panes``, by pane id (see the module doc).

    A strategy that raises (an unreadable store, a malformed file) leaves that pane unbound
    and is logged: it never takes the snapshot, or another pane's binding, down.
    """
    found: dict[str, Binding] = {}
    waiting: dict[tuple[str, str], list[AgentPane]] = {}
    strategies: dict[str, Agent] = {}
    many: dict[str, int] = {}
    for pane in panes:
        agent = agents.agent_for(pane.argv)
        if agent is None:
            continue
        strategies[agent.name] = agent
        try:
            binding = observe(agent, pane)
        except Exception:  # one pane's strange files must not cost every pane its binding
            logger.exception("agent pane %s: its conversation could not be read", pane.pane_id)
            continue
        if binding is not None:
            found[pane.pane_id] = binding
        elif pane.cwd:
            waiting.setdefault((agent.name, pane.cwd), []).append(pane)
        many[pane.pane_id] = pane.pids[0] if pane.pids else 0
    taken = {b.conversation for b in found.values()}
    for (name, cwd), group in waiting.items():
        try:
            found.update(bind_by_evidence(strategies[name], cwd, group, taken))
        except Exception:
            logger.exception("agent %s in %s: conversations could not be read", name, cwd)
    if len({(b.agent, b.conversation) for b in found.values()}) == len(found):
        return found
    started = {pane_id: _started(pid or None) for pane_id, pid in many.items()}
    return distinct(found, started)
