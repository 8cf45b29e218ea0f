"""What an agent pane starts when it comes back: its own conversation, or a fresh one.

:func:`decide` is the one decision, used by restores, respawns and the audit alike: a pane bound
to a conversation that still exists resumes it (the CLI's own flag, the user's other flags
kept); a pane whose conversation is gone, or was never known, starts fresh — never on a guess
such as "the newest conversation of the directory", and never again on a conversation that is
gone, so a deleted transcript cannot crash-loop the pane.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from yesman_recovery.agents.base import Agent, Binding

logger = logging.getLogger(__name__)


class Why(enum.StrEnum):
    """Why an agent pane starts where it does."""

    OWN = "own conversation"
    GONE = "conversation gone"
    UNKNOWN = "conversation unknown"


@dataclass(frozen=True)
class AgentStart:
    """An agent's start: the argv, the conversation it resumes (None: fresh), and why."""

    argv: list[str]
    agent: str
    resumes: Binding | None
    why: Why


def decide(
    agent: Agent, argv: Sequence[str], binding: Binding | None, cwd: str | None
) -> AgentStart:
    """The start of ``agent`` (run as ``argv``) in a pane bound to ``binding``."""
    why = Why.UNKNOWN
    if binding is not None and binding.agent == agent.name:
        try:
            there = agent.exists(binding.conversation, cwd)
        except Exception:  # an unreadable store: resuming could crash-loop; start fresh
            logger.exception("agent %s: cannot tell whether %s exists", agent.name, binding)
            there = False
        if there:
            return AgentStart(
                agent.resume(argv, binding.conversation), agent.name, binding, Why.OWN
            )
        why = Why.GONE
    return AgentStart(agent.fresh(argv), agent.name, None, why)
