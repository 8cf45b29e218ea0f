"""``HealthChecks``: what the check actors share, and what outlives them.

One object per tree. It holds every check's :class:`CheckState` (so a restarted actor resumes
with its thresholds, flapping, budget and escalation intact), the last published view of each
check (read by ``/healthz``, ``/status``, the CLI and the control channel without asking an
actor), the set of heal actions running right now (two checks never run the same heal at once),
and the edges: clock, scheduler, metrics, store (audit trail) and the root supervisor (to restart
a child on escalation).

Thread-safety: every method may be called from any thread; ``_lock`` guards the dicts. A
:class:`CheckState` itself is written only by its check's actor thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pykka

from yesman_recovery.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.errors import SupervisorError
from yesman_recovery.health.check import CheckSpec
from yesman_recovery.health.policy import CheckState, Suppression
from yesman_recovery.labels import AuditKind
from yesman_recovery.metrics.definitions import RecoveryMetrics, default_metrics
from yesman_recovery.supervisors.scheduler import Scheduler, default_scheduler

if TYPE_CHECKING:
    from yesman_recovery.storage import Store
    from yesman_recovery.supervisors.actor import SupervisedRef
    from yesman_recovery.supervisors.spec import ChildSpec

logger = logging.getLogger(__name__)

HEAL_OUTCOMES = ("success", "failed", "timeout", "handed_over")
ASK_TIMEOUT = 5.0


@dataclass(frozen=True)
class RunNow:
    """Message to a check actor: run now; ``reply(view)`` is called (on the actor thread) after
    its result."""

    reply: Callable[[dict[str, Any]], None] | None = None


def blank_view(spec: CheckSpec) -> dict[str, Any]:
    """The view of a check that has not run yet (the keys every view has)."""
    policy = spec.policy
    return {
        "name": spec.name, "kind": spec.kind, "critical": spec.critical, "status": "unknown",
        "ok": None, "detail": "", "output": "", "duration_seconds": None,
        "consecutive_failures": 0, "consecutive_successes": 0, "failures_total": 0, "runs": 0,
        "heals_in_window": 0, "heal_max": policy.heal_max, "healing": False, "last_heal": None,
        "flapping": False, "escalated": False, "interval_seconds": policy.interval,
        "last_run": None, "next_run": None,
    }  # fmt: skip


@dataclass
class HealthChecks:
    """The shared side of the health checks; see the module docstring."""

    metrics: RecoveryMetrics = field(default_factory=default_metrics)
    clock: Clock = SYSTEM_CLOCK
    scheduler: Scheduler = field(default_factory=default_scheduler)
    store: Store | None = None
    root: Callable[[], SupervisedRef | None] = lambda: None
    """The root supervisor, for ``restart_on_escalation`` paths (``"tmux/watcher"``)."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, CheckState] = {}  # check name -> its record, never dropped
        self._views: dict[str, dict[str, Any]] = {}  # check name -> last published view
        self._specs: dict[str, CheckSpec] = {}  # check name -> spec, in registration order
        self._healing: set[str] = set()  # keys of heal actions running right now
        self._supervisor: pykka.ActorRef[Any] | None = None  # the health supervisor, if running
        self._child_of: Callable[[CheckSpec, HealthChecks], ChildSpec] | None = None

    # --- registration ---------------------------------------------------------------------

    def declare(self, spec: CheckSpec) -> None:
        """Know ``spec`` (its metrics start at 0); raises ``ValueError`` for a duplicate name."""
        with self._lock:
            if spec.name in self._specs:
                raise ValueError(f"a health check named {spec.name!r} already exists")
            self._specs[spec.name] = spec
        m = self.metrics
        m.health_check_status.labels(spec.name).set(0)
        m.health_check_failures.labels(spec.name)
        m.health_check_duration.labels(spec.name)
        m.health_check_flapping.labels(spec.name).set(0)
        m.health_check_escalated.labels(spec.name).set(0)
        for outcome in HEAL_OUTCOMES:
            m.heal_actions.labels(spec.name, outcome)
        for reason in Suppression:
            m.heal_suppressed.labels(spec.name, reason.value)
        self.publish(spec.name, blank_view(spec))

    def add(self, spec: CheckSpec, timeout: float = ASK_TIMEOUT) -> None:
        """Declare ``spec`` and start its actor under the running health supervisor."""
        sup, child_of = self._supervisor, self._child_of
        if sup is None or child_of is None:
            raise RuntimeError("the health supervisor is not running; start the tree first")
        self.declare(spec)
        sup.proxy().start_child(child_of(spec, self)).get(timeout=timeout)

    def remove(self, name: str, timeout: float = ASK_TIMEOUT) -> None:
        """Stop check ``name``'s actor and forget the check (its state and view); a no-op for
        a name that is not known."""
        sup = self._supervisor
        if sup is not None:
            proxy = sup.proxy()
            with contextlib.suppress(SupervisorError, pykka.ActorDeadError):
                proxy.terminate_child(name).get(timeout=timeout)
                proxy.delete_child(name).get(timeout=timeout)
        with self._lock:
            self._specs.pop(name, None)
            self._views.pop(name, None)
            self._states.pop(name, None)

    def specs(self) -> list[CheckSpec]:
        """Every known check, in registration order (what a restarted supervisor starts)."""
        with self._lock:
            return list(self._specs.values())

    def names(self) -> list[str]:
        with self._lock:
            return list(self._specs)

    def spec(self, name: str) -> CheckSpec:
        with self._lock:
            spec = self._specs.get(name)
            known = ", ".join(self._specs) or "none"
        if spec is None:
            raise LookupError(f"no health check {name!r}; known: {known}")
        return spec

    def state_for(self, name: str) -> CheckState:
        """The record of check ``name``, created (its grace starting now) on first use."""
        with self._lock:
            state = self._states.get(name)
            if state is None:
                state = self._states[name] = CheckState(started_at=self.clock.monotonic())
            return state

    def attach_supervisor(
        self,
        ref: pykka.ActorRef[Any] | None,
        child_of: Callable[[CheckSpec, HealthChecks], ChildSpec] | None = None,
    ) -> None:
        """Called by the health supervisor: its ref (None when it ends) and how it makes the
        child spec of a check, for :meth:`add`."""
        with self._lock:
            self._supervisor, self._child_of = ref, child_of

    # --- heals running now ----------------------------------------------------------------

    def heal_busy(self, key: str) -> bool:
        with self._lock:
            return key in self._healing

    def begin_heal(self, key: str) -> bool:
        """Mark heal ``key`` running; False if it already was."""
        with self._lock:
            if key in self._healing:
                return False
            self._healing.add(key)
            return True

    def end_heal(self, key: str) -> None:
        with self._lock:
            self._healing.discard(key)

    # --- views ----------------------------------------------------------------------------

    def publish(self, name: str, view: dict[str, Any]) -> None:
        with self._lock:
            self._views[name] = view

    def views(self) -> list[dict[str, Any]]:
        """Every check's last published view, in registration order."""
        with self._lock:
            return [dict(self._views[n]) for n in self._specs if n in self._views]

    def critical_failures(self) -> list[str]:
        """Names of critical checks that are failing now (``/healthz`` answers 503 if any)."""
        return [v["name"] for v in self.views() if v.get("critical") and v["status"] == "failing"]

    def run_now(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        """Run check ``name`` now and return its view after the result (``health run``).

        Raises ``LookupError`` for an unknown check and ``TimeoutError`` when no result came
        within ``timeout`` seconds.
        """
        self.spec(name)
        ref = self._child(name, timeout)
        done = threading.Event()
        box: list[dict[str, Any]] = []

        def reply(view: dict[str, Any]) -> None:
            box.append(view)
            done.set()

        ref.tell(RunNow(reply))
        if not done.wait(timeout):
            raise TimeoutError(f"health check {name!r} gave no result within {timeout:g} s")
        return box[0]

    def _child(self, name: str, timeout: float) -> pykka.ActorRef[Any]:
        sup = self._supervisor
        ref = None
        if sup is not None:
            with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
                ref = sup.proxy().whereis(name).get(timeout=timeout)
        if ref is None:
            raise LookupError(f"health check {name!r} is not running (restarting or stopped)")
        return ref  # type: ignore[no-any-return]

    # --- audit ----------------------------------------------------------------------------

    def audit(
        self, name: str, action: str, outcome: str, detail: str, duration: float | None = None
    ) -> None:
        """Append a ``health`` event to the audit trail (when there is a store); never raises."""
        log = logger.warning if outcome not in ("success", "handed_over") else logger.info
        log("health check %s: %s %s: %s", name, action, outcome, detail)
        if self.store is None:
            return
        try:
            self.store.audit.append(
                AuditKind.HEALTH,
                name,
                detail=detail,
                action=action,
                outcome=outcome,
                duration=duration,
            )
        except Exception:  # the audit trail must not crash a check
            logger.exception("could not audit %s of health check %s", action, name)


def restart_child_path(root: pykka.ActorRef[Any], path: str, timeout: float) -> None:
    """Restart the child at ``path`` (``"tmux/watcher"``) below ``root``: stop it, start it.

    Raises ``LookupError`` when a supervisor on the path is not running, and what the
    supervisor raised (e.g. an unknown child id) otherwise.
    """
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        raise LookupError(f"empty child path {path!r}")
    sup = root
    for i, part in enumerate(parts[:-1]):
        ref = sup.proxy().whereis(part).get(timeout=timeout)
        if ref is None:
            raise LookupError(f"{'/'.join(parts[: i + 1])!r} is not running")
        sup = ref
    last = parts[-1]
    sup.proxy().terminate_child(last).get(timeout=timeout)
    sup.proxy().restart_child(last).get(timeout=timeout)
