"""Series of the daemon created at 0 from the start; see :mod:`yesman_recovery.metrics.series`."""

from __future__ import annotations

from yesman_recovery.actors.context import SessionState
from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.metrics.series import prime_static


def prime_daemon_series(metrics: RecoveryMetrics) -> None:
    """Every session state, and every failure kind with every outcome, at 0."""
    prime_static(
        metrics,
        session_states=[s.value for s in SessionState],
        failure_kinds=[k.value for k in FailureKind],
    )
