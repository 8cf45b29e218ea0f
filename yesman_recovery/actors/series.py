"""Series of the daemon created at 0 from the start; see :mod:`yesman_recovery.metrics.series`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from yesman_recovery.actors.agent_resumes import OUTCOMES
from yesman_recovery.actors.context import SessionState
from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.actors.verdict import REASON_KINDS
from yesman_recovery.agents.registry import DEFAULT_AGENTS
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.metrics.series import prime_static

VERDICT_MAX_AGE = 1.0
"""Seconds one verdict serves ``/healthz`` and a scrape's gauges (as ``/status`` is cached)."""


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


def cached_verdict(
    verdict: Callable[[], dict[str, Any]], max_age: float = VERDICT_MAX_AGE
) -> Callable[[], dict[str, Any]]:
    """``verdict`` asked at most once per ``max_age`` seconds (it asks every session actor):
    ``/healthz`` and a scrape's gauges then cost a lookup, and agree with each other.

    Thread-safe; a caller arriving while it is computed waits for that one computation. A
    verdict that raises is an unhealthy one (its reason says why), never an error.
    """
    lock = threading.Lock()
    cached: list[tuple[float, dict[str, Any]]] = []  # guarded by lock: (monotonic, verdict)

    def current() -> dict[str, Any]:
        with lock:
            now = time.monotonic()
            if not cached or now - cached[0][0] > max_age:
                try:
                    value = verdict()
                except Exception as exc:
                    reason = {"kind": "supervisor", "subject": "daemon", "detail": repr(exc)}
                    value = {"healthy": False, "reasons": [reason]}
                cached[:] = [(now, value)]
            return cached[0][1]

    return current


def bind_verdict(metrics: RecoveryMetrics, verdict: Callable[[], dict[str, Any]]) -> None:
    """``yesman_recovery_healthy`` and ``_unhealthy_reasons{reason}`` read ``verdict`` (a
    :func:`cached_verdict`) when scraped, so the metric, the alert rules on it and ``/healthz``
    cannot disagree."""
    metrics.daemon_healthy.set_function(lambda: 1.0 if verdict().get("healthy") is True else 0.0)

    def count(kind: str) -> Callable[[], float]:
        return lambda: float(sum(r.get("kind") == kind for r in verdict()["reasons"]))

    for kind in REASON_KINDS:
        metrics.unhealthy_reasons.labels(kind).set_function(count(kind))
