"""Health checks and self-healing: one supervised actor per check.

A check is a :class:`CheckSpec` (probe, heal, :class:`CheckPolicy`); :class:`HealthChecks` holds
what the check actors share and what outlives them; :func:`health_subtree` is the ``health``
supervisor's child spec for any tree (the daemon's or a host's own). See docs/health.md.

The names below are imported on first use (PEP 562): the configuration schema imports
:mod:`.policy`, and the command line must not pay for actors, psutil and asyncio to parse a file.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yesman_recovery.health.actor import HealthCheckActor
    from yesman_recovery.health.build import register_heal
    from yesman_recovery.health.check import CheckSpec, HealAction, HealResult, ProbeResult
    from yesman_recovery.health.policy import CheckPolicy, CheckState, Status, Suppression, observe
    from yesman_recovery.health.service import HealthChecks, RunNow, restart_child_path
    from yesman_recovery.health.tree import (
        HealthSupervisor,
        check_child,
        health_subtree,
    )

_WHERE = {
    "HealthCheckActor": "actor",
    "HealthSupervisor": "tree",
    "RunNow": "service",
    "check_child": "tree",
    "health_subtree": "tree",
    "restart_child_path": "service",
    "register_heal": "build",
    "CheckSpec": "check",
    "HealAction": "check",
    "HealResult": "check",
    "ProbeResult": "check",
    "CheckPolicy": "policy",
    "CheckState": "policy",
    "Status": "policy",
    "Suppression": "policy",
    "observe": "policy",
    "HealthChecks": "service",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
