"""``HealthCheckActor``: one check, run on its interval, healed and escalated by its policy.

The actor is thin: each tick it hands the probe to its runner (:mod:`.runner`) and asks the
scheduler for a deadline message at ``timeout``; whichever comes first — the result or the
deadline — is folded into the check's state by :func:`~yesman_recovery.health.policy.observe`,
and the verdict is carried out: run the heal (on the same runner, so a check never runs while
its heal runs), count and audit a suppression, or escalate (audit, gauge, and optionally restart
a supervisor child on a thread of its own). A tick that arrives while a probe or heal is in
flight is skipped. The actor answers messages throughout: it never waits for a probe.

The check's :class:`~yesman_recovery.health.policy.CheckState` lives in :class:`HealthChecks`,
not in the actor, so a crashed and restarted actor keeps its counters.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from yesman_recovery.health.check import (
    CheckSpec,
    HealResult,
    ProbeResult,
    as_heal_result,
    as_probe_result,
    is_async,
)
from yesman_recovery.health.policy import Status, Suppression, heals_in_window, observe
from yesman_recovery.health.runner import LoopCall, Worker
from yesman_recovery.health.service import HealthChecks, RunNow, restart_child_path
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Cancellable, Periodic

logger = logging.getLogger(__name__)

_CHECK = "check"
HEAL_DEADLINE_GRACE = 1.0
"""Seconds past ``heal_timeout`` before the actor gives up on a heal: a command heal times
itself out first, so its own output and kill are recorded."""
RESTART_TIMEOUT = 30.0
INLINE_WAIT = 0.002
"""Seconds the actor waits for a probe's result before it arms the deadline and moves on."""


@dataclass(frozen=True)
class _Done:
    job: int
    value: Any
    error: BaseException | None
    seconds: float


@dataclass(frozen=True)
class _Deadline:
    job: int


@dataclass(frozen=True)
class _Restarted:
    outcome: str
    detail: str


@dataclass
class _Job:
    id: int
    kind: str  # "probe" or "heal"
    timeout: float
    timer: Cancellable | None  # the deadline; None while the actor waits inline
    loop_call: LoopCall | None


class HealthCheckActor(SupervisedActor):
    """Runs one :class:`CheckSpec` every ``policy.interval`` seconds; see the module docstring."""

    def __init__(self, spec: CheckSpec, checks: HealthChecks) -> None:
        super().__init__()
        self.spec = spec
        self._checks = checks
        self._policy = spec.policy
        self._state = checks.state_for(spec.name)
        self._periodic: Periodic | None = None
        self._async_probe = is_async(spec.probe)  # inspect is slow: ask once
        self._worker = Worker(spec.name, self._deliver)
        self._jobs = 0
        self._pending: _Job | None = None  # the probe or heal this actor waits for, if any
        self._worker_job: int | None = None  # job the worker thread runs, until it returns
        self._waiters: list[Callable[[dict[str, Any]], None]] = []  # RunNow replies due
        # The inline hand-over of a result (see _dispatch): _inline_job is the job the actor
        # thread is waiting for right now, or None; the worker fills _inline_done under
        # _handoff iff it finishes that job while the actor still waits.
        self._handoff = threading.Lock()
        self._inline_job: int | None = None
        self._inline_done: _Done | None = None
        # Held except while a result waits to be taken: the worker releases it, the actor
        # acquires it back (a C-level lock: cheaper than an Event on this hot path).
        self._inline_ready = threading.Lock()
        self._inline_ready.acquire()
        self._last: ProbeResult | None = None
        self._last_duration: float | None = None
        self._last_run_wall: float | None = None
        self._last_heal: dict[str, Any] | None = None
        m = checks.metrics
        name = spec.name
        self._m_status = m.health_check_status.labels(name)
        self._m_duration = m.health_check_duration.labels(name)
        self._m_failures = m.health_check_failures.labels(name)
        self._m_flapping = m.health_check_flapping.labels(name)
        self._m_escalated = m.health_check_escalated.labels(name)
        self._gauges: tuple[bool, bool, bool] | None = None  # last values set on the gauges

    # --- lifecycle (actor thread) ---------------------------------------------------------

    def on_start(self) -> None:
        # Ticks sit on a grid of the interval (multiples of it on the monotonic clock), so every
        # check with the same interval (or a multiple of it) is due at the same instants and
        # the scheduler wakes once for all of them, however they were started or restarted.
        # The first probe runs at once.
        interval = self._policy.interval
        first = -self._checks.clock.monotonic() % interval
        self._periodic = self._checks.scheduler.every(interval, self.actor_ref, _CHECK, first=first)
        self.actor_ref.tell(_CHECK)

    def on_exit(self, reason: ExitReason) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
        job = self._pending
        if job is not None:
            if job.timer is not None:
                job.timer.cancel()
            if job.loop_call is not None:
                job.loop_call.cancel()
            if job.kind == "heal" and self.spec.heal is not None:
                self._checks.end_heal(self.spec.heal.key)
        self._worker.close()

    def on_receive(self, message: Any) -> Any:
        if message == _CHECK:
            self._start_probe()
        elif isinstance(message, _Done):
            self._on_done(message)
        elif isinstance(message, _Deadline):
            self._on_deadline(message)
        elif isinstance(message, RunNow):
            self._run_now(message)
        elif isinstance(message, _Restarted):
            self._checks.audit(self.spec.name, "restart_child", message.outcome, message.detail)
        else:
            return super().on_receive(message)
        return None

    def describe(self) -> dict[str, Any]:
        """This check's view (also published to :class:`HealthChecks` after every result)."""
        return self._view()

    # --- running probes and heals ---------------------------------------------------------

    def _run_now(self, message: RunNow) -> None:
        if self._pending is not None and self._pending.kind == "heal":
            if message.reply is not None:
                message.reply({**self._view(), "note": "a heal is running; try again after it"})
            return
        if message.reply is not None:
            self._waiters.append(message.reply)
        if self._pending is None:
            self._start_probe()

    def _start_probe(self) -> None:
        if self._pending is not None:
            return  # a probe or heal is in flight: skip this tick
        self._last_run_wall = self._checks.clock.time()
        if self._worker_job is not None:
            # The worker is still inside a probe or heal that outlived its timeout.
            self._finish_probe(
                ProbeResult(False, "the previous probe or heal is still running past its timeout"),
                0.0,
            )
            return
        self._dispatch("probe", self.spec.probe, self._policy.resolved_timeout)

    def _dispatch(self, kind: str, fn: Callable[[], Any], timeout: float) -> None:
        self._jobs += 1
        job = self._jobs
        asynchronous = self._async_probe if kind == "probe" else is_async(fn)
        if asynchronous and self.spec.loop is None:
            fn, asynchronous = functools.partial(_run_private_loop, fn), False
        if asynchronous:
            assert self.spec.loop is not None
            loop_call = LoopCall(self.spec.loop, fn, job, self._deliver)
            # A LoopCall on a closed loop delivers at once: its _Done is queued behind us.
            self._arm(_Job(job, kind, timeout, None, loop_call))
            return
        if self._worker_job is not None:
            # The worker is stuck in a job past its timeout (only a heal gets here: probes fail
            # at once then). A heal must not queue behind a hung probe: it runs on a new worker
            # and the stuck thread is left to end alone; the heal budget bounds how often.
            logger.warning("health check %s: worker stuck; heal runs on a new one", self.spec.name)
            self._worker.close()
            self._worker = Worker(self.spec.name, self._deliver)
        self._worker_job = job
        with self._handoff:
            self._inline_job, self._inline_done = job, None
        self._worker.submit(job, fn)
        # Most probes answer within microseconds: wait that long here, and a fast probe costs
        # no deadline timer and no message. A slow one gets its deadline and the actor goes
        # back to its inbox after INLINE_WAIT at most.
        took = self._inline_ready.acquire(timeout=INLINE_WAIT)
        with self._handoff:
            done, self._inline_job, self._inline_done = self._inline_done, None, None
        if done is not None and not took:  # released just after the wait gave up
            self._inline_ready.acquire()
        if done is None:
            self._arm(_Job(job, kind, timeout, None, None))
        else:
            self._pending = _Job(job, kind, timeout, None, None)
            self._on_done(done)

    def _arm(self, job: _Job) -> None:
        job.timer = self._checks.scheduler.call_later(
            job.timeout, self.actor_ref, _Deadline(job.id)
        )
        self._pending = job

    def _deliver(self, job: int, value: Any, error: BaseException | None, seconds: float) -> None:
        # Runs on the worker or loop thread: hand the result over inline, or as a message.
        done = _Done(job, value, error, seconds)
        with self._handoff:
            if self._inline_job == job:
                self._inline_done = done
                self._inline_ready.release()
                return
        try:
            self.actor_ref.tell(done)
        except pykka.ActorDeadError:
            logger.debug("health check %s ended before job %d returned", self.spec.name, job)

    def _on_done(self, msg: _Done) -> None:
        if self._worker_job == msg.job:
            self._worker_job = None
        job = self._pending
        if job is None or job.id != msg.job:
            return  # abandoned at its deadline; already counted as a timeout
        self._pending = None
        if job.timer is not None:
            job.timer.cancel()
        if job.kind == "probe":
            if msg.error is not None:
                result = ProbeResult(False, f"probe raised {type(msg.error).__name__}: {msg.error}")
            else:
                result = as_probe_result(msg.value)
            self._finish_probe(result, msg.seconds)
        else:
            if msg.error is not None:
                heal = HealResult("failed", f"heal raised {type(msg.error).__name__}: {msg.error}")
            else:
                heal = as_heal_result(msg.value)
            self._finish_heal(heal, msg.seconds)

    def _on_deadline(self, msg: _Deadline) -> None:
        job = self._pending
        if job is None or job.id != msg.job:
            return
        self._pending = None
        if job.loop_call is not None:
            job.loop_call.cancel()
        if job.kind == "probe":
            self._finish_probe(
                ProbeResult(False, f"no answer within the {job.timeout:g} s timeout"), job.timeout
            )
        else:
            self._finish_heal(
                HealResult("timeout", f"heal still running after {job.timeout:g} s; abandoned"),
                job.timeout,
            )

    # --- results ---------------------------------------------------------------------------

    def _finish_probe(self, result: ProbeResult, seconds: float) -> None:
        spec, state, checks = self.spec, self._state, self._checks
        heal = spec.heal
        now = checks.clock.monotonic()
        verdict = observe(
            state,
            self._policy,
            result.ok,
            now,
            can_heal=heal is not None,
            heal_busy=heal is not None and checks.heal_busy(heal.key),
        )
        self._last, self._last_duration = result, seconds
        self._m_duration.observe(seconds)
        if not result.ok and not verdict.in_grace:
            self._m_failures.inc()
        gauges = (state.status is Status.HEALTHY, state.flapping, state.escalated)
        if gauges != self._gauges:  # set on change only: most results change none of them
            self._gauges = gauges
            self._m_status.set(1 if gauges[0] else 0)
            self._m_flapping.set(1 if gauges[1] else 0)
            self._m_escalated.set(1 if gauges[2] else 0)
        if verdict.status_changed:
            log = logger.info if state.status is Status.HEALTHY else logger.warning
            log("health check %s is %s: %s", spec.name, state.status.value, result.detail)
        if verdict.flapping_changed:
            checks.audit(
                spec.name, "flapping", "started" if state.flapping else "ended",
                f"{len(state.changes)} changes within {self._policy.resolved_flap_window:g} s",
            )  # fmt: skip
        if verdict.heal and heal is not None and not checks.begin_heal(heal.key):
            # Lost a race with another check starting the same heal: not run, not counted.
            state.heals.pop()
            state.heals_in_spell -= 1
            verdict = type(verdict)(suppressed=Suppression.IN_PROGRESS, new_suppression=True)
        if verdict.suppressed is not None:
            checks.metrics.heal_suppressed.labels(spec.name, verdict.suppressed.value).inc()
            if verdict.new_suppression:
                checks.audit(
                    spec.name, "suppress", verdict.suppressed.value,
                    f"heal not run ({verdict.suppressed.value}); {result.detail}",
                )  # fmt: skip
        if verdict.escalate:
            self._escalate(result)
        if verdict.heal and heal is not None:
            self._dispatch("heal", heal.run, self._policy.heal_timeout + HEAL_DEADLINE_GRACE)
        self._publish()

    def _finish_heal(self, heal: HealResult, seconds: float) -> None:
        spec = self.spec
        assert spec.heal is not None
        self._checks.end_heal(spec.heal.key)
        self._checks.metrics.heal_actions.labels(spec.name, heal.outcome).inc()
        parts = [heal.detail or heal.outcome]
        if heal.output:
            parts.append(f"output: {heal.output.strip()}")
        self._checks.audit(spec.name, "heal", heal.outcome, "; ".join(parts), seconds)
        self._last_heal = {
            "outcome": heal.outcome,
            "detail": heal.detail,
            "exit_status": heal.exit_status,
            "output": heal.output,
            "seconds": round(seconds, 3),
            "at": self._checks.clock.time(),
        }
        self._publish()

    def _escalate(self, result: ProbeResult) -> None:
        spec, policy = self.spec, self._policy
        if spec.heal is None:
            why = "failing and no heal is configured"
        else:
            why = f"{policy.heal_max} heal(s) within {policy.heal_window:g} s did not fix it"
        self._checks.audit(spec.name, "escalate", "escalated", f"{why}; {result.detail}")
        path = spec.restart_on_escalation
        if path is not None:
            threading.Thread(
                target=self._restart_child, args=(path,), daemon=True,
                name=f"yesman-recovery-health-escalate-{spec.name}",
            ).start()  # fmt: skip

    def _restart_child(self, path: str) -> None:
        # Its own thread: the path may lead through this very actor's supervisor.
        root = self._checks.root()
        try:
            if root is None:
                raise LookupError("no root supervisor to restart it under")
            restart_child_path(root, path, RESTART_TIMEOUT)
            outcome, detail = "success", f"restarted {path}"
        except Exception as exc:
            outcome, detail = "failed", f"could not restart {path}: {exc}"
        try:
            self.actor_ref.tell(_Restarted(outcome, detail))
        except pykka.ActorDeadError:
            self._checks.audit(self.spec.name, "restart_child", outcome, detail)

    # --- the view ---------------------------------------------------------------------------

    def _publish(self) -> None:
        view = self._view()
        self._checks.publish(self.spec.name, view)
        waiters, self._waiters = self._waiters, []
        for reply in waiters:
            try:
                reply(view)
            except Exception:
                logger.exception("a RunNow reply of %s failed", self.spec.name)

    def _view(self) -> dict[str, Any]:
        state, policy, last = self._state, self._policy, self._last
        now = self._checks.clock.monotonic()
        next_run = None
        if self._last_run_wall is not None:
            next_run = self._last_run_wall + policy.interval
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "critical": self.spec.critical,
            "status": state.status.value,
            "ok": None if last is None else last.ok,
            "detail": "" if last is None else last.detail,
            "output": "" if last is None else last.output,
            "duration_seconds": None if self._last_duration is None else round(
                self._last_duration, 6),
            "consecutive_failures": state.consecutive_failures,
            "consecutive_successes": state.consecutive_successes,
            "failures_total": state.failures_total,
            "runs": state.runs,
            "heals_in_window": heals_in_window(state, policy, now),
            "heal_max": policy.heal_max,
            "healing": self._pending is not None and self._pending.kind == "heal",
            "last_heal": self._last_heal,
            "flapping": state.flapping,
            "escalated": state.escalated,
            "interval_seconds": policy.interval,
            "last_run": self._last_run_wall,
            "next_run": next_run,
        }  # fmt: skip


def _run_private_loop(fn: Callable[[], Any]) -> Any:
    """Run an ``async`` callable to completion in an event loop of this (worker) thread."""
    return asyncio.run(fn())
