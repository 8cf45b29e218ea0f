"""Prometheus metrics: their definitions and exposition, the Grafana dashboard, the alert rules.

The HTTP endpoint that serves them lives in :mod:`yesman_recovery.actors.http`.
"""

from yesman_recovery.metrics.definitions import RecoveryMetrics, default_metrics

__all__ = ["RecoveryMetrics", "default_metrics"]
