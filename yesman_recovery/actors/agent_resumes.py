"""Pure: which agent panes a recovery resumes, and whether each came back on its conversation.

Before a restore or a respawn, :func:`plan_resumes` lists every agent pane that will start and
the conversation it resumes (the same :meth:`~yesman_recovery.tmux.policy.ProgramPolicy.
agent_start` decision the plan uses), or why it starts fresh. A resume is **own** only once the
binding is seen again after the restart, by the same kind of signal it was known by when that
is a live one (the SessionStart hook fires again, the rollout file is held open again); an id
only ever known from the command line is seen again on the new command line. One not seen
within :data:`SEEN_WITHIN` seconds, or that exits with a failure first, is **failed**, and its
pane starts fresh the next time (:func:`without_binding`), so a resume never crash-loops; a
fresh start is **fresh** at once.
:class:`ResumeWatch` holds the resumes waiting to be seen (owned by the session actor's thread).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from yesman_recovery.actors.diagnosis import PaneKey, pane_map
from yesman_recovery.agents.binding import Source
from yesman_recovery.agents.resumes import Why
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot

SEEN_WITHIN = 20.0
"""Seconds a resumed agent has to show its conversation again (an agent's start is slow)."""
LIVE = frozenset({Source.HOOK, Source.OPEN_FILE})
OWN, FRESH, FAILED = "own", "fresh", "failed"
OUTCOMES = (OWN, FRESH, FAILED)
"""The ``outcome`` label of ``yesman_recovery_agent_resumes_total``."""


@dataclass(frozen=True)
class AgentResume:
    """One agent pane a recovery starts: ``conversation`` is the one it resumes (None: a fresh
    start), ``source`` how that was known, ``why`` the reason."""

    key: PaneKey
    agent: str
    conversation: str | None
    source: Source | None
    why: Why

    @property
    def where(self) -> str:
        """``window W pane P``."""
        return f"window {self.key[0]} pane {self.key[1]}"

    def describe(self) -> str:
        """One line for the audit trail."""
        if self.conversation is None:
            return f"{self.where} {self.agent} fresh ({self.why.value})"
        return f"{self.where} {self.agent} resumes {self.conversation} (known by {self.source})"


def plan_resumes(
    session: SessionSnapshot | None,
    policy: ProgramPolicy,
    keys: Iterable[PaneKey] | None = None,
) -> list[AgentResume]:
    """The agent panes of ``session`` (those at ``keys`` only, when given) that come back."""
    if session is None:
        return []
    wanted = None if keys is None else set(keys)
    found = []
    for key, pane in pane_map(session).items():
        if wanted is not None and key not in wanted:
            continue
        start = policy.agent_start(pane)
        if start is None:
            continue
        binding = start.resumes
        found.append(
            AgentResume(
                key,
                start.agent,
                None if binding is None else binding.conversation,
                None if binding is None else binding.source,
                start.why,
            )
        )
    return found


def summary(resumes: Sequence[AgentResume]) -> str:
    """``agents: …; …`` for a recovery's audit record (empty without agents)."""
    return "agents: " + "; ".join(r.describe() for r in resumes) if resumes else ""


def seen(resume: AgentResume, pane: PaneSnapshot | None) -> bool:
    """True iff ``pane`` shows ``resume``'s conversation again (see the module docstring)."""
    bound = pane.agent if pane is not None else None
    if bound is None or bound.agent != resume.agent or bound.conversation != resume.conversation:
        return False
    return resume.source not in LIVE or bound.source == resume.source


def _ended(pane: PaneSnapshot) -> bool:
    """True iff the pane's program has ended with a failure (dead, or back at its shell with a
    non-zero status): a resume that exits at once."""
    if pane.dead:
        return pane.dead_status not in (None, 0) or bool(pane.dead_signal)
    return pane.exit_status not in (None, 0) and pane.agent is None


def without_binding(session: SessionSnapshot, key: PaneKey) -> SessionSnapshot:
    """``session`` with the pane at ``key`` unbound: a conversation that failed to resume is
    not resumed again (the pane starts fresh), so a resume can never crash-loop."""
    windows = []
    for wpos, window in enumerate(session.windows):
        index = window.index if window.index is not None else wpos
        panes = tuple(
            replace(p, agent=None) if (index, ppos) == key else p
            for ppos, p in enumerate(window.panes)
        )
        windows.append(replace(window, panes=panes))
    return replace(session, windows=tuple(windows))


@dataclass(frozen=True)
class Verdict:
    """A resume's outcome (:data:`OUTCOMES`) and the audit line that says so."""

    resume: AgentResume
    outcome: str
    detail: str


class ResumeWatch:
    """The resumes of this session waiting to be seen again, with their deadlines."""

    def __init__(self, within: float = SEEN_WITHIN) -> None:
        self.within = within
        self._pending: dict[PaneKey, tuple[AgentResume, float]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def started(self, resumes: Sequence[AgentResume], now: float) -> list[Verdict]:
        """Watch ``resumes`` from ``now``; the fresh starts' verdicts, at once."""
        verdicts = []
        for r in resumes:
            if r.conversation is None:
                self._pending.pop(r.key, None)
                verdicts.append(Verdict(r, FRESH, f"{r.where}: {r.agent} started fresh: {r.why}"))
            else:
                self._pending[r.key] = (r, now + self.within)
        return verdicts

    def check(self, actual: SessionSnapshot, now: float) -> list[Verdict]:
        """Verdicts for the resumes ``actual`` shows again, or whose deadline passed."""
        if not self._pending:
            return []
        panes = pane_map(actual)
        verdicts = []
        for key, (r, deadline) in list(self._pending.items()):
            pane = panes.get(key)
            if seen(r, pane):
                assert pane is not None
                assert pane.agent is not None
                how = pane.agent.source
                verdicts.append(
                    Verdict(r, OWN, f"{r.where}: {r.agent} on its own conversation "
                                    f"{r.conversation} (seen again: {how})")
                )  # fmt: skip
            elif pane is not None and _ended(pane):
                verdicts.append(
                    Verdict(r, FAILED, f"{r.where}: {r.agent} exited before it was seen on "
                                       f"{r.conversation}; it starts fresh next time")
                )  # fmt: skip
            elif now >= deadline:
                on = pane.agent.conversation if pane is not None and pane.agent else "none seen"
                verdicts.append(
                    Verdict(r, FAILED, f"{r.where}: {r.agent} not seen on {r.conversation} "
                                       f"within {self.within:g} s (conversation: {on})")
                )  # fmt: skip
            else:
                continue
            del self._pending[key]
        return verdicts
