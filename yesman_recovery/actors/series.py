"""Series of the daemon created at 0 from the start; see :mod:`yesman_recovery.metrics.series`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from yesman_recovery.actors.context import SessionState
from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.actors.verdict import REASON_KINDS
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.metrics.series import prime_static

VERDICT_MAX_AGE = 1.0
"""Seconds one verdict serves a scrape's gauges (they are read together, one after another)."""


def prime_daemon_series(metrics: RecoveryMetrics) -> None:
    """Every session state, and every failure kind with every outcome, at 0."""
    prime_static(
        metrics,
        session_states=[s.value for s in SessionState],
        failure_kinds=[k.value for k in FailureKind],
    )


def bind_verdict(metrics: RecoveryMetrics, verdict: Callable[[], dict[str, Any]]) -> None:
    """``yesman_recovery_healthy`` and ``_unhealthy_reasons{reason}`` read ``verdict`` when
    scraped, so the metric, the alert rules on it and ``/healthz`` cannot disagree."""
    lock = threading.Lock()
    cached: list[tuple[float, dict[str, Any]]] = []  # guarded by lock: (monotonic, verdict)

    def current() -> dict[str, Any]:
        with lock:
            now = time.monotonic()
            if not cached or now - cached[0][0] > VERDICT_MAX_AGE:
                try:
                    value = verdict()
                except Exception as exc:  # a scrape must answer; the daemon is not healthy
                    value = {"healthy": False, "reasons": [{"kind": "supervisor"}], "error": exc}
                cached[:] = [(now, value)]
            return cached[0][1]

    metrics.daemon_healthy.set_function(lambda: 1.0 if current().get("healthy") is True else 0.0)

    def count(kind: str) -> Callable[[], float]:
        return lambda: float(sum(r.get("kind") == kind for r in current()["reasons"]))

    for kind in REASON_KINDS:
        metrics.unhealthy_reasons.labels(kind).set_function(count(kind))
