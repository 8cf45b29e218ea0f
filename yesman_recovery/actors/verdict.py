"""Pure: the daemon's health verdict — what ``/healthz``, ``status`` and the metric all say.

The daemon is *unhealthy*, and ``/healthz`` answers 503 with the reasons, when any of these
holds (``[metrics.healthz]`` decides which count):

- its root supervisor is not running, or it is stopping (always);
- a watched session is ``failed``: its recovery was given up on and waits for its next attempt
  or an operator (``sessions = "declared"``, the default: declared sessions only, since an
  adopted session is the user's own; ``"all"``; ``"none"``);
- the watched tmux server has not answered for longer than ``server_grace`` (30 s; ``"off"``)
  while the daemon has a session to keep there: a crash is normally undone within seconds;
- a critical health check fails (``critical_checks``, true).

Not counted: a session being recovered, frozen, paused or waiting for its server — the daemon
is doing its job. The systemd watchdog does not follow this verdict: restarting the daemon
cures none of these, so its keep-alives follow the root supervisor alone.

A verdict is JSON: ``{"healthy": bool, "reasons": [{"kind", "subject", "detail"}]}``; ``kind``
is one of :data:`REASON_KINDS` (also the ``reason`` label of ``yesman_recovery_unhealthy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from yesman_recovery.config.model import HealthzConfig

REASON_KINDS = ("supervisor", "session_failed", "server_unreachable", "critical_check")
_KEPT = frozenset({"starting", "waiting", "healthy", "recovering", "frozen", "failed"})
"""Session states in which the daemon keeps the session on the server (not paused/released)."""


def health_verdict(
    *,
    running: bool,
    stopping: bool,
    sessions: Sequence[dict[str, Any]],
    critical_failing: Sequence[str],
    server: dict[str, Any] | None,
    policy: HealthzConfig,
) -> dict[str, Any]:
    """The verdict from the daemon's parts; ``server`` is ``ServerReachability.describe()``."""
    reasons: list[dict[str, str]] = []

    def reason(kind: str, subject: str, detail: str) -> None:
        reasons.append({"kind": kind, "subject": subject, "detail": detail})

    if stopping:
        reason("supervisor", "root", "the daemon is stopping")
    elif not running:
        reason("supervisor", "root", "the root supervisor is not running (it gave up)")
    for session in sessions:
        counted = policy.sessions == "all" or (
            policy.sessions == "declared" and session.get("mode") == "declared"
        )
        if counted and session.get("state") == "failed":
            detail = str(session.get("detail") or "recovery given up")
            reason("session_failed", str(session.get("name")), f"failed: {detail}")
    unreachable = (server or {}).get("unreachable_for")
    keeps = any(s.get("state") in _KEPT for s in sessions)
    grace = policy.server_grace
    if grace is not None and isinstance(unreachable, int | float) and unreachable > grace and keeps:
        assert server is not None
        why = str(server.get("detail") or "no answer")
        reason(
            "server_unreachable",
            str(server.get("label", "tmux")),
            f"the tmux server has not answered for {unreachable:.1f}s (grace {grace:g}s): {why}",
        )
    if policy.critical_checks:
        for name in critical_failing:
            reason("critical_check", name, "a critical health check is failing")
    return {"healthy": not reasons, "reasons": reasons}
