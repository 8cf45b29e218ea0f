"""Health checks and self-healing: one supervised actor per check.

A check is a :class:`CheckSpec` (probe, heal, :class:`CheckPolicy`); :class:`HealthChecks` holds
what the check actors share and what outlives them; :func:`health_subtree` is the ``health``
supervisor's child spec for any tree (the daemon's or a host's own). See docs/health.md.
"""

from yesman_recovery.health.actor import (
    HealthCheckActor,
    HealthSupervisor,
    RunNow,
    check_child,
    health_subtree,
    restart_child_path,
)
from yesman_recovery.health.build import register_heal
from yesman_recovery.health.check import CheckSpec, HealAction, HealResult, ProbeResult
from yesman_recovery.health.policy import CheckPolicy, CheckState, Status, Suppression, observe
from yesman_recovery.health.service import HealthChecks

__all__ = [
    "CheckPolicy",
    "CheckSpec",
    "CheckState",
    "HealAction",
    "HealResult",
    "HealthCheckActor",
    "HealthChecks",
    "HealthSupervisor",
    "ProbeResult",
    "RunNow",
    "Status",
    "Suppression",
    "check_child",
    "health_subtree",
    "observe",
    "register_heal",
    "restart_child_path",
]
