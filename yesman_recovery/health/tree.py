"""The ``health`` subtree: its supervisor and one child per check.

:func:`health_subtree` gives the ``ChildSpec`` of a ``health`` supervisor for any tree (the
daemon's or a host's own).
"""

from __future__ import annotations

from typing import Any

from yesman_recovery.health.actor import HealthCheckActor
from yesman_recovery.health.check import CheckSpec
from yesman_recovery.health.service import HealthChecks
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.spec import ChildSpec, Strategy
from yesman_recovery.supervisors.supervisor import Supervisor


class HealthSupervisor(Supervisor):
    """The ``health`` supervisor; publishes its ref to :class:`HealthChecks` while it runs."""

    def __init__(self, checks: HealthChecks, **kwargs: Any) -> None:
        # The checks known now, not those of the first start: a reload may have added or
        # removed some since, and a restart of this supervisor starts what is configured.
        kwargs["children"] = [check_child(s, checks) for s in checks.specs()]
        super().__init__(**kwargs)
        self._checks = checks

    def on_start(self) -> None:
        super().on_start()
        self._checks.attach_supervisor(self.actor_ref, check_child)

    def on_exit(self, reason: ExitReason) -> None:
        self._checks.attach_supervisor(None)
        super().on_exit(reason)


def check_child(spec: CheckSpec, checks: HealthChecks) -> ChildSpec:
    """The supervisor child spec of one check (its id is the check's name)."""
    return ChildSpec(spec.name, HealthCheckActor, kwargs={"spec": spec, "checks": checks})


def health_subtree(
    checks: HealthChecks,
    specs: list[CheckSpec],
    *,
    max_restarts: int = 10,
    max_seconds: float = 5.0,
) -> ChildSpec:
    """The ``health`` supervisor's spec: one_for_one over one actor per check in ``specs``.

    Each spec is declared to ``checks`` here (metrics at 0). Usable in a host's own tree.
    """
    for spec in specs:
        checks.declare(spec)
    return ChildSpec(
        "health",
        HealthSupervisor,
        kwargs={
            "checks": checks,
            "children": [check_child(s, checks) for s in specs],
            "strategy": Strategy.ONE_FOR_ONE,
            "max_restarts": max_restarts,
            "max_seconds": max_seconds,
            "name": "health",
            "clock": checks.clock,
            "scheduler": checks.scheduler,
            "metrics": checks.metrics,
        },
        shutdown=None,
    )
