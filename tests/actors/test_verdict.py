"""The health verdict: which failures make ``/healthz`` answer 503, and which do not."""

from __future__ import annotations

from typing import Any

from yesman_recovery.actors.context import Observation, ObservationKind, ServerReachability
from yesman_recovery.actors.verdict import health_verdict
from yesman_recovery.config.model import HealthzConfig

DECLARED_FAILED = {"name": "agent", "mode": "declared", "state": "failed", "detail": "gave up"}
ADOPTED_FAILED = {"name": "mine", "mode": "adopted", "state": "failed", "detail": "gave up"}
RECOVERING = {"name": "agent", "mode": "declared", "state": "recovering", "detail": ""}


def verdict(
    sessions: list[dict[str, Any]] | None = None,
    *,
    server: dict[str, Any] | None = None,
    policy: HealthzConfig | None = None,
    critical: tuple[str, ...] = (),
    running: bool = True,
) -> dict[str, Any]:
    return health_verdict(
        running=running, stopping=False, sessions=sessions or [], critical_failing=critical,
        server=server, policy=policy or HealthzConfig(),
    )  # fmt: skip


def kinds(v: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["kind"], r["subject"]) for r in v["reasons"]]


def test_a_failed_declared_session_is_unhealthy_an_adopted_one_only_when_asked() -> None:
    assert kinds(verdict([DECLARED_FAILED])) == [("session_failed", "agent")]
    assert verdict([ADOPTED_FAILED]) == {"healthy": True, "reasons": []}
    everything = HealthzConfig(sessions="all")
    assert kinds(verdict([ADOPTED_FAILED], policy=everything)) == [("session_failed", "mine")]
    assert verdict([DECLARED_FAILED], policy=HealthzConfig(sessions="none"))["healthy"] is True
    assert verdict([RECOVERING])["healthy"] is True  # the daemon is doing its job


def test_an_unreachable_server_counts_past_its_grace_while_a_session_is_kept() -> None:
    gone = {"label": "-L x", "unreachable_for": 31.0, "detail": "no server running"}
    v = verdict([RECOVERING], server=gone)
    assert kinds(v) == [("server_unreachable", "-L x")]
    assert "not answered for 31.0s (grace 30s): no server running" in v["reasons"][0]["detail"]
    assert verdict([RECOVERING], server={**gone, "unreachable_for": 29.0})["healthy"] is True
    assert verdict([], server=gone)["healthy"] is True  # nothing to keep there
    off = HealthzConfig(server_grace=None)
    assert verdict([RECOVERING], server=gone, policy=off)["healthy"] is True


def test_a_critical_check_and_a_dead_root_are_unhealthy() -> None:
    assert kinds(verdict(critical=("disk",))) == [("critical_check", "disk")]
    assert verdict(critical=("disk",), policy=HealthzConfig(critical_checks=False))["healthy"]
    assert kinds(verdict(running=False)) == [("supervisor", "root")]


def test_reachability_counts_from_the_first_look_without_an_answer() -> None:
    seen = ServerReachability()
    assert seen.describe(5.0)["unreachable_for"] is None
    seen.observed(Observation(ObservationKind.GONE, None, 10.0, detail="no server"))
    seen.observed(Observation(ObservationKind.TIMEOUT, None, 12.0, detail="timed out"))
    assert seen.describe(40.0) == {"reachable": False, "unreachable_for": 30.0,
                                   "detail": "timed out"}  # fmt: skip
    seen.observed(Observation(ObservationKind.ERROR, None, 41.0, detail="refused"))
    assert seen.describe(42.0)["reachable"] is True  # it answered, with an error
