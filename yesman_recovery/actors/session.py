"""``SessionActor``: keeps one tmux session alive — checkpoint, diagnose, recover, validate.

One actor per watched session, a child of the ``sessions`` supervisor. The
:class:`~yesman_recovery.actors.watcher.TmuxWatcher` sends it an :class:`Observation` of the
whole server after every poll and every process-exit event; the actor compares what it sees with
what it expects (the newest good checkpoint, else the session's spec), classifies what is wrong
(:func:`~yesman_recovery.actors.diagnosis.diagnose`), runs that kind's recovery, observes again
to validate it, and records the outcome in the audit trail and the metrics. While the session is
healthy, every structural change is checkpointed (deduplicated).

Declared sessions (from the config) are ``permanent`` and always brought back. Adopted sessions
are ``transient``: brought back after the tmux server died, but a session the user closes while
the same server keeps running is let go — the actor records that and stops normally.

Program respawns and restores are bounded by a per-session restart intensity
(``program_max_restarts`` in ``program_max_seconds``): over it, the session is ``failed`` with the
reason in the audit trail, and the actor stops acting on it (it keeps reporting its state).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yesman_recovery.actors.diagnosis import (
    Diagnosis,
    FailureKind,
    diagnose,
    missing_structure,
    pane_map,
)
from yesman_recovery.errors import RecoveryError, SpecError, StoreError, TmuxError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.supervisors.restart import IntensityWindow
from yesman_recovery.supervisors.scheduler import Scheduler
from yesman_recovery.supervisors.spec import Restart
from yesman_recovery.tmux.client import TmuxClient
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.records import ServerSnapshot, SessionSnapshot
from yesman_recovery.tmux.restore import (
    execute_plan,
    plan_repair,
    program_matches,
    respawn_pane,
    restore_session,
)
from yesman_recovery.tmux.snapshot import take_snapshot
from yesman_recovery.tmux.spec import load_spec

logger = logging.getLogger(__name__)

# Fields that change without the session changing shape: not a reason to write a checkpoint.
_VOLATILE = frozenset(
    {"session_id", "window_id", "pane_id", "pid", "program_pid", "stopped", "dead",
     "dead_status", "title", "scrollback"}
)  # fmt: skip
SCROLLBACK_CHECKPOINT_INTERVAL = 60.0


class SessionState(enum.StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    RECOVERING = "recovering"
    FROZEN = "frozen"
    FAILED = "failed"
    RELEASED = "released"


class ObservationKind(enum.StrEnum):
    OK = "ok"
    GONE = "gone"  # no tmux server on the socket
    TIMEOUT = "timeout"  # the server did not answer within the command timeout
    ERROR = "error"  # the server answered with an error


@dataclass(frozen=True)
class Observation:
    """One look at the whole server, sent by the watcher to every session actor."""

    kind: ObservationKind
    snapshot: ServerSnapshot | None
    at: float  # monotonic time of the observation
    onset: float | None = None  # monotonic time of the exit event that triggered it, if any
    detail: str = ""


@dataclass(frozen=True)
class SessionSettings:
    """How one session is kept: from ``[[sessions]]`` (declared) or ``[tmux]`` (adopted)."""

    name: str
    declared: bool
    policy: ProgramPolicy
    spec_path: Path | None = None
    restart: Restart = Restart.PERMANENT
    frozen_grace: float = 2.0
    program_max_restarts: int = 3
    program_max_seconds: float = 60.0
    scrollback: int = 0


@dataclass(frozen=True)
class SessionContext:
    """What every session actor shares: tmux client, store, metrics, clock and scheduler."""

    client: TmuxClient
    store: Store
    metrics: RecoveryMetrics
    clock: Clock = SYSTEM_CLOCK
    scheduler: Scheduler | None = None  # for the grace-period re-check of stopped programs


@dataclass(frozen=True)
class _Recheck:
    """Message to self: a stopped program's grace period ends now; look again."""


class SessionActor(SupervisedActor):
    """Keeps the tmux session ``settings.name`` alive (see the module docstring)."""

    def __init__(self, settings: SessionSettings, context: SessionContext) -> None:
        super().__init__()
        self.settings = settings
        self._ctx = context
        self.state = SessionState.STARTING
        self.detail = ""  # why the session is in its state (failed, frozen, recovering)
        self.recoveries = 0  # successful recoveries by this incarnation
        self._spec: SessionSnapshot | None = None
        self._expected: SessionSnapshot | None = None  # newest good checkpoint
        self._server_pid: int | None = None  # server pid when the session was last seen
        self._fingerprint: Any = None  # shape of the last checkpoint written or read
        self._last_write = 0.0  # monotonic time of the last checkpoint write
        self._acted_at = float("-inf")  # monotonic time our last recovery action finished
        self._frozen_at: float | None = None  # detection time of an unresponsive server
        self._stopped_since: dict[tuple[int, int], float] = {}
        self._resumed: dict[tuple[int, int], float] = {}  # pane → time SIGCONT was sent
        self._recheck_pending = False  # True iff a _Recheck is scheduled
        self._intensity = IntensityWindow(
            settings.program_max_restarts, settings.program_max_seconds
        )

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        # yesman_recovery_sessions{state} counts live session actors by state: +1 here, moved
        # by _set, -1 when the actor ends.
        self._ctx.metrics.sessions.labels(self.state.value).inc()
        name = self.settings.name
        if self.settings.spec_path is not None:
            try:
                self._spec = load_spec(self.settings.spec_path)
            except SpecError as exc:
                # One bad spec must not take the other sessions down: fail this one, visibly.
                self._fail(str(exc))
        try:
            latest = self._ctx.store.checkpoints.latest_good(name)
        except StoreError as exc:
            logger.error("session %r: cannot read its checkpoints: %s", name, exc)
            latest = None
        if latest is not None:
            try:
                self._expected = SessionSnapshot.from_dict(latest.state["session"])
                self._server_pid = (latest.metadata or {}).get("server_pid")
                self._fingerprint = _fingerprint(self._expected)
            except (KeyError, TypeError, ValueError) as exc:
                logger.error("session %r: newest checkpoint unusable: %s", name, exc)

    def on_stop(self) -> None:
        self._ctx.metrics.sessions.labels(self.state.value).dec()

    def on_failure(self, *_exc_info: Any) -> None:
        self._ctx.metrics.sessions.labels(self.state.value).dec()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Observation):
            self._observe(message)
            return None
        if isinstance(message, _Recheck):
            self._recheck_pending = False
            self._look_again()
            return None
        return super().on_receive(message)

    def _look_again(self) -> None:
        """Observe the server ourselves (a grace period ended between two polls)."""
        now = self._ctx.clock.monotonic()
        try:
            snapshot = take_snapshot(self._ctx.client)
        except TmuxError:
            return  # the watcher's next poll reports what is wrong with the server
        self._observe(Observation(ObservationKind.OK, snapshot, now))

    def _schedule_recheck(self, now: float) -> None:
        """Look again the moment the oldest stop outlives its grace, not at the next poll."""
        scheduler = self._ctx.scheduler
        if scheduler is None or self._recheck_pending or not self._stopped_since:
            return
        due = min(self._stopped_since.values()) + self.settings.frozen_grace
        if self._resumed:
            due = min(due, min(self._resumed.values()) + self.settings.frozen_grace)
        if due > now:
            self._recheck_pending = True
            scheduler.call_later(due - now, self.actor_ref, _Recheck())

    def describe(self) -> dict[str, Any]:
        """This session's state for ``/status`` and ``sessions list``."""
        return {
            "name": self.settings.name,
            "mode": "declared" if self.settings.declared else "adopted",
            "state": self.state.value,
            "detail": self.detail,
            "recoveries": self.recoveries,
            "checkpointed": self._expected is not None,
        }

    # --- observation → diagnosis → recovery ----------------------------------------------

    def _observe(self, obs: Observation) -> None:
        if self.state in (SessionState.FAILED, SessionState.RELEASED):
            return
        if obs.at < self._acted_at:
            return  # taken before our last recovery finished: it shows the old failure
        if obs.kind in (ObservationKind.TIMEOUT, ObservationKind.ERROR):
            if self._frozen_at is None:
                self._frozen_at = obs.at
                self._set(SessionState.FROZEN, f"tmux server unresponsive: {obs.detail}")
            return
        snapshot = obs.snapshot
        actual = snapshot.session(self.settings.name) if snapshot is not None else None
        if self._frozen_at is not None:
            self._server_answers_again(obs, actual)
        if actual is None:
            self._missing(obs)
            return
        self._server_pid = snapshot.pid if snapshot is not None else None
        self._track_stops(actual, obs.at)
        self._schedule_recheck(obs.at)
        found = diagnose(
            expected=self._expected,
            spec=self._spec,
            actual=actual,
            policy=self.settings.policy,
            stopped_for={k: obs.at - t for k, t in self._stopped_since.items()},
            resumed_for={k: obs.at - t for k, t in self._resumed.items()},
            frozen_grace=self.settings.frozen_grace,
        )
        for problem in found:
            if not self._recover(problem, obs):
                return
        if not found:
            if self.state is not SessionState.HEALTHY:
                self._set(SessionState.HEALTHY, "")
            self._checkpoint(actual, snapshot)

    def _missing(self, obs: Observation) -> None:
        snapshot = obs.snapshot
        same_server = (
            snapshot is not None and snapshot.pid is not None and snapshot.pid == self._server_pid
        )
        if not self.settings.declared and same_server:
            self._release()
            return
        detail = "no tmux server" if obs.kind is ObservationKind.GONE else "session closed"
        self._recover(Diagnosis(FailureKind.CRASHED, detail), obs)

    def _recover(self, problem: Diagnosis, obs: Observation) -> bool:
        """Run the recovery for ``problem``; False iff the session is now ``failed``."""
        clock = self._ctx.clock
        detected = clock.monotonic()
        if obs.onset is not None:
            self._ctx.metrics.failure_detection.labels(problem.kind.value).observe(
                max(0.0, detected - obs.onset)
            )
        if problem.kind is FailureKind.FROZEN and problem.resume:
            self._resume(problem)
            return True
        if self._intensity.record(detected):
            self._fail(
                f"{problem.kind.value}: {problem.detail}; gave up after more than "
                f"{self._intensity.max_restarts} recoveries in {self._intensity.max_seconds} s"
            )
            self._record(problem, "give_up", "failed", None)
            return False
        self._set(SessionState.RECOVERING, f"{problem.kind.value}: {problem.detail}")
        try:
            action, ok, why = self._act(problem)
        except (TmuxError, OSError, RecoveryError) as exc:
            action, ok, why = _ACTIONS[problem.kind], False, str(exc)
        self._acted_at = clock.monotonic()
        duration = self._acted_at - detected
        outcome = "success" if ok else "failed"
        self._ctx.metrics.recoveries.labels(problem.kind.value, outcome).inc()
        if ok:
            self._ctx.metrics.recovery_duration.labels(problem.kind.value).observe(duration)
            self.recoveries += 1
            self._set(SessionState.HEALTHY, "")
        else:
            self.detail = f"{problem.kind.value}: {why}"
        self._record(problem, action, outcome, duration, why)
        return True

    def _act(self, problem: Diagnosis) -> tuple[str, bool, str]:
        client = self._ctx.client
        kind = problem.kind
        if kind is FailureKind.CRASHED:
            source = self._expected or self._spec
            if source is None:
                return "restore", False, "no checkpoint and no spec to restore from"
            result = restore_session(client, source, self.settings.policy)
            return "restore", result.ok, "; ".join(result.differences)
        actual = take_snapshot(client).session(self.settings.name)
        if actual is None:
            return _ACTIONS[kind], False, "the session vanished during the recovery"
        if kind is FailureKind.CORRUPTED:
            assert self._spec is not None
            execute_plan(client, plan_repair(self._spec, actual, self.settings.policy))
            return "recreate_missing", *self._validate_structure()
        for pane in problem.panes:
            respawn_pane(client, pane.pane_id, pane.argv, pane.cwd)
            self._stopped_since.pop(pane.key, None)
            self._resumed.pop(pane.key, None)
        return "respawn", *self._validate_programs(problem)

    def _validate_structure(self) -> tuple[bool, str]:
        actual = take_snapshot(self._ctx.client).session(self.settings.name)
        if actual is None or self._spec is None:
            return False, "the session vanished after the repair"
        missing = missing_structure(self._spec, actual)
        return not missing, "; ".join(missing)

    def _validate_programs(self, problem: Diagnosis, settle: float = 2.0) -> tuple[bool, str]:
        """Observe until every respawned program runs, for at most ``settle`` seconds."""
        deadline = time.monotonic() + settle
        while True:
            actual = take_snapshot(self._ctx.client).session(self.settings.name)
            problems = _program_problems(problem, actual)
            if not problems or time.monotonic() >= deadline:
                return not problems, "; ".join(problems)
            time.sleep(0.02)

    def _resume(self, problem: Diagnosis) -> None:
        """First step for a stopped program: SIGCONT its process group."""
        now = self._ctx.clock.monotonic()
        for pane in problem.panes:
            if pane.program_pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pane.program_pid), signal.SIGCONT)
            self._resumed[pane.key] = now
        self._set(SessionState.FROZEN, problem.detail)
        self._record(problem, "sigcont", "attempted", None)

    def _track_stops(self, actual: SessionSnapshot, now: float) -> None:
        stopped = {key for key, pane in pane_map(actual).items() if pane.stopped}
        for key in list(self._stopped_since):
            if key not in stopped:
                del self._stopped_since[key]
        for key in stopped:
            self._stopped_since.setdefault(key, now)
        for key, sent in list(self._resumed.items()):
            if key not in stopped:
                # The SIGCONT worked: the frozen program runs again.
                del self._resumed[key]
                self._ctx.metrics.recoveries.labels("frozen", "success").inc()
                self._ctx.metrics.recovery_duration.labels("frozen").observe(max(0.0, now - sent))
                self.recoveries += 1
                self._audit("frozen", f"pane {key} resumed", "sigcont", "success", now - sent)

    def _server_answers_again(self, obs: Observation, actual: SessionSnapshot | None) -> None:
        assert self._frozen_at is not None
        duration = max(0.0, obs.at - self._frozen_at)
        self._frozen_at = None
        outcome = "success" if actual is not None else "escalated"
        self._ctx.metrics.recoveries.labels("frozen", outcome).inc()
        if actual is not None:
            self._ctx.metrics.recovery_duration.labels("frozen").observe(duration)
            self.recoveries += 1
            self._set(SessionState.HEALTHY, "")
        self._audit("frozen", "tmux server answers again", "wait", outcome, duration)

    # --- checkpoints, audit, state --------------------------------------------------------

    def _checkpoint(self, actual: SessionSnapshot, snapshot: ServerSnapshot | None) -> None:
        if actual.is_empty:
            return  # never save an empty snapshot over a good one
        if any(p.argv is None and not p.dead for p in actual.panes()):
            return  # a pane whose program just exited and tmux has not reaped yet: unsettled
        fingerprint = _fingerprint(actual)
        now = self._ctx.clock.monotonic()
        scrollback_due = (
            self.settings.scrollback > 0
            and now - self._last_write >= SCROLLBACK_CHECKPOINT_INTERVAL
        )
        if fingerprint == self._fingerprint and not scrollback_due:
            return
        try:
            self._ctx.store.checkpoints.create(
                self.settings.name,
                {"session": actual.to_dict()},
                metadata={
                    "server_pid": snapshot.pid if snapshot is not None else None,
                    "mode": "declared" if self.settings.declared else "adopted",
                },
            )
        except (StoreError, ValueError) as exc:
            logger.error("session %r: checkpoint failed: %s", self.settings.name, exc)
            return
        self._expected = actual
        self._fingerprint = fingerprint
        self._last_write = now

    def _release(self) -> None:
        self._set(SessionState.RELEASED, "closed while the tmux server kept running")
        self._audit("released", "closed by the user; no longer watched", "release", "success")
        self.actor_ref.stop(block=False)  # a normal exit: a transient child is not restarted

    def _fail(self, reason: str) -> None:
        self._set(SessionState.FAILED, reason)
        logger.error("session %r failed: %s", self.settings.name, reason)

    def _set(self, state: SessionState, detail: str) -> None:
        if state is not self.state:
            gauge = self._ctx.metrics.sessions
            gauge.labels(self.state.value).dec()
            gauge.labels(state.value).inc()
        self.state = state
        self.detail = detail

    def _record(
        self,
        problem: Diagnosis,
        action: str,
        outcome: str,
        duration: float | None,
        why: str = "",
    ) -> None:
        detail = problem.detail if not why else f"{problem.detail} ({why})"
        self._audit(problem.kind.value, detail, action, outcome, duration)

    def _audit(
        self, kind: str, detail: str, action: str, outcome: str, duration: float | None = None
    ) -> None:
        try:
            self._ctx.store.audit.append(
                "recovery" if kind in FailureKind.__members__.values() else "session",
                self.settings.name,
                detail=f"{kind}: {detail}",
                action=action,
                outcome=outcome,
                duration=duration,
            )
        except (StoreError, ValueError) as exc:
            logger.error("session %r: audit write failed: %s", self.settings.name, exc)


_ACTIONS = {
    FailureKind.CRASHED: "restore",
    FailureKind.CORRUPTED: "recreate_missing",
    FailureKind.DISCONNECTED: "respawn",
    FailureKind.FROZEN: "respawn",
}


def _program_problems(problem: Diagnosis, actual: SessionSnapshot | None) -> list[str]:
    if actual is None:
        return ["the session vanished after the respawn"]
    panes = pane_map(actual)
    problems: list[str] = []
    for action in problem.panes:
        pane = panes.get(action.key)
        if pane is None:
            problems.append(f"pane {action.key} vanished")
        elif pane.dead:
            problems.append(f"pane {action.key}: {action.argv[0]!r} exited ({pane.dead_status})")
        elif pane.stopped or not program_matches(pane.argv, action.argv):
            problems.append(f"pane {action.key} runs {pane.argv!r}, not {list(action.argv)!r}")
    return problems


def _fingerprint(session: SessionSnapshot) -> Any:
    return _strip(session.to_dict())


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
