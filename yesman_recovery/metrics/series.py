"""Labelled series created at 0 as soon as their subject exists.

A counter that first appears with the value 1 has no earlier sample, so Prometheus'
``increase()``/``rate()`` read the first event as no change and an ``increase(...) > 0`` alert
misses it. Every label value known in advance (failure kinds, outcomes, session states,
checkpoint operations) is therefore created at start, and the per-subject ones (supervisors and
their children) when the subject appears. Retry policies and circuit breakers create theirs when
they are built (:mod:`yesman_recovery.resilience`), transactions in
:class:`~yesman_recovery.metrics.definitions.RecoveryMetrics` itself.

Label values that depend on input (an unknown transaction action, an error outcome of a rare
store operation) still appear on first use; labels stay bounded either way.
"""

from __future__ import annotations

from collections.abc import Iterable

from yesman_recovery.labels import Outcome
from yesman_recovery.metrics.definitions import RecoveryMetrics

RESTART_REASONS = ("crashed", "start_failed", "normal", "sibling")
"""The ``reason`` label of ``child_restarts_total``: an exit kind that restarts, or ``sibling``
when the child was restarted with another one (one_for_all, rest_for_one)."""

CHECKPOINT_SERIES = (
    ("create", "ok"), ("create", "deduplicated"), ("create", "error"),
    ("restore", "ok"), ("restore", "corrupt"), ("restore", "not_found"),
    ("latest_good", "ok"), ("latest_good", "fell_back"), ("latest_good", "corrupt"),
    ("journal_append", "ok"), ("journal_append", "error"),
    ("audit_append", "ok"), ("audit_append", "error"),
    ("prune", "ok"), ("maintain", "error"),
)  # fmt: skip
"""``(op, outcome)`` pairs of ``checkpoints_total`` that dashboards and alerts name."""


def prime_static(
    metrics: RecoveryMetrics, *, session_states: Iterable[str], failure_kinds: Iterable[str]
) -> None:
    """Create every series whose labels are fixed by the program: kinds, outcomes, states.

    The session states and failure kinds are the actors' enums, passed in by the layer that
    knows them (this one sits below the actors).
    """
    for state in session_states:
        metrics.sessions.labels(state)
    for kind in failure_kinds:
        metrics.recovery_duration.labels(kind)
        metrics.failure_detection.labels(kind)
        for outcome in Outcome:
            metrics.recoveries.labels(kind, outcome.value)
    for op, result in CHECKPOINT_SERIES:
        metrics.checkpoints.labels(op, result)
    for op in {op for op, _ in CHECKPOINT_SERIES} - {"maintain"}:
        metrics.checkpoint_duration.labels(op)


def prime_supervisor(metrics: RecoveryMetrics, name: str, child_ids: Iterable[str]) -> None:
    """Create a supervisor's give-up counter and each child's restart counters."""
    metrics.restart_intensity_exceeded.labels(name)
    metrics.children_abandoned.labels(name)
    for child in child_ids:
        for reason in RESTART_REASONS:
            metrics.child_restarts.labels(name, child, reason)
