"""The health commands of the daemon's control channel: ``health.list`` and ``health.run``.

Both run on the channel's connection thread. ``health.list`` reads the published views (no
actor is asked). ``health.run`` tells the check's actor to run now and waits for the result at
most the check's timeout plus :data:`RUN_GRACE` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yesman_recovery.health.service import HealthChecks

if TYPE_CHECKING:
    from yesman_recovery.control import ControlServer

RUN_GRACE = 2.0


def register_health_commands(control: ControlServer, checks: HealthChecks) -> None:
    """Register ``health.list`` and ``health.run`` (args ``{"name": ...}``) on ``control``."""

    def run(args: dict[str, Any]) -> dict[str, Any]:
        name = args.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError('health.run needs {"name": "<check name>"}')
        timeout = checks.spec(name).policy.resolved_timeout + RUN_GRACE
        try:
            return checks.run_now(name, timeout=timeout)
        except TimeoutError as exc:
            raise ValueError(str(exc)) from None

    control.register("health.list", lambda _args: checks.views())
    control.register("health.run", run)
