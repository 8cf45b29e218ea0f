"""Prometheus metrics, the HTTP endpoint, the Grafana dashboard and the alert rules."""

from yesman_recovery.metrics.definitions import RecoveryMetrics, default_metrics

__all__ = ["RecoveryMetrics", "default_metrics"]
