"""``MetricsServer``: the actor that owns the HTTP endpoint (/metrics, /healthz, /status).

The HTTP server runs its own threads; the actor only starts it in ``on_start`` (so a port that
cannot be bound is a failed start, told apart from a later crash) and stops it in ``on_stop``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from yesman_recovery.actors.http import StatusServer
from yesman_recovery.supervisors.actor import SupervisedActor


class MetricsServer(SupervisedActor):
    """Serves the registry and the tree's health and status on ``host:port`` (port 0 = any)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        healthy: Callable[[], bool],
        status: Callable[[], dict[str, Any]],
        *,
        critical_failures: Callable[[], list[str]] | None = None,
        verdict: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self._server = StatusServer(
            host, port, registry, healthy=healthy, status=status,
            critical_failures=critical_failures, verdict=verdict,
        )  # fmt: skip

    def on_start(self) -> None:
        self._server.start()

    def on_stop(self) -> None:
        self._server.stop()

    def on_failure(self, *_exc_info: Any) -> None:
        self._server.stop()

    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        return self._server.address
