"""Series of the daemon created at 0 from the start; see :mod:`yesman_recovery.metrics.series`."""

from __future__ import annotations

from collections.abc import Iterable

from yesman_recovery.actors.agent_resumes import OUTCOMES
from yesman_recovery.actors.context import SessionState
from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.agents.registry import DEFAULT_AGENTS
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.metrics.series import prime_static


def prime_daemon_series(
    metrics: RecoveryMetrics, agents: Iterable[str] = DEFAULT_AGENTS.names
) -> None:
    """Every session state, every failure kind with every outcome, and every agent with every
    resume outcome, at 0."""
    for agent in agents:
        for outcome in OUTCOMES:
            metrics.agent_resumes.labels(agent, outcome)
    prime_static(
        metrics,
        session_states=[s.value for s in SessionState],
        failure_kinds=[k.value for k in FailureKind],
    )
