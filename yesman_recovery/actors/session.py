"""``SessionActor``: keeps one tmux session alive — checkpoint, diagnose, recover, validate.

One actor per watched session, a child of the ``sessions`` supervisor. The
:class:`~yesman_recovery.actors.watcher.TmuxWatcher` sends it an :class:`Observation` of the
whole server after every poll and every process-exit event; the actor compares what it sees with
what it expects (the newest good checkpoint, else the session's spec), classifies what is wrong
(:func:`~yesman_recovery.actors.diagnosis.diagnose`), runs that kind's recovery, observes again
to validate it, and records the outcome in the audit trail and the metrics. While the session is
healthy, every structural change is checkpointed (deduplicated); a session with a problem, an
empty one, or one whose restore has not been validated is never checkpointed, so a bad state
never replaces a good one.

Declared sessions (from the config) are created when missing and brought back always (their
restart type, ``permanent`` by default, applies to the actor). Adopted sessions are
``transient``: brought back after the tmux server died, but a session the user closes while the
same server keeps running is let go — the actor records that and stops normally. A declared
session with neither a checkpoint nor a spec *waits* for the session to appear.

Recoveries are bounded per failure kind by a restart intensity (``program_max_restarts`` in
``program_max_seconds``), kept outside the actor so a crash of the actor does not reset it. Over
it, the session is ``failed`` for that kind, with the reason in the audit trail: that kind is
left alone until the window has passed, while other kinds (a server crash, say) are still
recovered.
"""

from __future__ import annotations

import enum
import logging
import os
import signal
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from yesman_recovery.actors import recovery_log
from yesman_recovery.actors.diagnosis import (
    Diagnosis,
    FailureKind,
    diagnose,
    missing_structure,
    pane_map,
)
from yesman_recovery.errors import RecoveryError, SpecError, StoreError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.storage import Store
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.supervisors.restart import ExitReason, IntensityWindow
from yesman_recovery.supervisors.scheduler import Scheduler
from yesman_recovery.supervisors.spec import Restart
from yesman_recovery.tmux.client import TmuxClient, wait_pid_gone
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.records import ServerSnapshot, SessionSnapshot
from yesman_recovery.tmux.restore import (
    execute_plan,
    observe_until,
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
     "dead_status", "dead_signal", "title", "scrollback"}
)  # fmt: skip
SCROLLBACK_INTERVAL = 60.0
"""Seconds between checkpoints written only because the scrollback changed."""
SETTLE = 2.0
"""Seconds a respawned program gets to show up before the respawn counts as failed."""


class SessionState(enum.StrEnum):
    STARTING = "starting"
    WAITING = "waiting"  # declared, not on the server, nothing to build it from yet
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
    """What every session actor shares: tmux client, store, metrics, clock and scheduler.

    ``intensities`` keeps each session's recovery history across restarts of its actor (one
    :class:`IntensityWindow` per session and failure kind; each actor touches only its own).
    """

    client: TmuxClient
    store: Store
    metrics: RecoveryMetrics
    clock: Clock = SYSTEM_CLOCK
    scheduler: Scheduler | None = None  # for the grace-period re-check of stopped programs
    intensities: dict[tuple[str, FailureKind], IntensityWindow] = field(default_factory=dict)


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
        self._server_pid: int | None = None  # server on which _expected's pane ids are valid
        self._fingerprint: Any = None  # shape of the last checkpoint written or read
        self._last_write = 0.0  # monotonic time of the last checkpoint write
        self._unvalidated = False  # True iff a restore ran and its result did not match
        self._acted_at = float("-inf")  # monotonic time our last recovery action finished
        self._failed: dict[FailureKind, str] = {}  # kinds given up on, with the reason
        self._stopped_since: dict[tuple[int, int], float] = {}
        self._resumed: dict[tuple[int, int], float] = {}  # pane → time SIGCONT was sent
        self._recheck_pending = False  # True iff a _Recheck is scheduled

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        # yesman_recovery_sessions{state} counts live session actors by state: +1 here, moved
        # by _set, -1 in on_exit.
        self._ctx.metrics.sessions.labels(self.state.value).inc()
        name = self.settings.name
        try:
            latest = self._ctx.store.checkpoints.latest_good(name)
        except StoreError as exc:
            logger.error("session %r: cannot read its checkpoints: %s", name, exc)
            latest = None
        if latest is not None:
            try:
                self._expected = SessionSnapshot.from_dict(latest.state["session"])
                self._server_pid = latest.state.get("server_pid")
                self._fingerprint = _fingerprint(self._expected, self._server_pid)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                logger.error("session %r: newest checkpoint unusable: %s", name, exc)
        if self.settings.spec_path is not None:
            try:
                self._spec = replace(load_spec(self.settings.spec_path), name=name)
            except SpecError as exc:
                # One bad spec must not take the other sessions down, nor this one when it has
                # a checkpoint: keep the session as it last was, and say why.
                self._audit("spec", str(exc), "load_spec", "failed")
                if self._expected is None:
                    self._fail(FailureKind.CORRUPTED, str(exc))
                else:
                    self.detail = f"spec ignored: {exc}"

    def on_exit(self, reason: ExitReason) -> None:
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
        if self.state is SessionState.RELEASED or self._supervision.stop_requested.is_set():
            return  # let go, or being replaced: the next incarnation acts
        if obs.at < self._acted_at:
            return  # taken before our last recovery finished: it shows the old failure
        if obs.kind in (ObservationKind.TIMEOUT, ObservationKind.ERROR):
            # The watcher handles the server (SIGCONT, kill if allowed) and counts it once.
            self._set(SessionState.FROZEN, f"tmux server unresponsive: {obs.detail}")
            return
        self._unfail(obs.at)
        snapshot = obs.snapshot
        actual = snapshot.session(self.settings.name) if snapshot is not None else None
        if actual is None:
            self._missing(obs)
            return
        assert snapshot is not None
        self._track_stops(actual, obs.at)
        found = self._problems(actual, snapshot)
        for problem in found:
            if problem.kind in self._failed:
                continue
            self._recover(problem, obs)
        self._schedule_recheck(self._ctx.clock.monotonic())
        if found:
            return
        if self._failed:
            self._set(SessionState.FAILED, "; ".join(self._failed.values()))
        elif self.state is not SessionState.HEALTHY:
            self._set(SessionState.HEALTHY, "")
        self._checkpoint(actual, snapshot)

    def _problems(self, actual: SessionSnapshot, snapshot: ServerSnapshot) -> list[Diagnosis]:
        now = self._ctx.clock.monotonic()
        found: list[Diagnosis] = []
        if self._unvalidated and self._expected is not None:
            # Our last restore did not match: finish it from the checkpoint before anything
            # else, and never checkpoint the half-built session.
            missing = missing_structure(self._expected, actual)
            if missing:
                found.append(
                    Diagnosis(FailureKind.CORRUPTED, "incomplete restore: " + "; ".join(missing))
                )
            else:
                self._unvalidated = False
        found += diagnose(
            expected=self._expected,
            spec=self._spec,
            actual=actual,
            policy=self.settings.policy,
            stopped_for={k: now - t for k, t in self._stopped_since.items()},
            resumed_for={k: now - t for k, t in self._resumed.items()},
            frozen_grace=self.settings.frozen_grace,
            match_ids=snapshot.pid is not None and snapshot.pid == self._server_pid,
        )
        return found

    def _missing(self, obs: Observation) -> None:
        snapshot = obs.snapshot
        same_server = (
            snapshot is not None and snapshot.pid is not None and snapshot.pid == self._server_pid
        )
        if not self.settings.declared and same_server:
            self._release()
            return
        if self._expected is None and self._spec is None:
            if not self._failed:
                self._set(SessionState.WAITING, "not on the tmux server; nothing to build it from")
            return
        if obs.kind is ObservationKind.GONE and self._server_pid is not None:
            # A server that was just killed may still be exiting; a new-session on its socket
            # then fails. Wait (bounded) for the old pid to be gone first.
            wait_pid_gone(self._server_pid, 2.0)
        detail = "no tmux server" if obs.kind is ObservationKind.GONE else "session closed"
        if FailureKind.CRASHED not in self._failed:
            self._recover(Diagnosis(FailureKind.CRASHED, detail), obs)

    def _recover(self, problem: Diagnosis, obs: Observation) -> None:
        """Run the recovery for ``problem``, bounded by the restart intensity of its kind."""
        clock = self._ctx.clock
        detected = clock.monotonic()
        if obs.onset is not None:
            self._ctx.metrics.failure_detection.labels(problem.kind.value).observe(
                max(0.0, detected - obs.onset)
            )
        if problem.kind is FailureKind.FROZEN and problem.resume:
            self._resume(problem)
            return
        window = self._intensity(problem.kind)
        if window.record(detected):
            reason = (
                f"{problem.kind.value}: {problem.detail}; gave up after more than "
                f"{window.max_restarts} recoveries in {window.max_seconds:g} s"
            )
            self._fail(problem.kind, reason)
            self._ctx.metrics.recoveries.labels(problem.kind.value, "failed").inc()
            self._audit(problem.kind.value, problem.detail, "give_up", "failed")
            return
        self._set(SessionState.RECOVERING, f"{problem.kind.value}: {problem.detail}")
        record = recovery_log.begin(
            self._ctx.store, self.settings.name, problem.kind.value, problem.detail,
            _ACTIONS[problem.kind],
        )  # fmt: skip
        try:
            action, ok, why = self._act(problem)
        except Exception as exc:  # a recovery that raises is a failed recovery, not a crash
            logger.exception("session %r: %s recovery raised", self.settings.name, problem.kind)
            action, ok, why = _ACTIONS[problem.kind], False, f"{type(exc).__name__}: {exc}"
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
        detail = problem.detail if not why else f"{problem.detail} ({why})"
        recovery_log.complete(
            self._ctx.store, record, self.settings.name, problem.kind.value,
            detail=detail, action=action, outcome=outcome, duration=duration,
        )  # fmt: skip

    def _act(self, problem: Diagnosis) -> tuple[str, bool, str]:
        """Carry out the recovery of ``problem``: (action, validated, why not)."""
        client = self._ctx.client
        kind = problem.kind
        if kind is FailureKind.CRASHED:
            source = self._expected or self._spec
            assert source is not None  # _missing waits when there is neither
            result = restore_session(client, source, self.settings.policy)
            self._unvalidated = not result.ok
            if result.ok and result.session is not None and self._expected is not None:
                self._rebind(result.session)
            return "restore", result.ok, "; ".join(result.differences)
        actual = self._observe_own()
        if actual is None:
            return _ACTIONS[kind], False, "the session vanished during the recovery"
        if kind is FailureKind.CORRUPTED:
            reference = self._expected if self._unvalidated else self._spec
            assert reference is not None
            execute_plan(client, plan_repair(reference, actual, self.settings.policy))
            after = self._observe_own()
            missing = ["the session vanished"] if after is None else missing_structure(
                reference, after
            )  # fmt: skip
            if not missing and reference is self._expected and after is not None:
                self._unvalidated = False
                self._rebind(after)
            return "recreate_missing", not missing, "; ".join(missing)
        for pane in problem.panes:
            respawn_pane(client, pane.pane_id, pane.argv, pane.cwd)
            self._stopped_since.pop(pane.key, None)
            self._resumed.pop(pane.key, None)
        return "respawn", *self._validate_programs(problem)

    def _validate_programs(self, problem: Diagnosis) -> tuple[bool, str]:
        """Observe until every respawned program runs, for at most :data:`SETTLE` seconds."""
        _, problems = observe_until(
            self._ctx.client,
            self.settings.name,
            lambda seen: _program_problems(problem, seen),
            SETTLE,
        )
        return not problems, "; ".join(problems)

    def _resume(self, problem: Diagnosis) -> None:
        """First step for a stopped program: SIGCONT its process group."""
        now = self._ctx.clock.monotonic()
        for pane in problem.panes:
            if pane.program_pid:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(os.getpgid(pane.program_pid), signal.SIGCONT)
            self._resumed[pane.key] = now
        self._set(SessionState.FROZEN, problem.detail)
        self._audit(problem.kind.value, problem.detail, "sigcont", "attempted")

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

    # --- looking again --------------------------------------------------------------------

    def _observe_own(self) -> SessionSnapshot | None:
        """A fresh snapshot of this session (scrollback included when it asks for it)."""
        return self._snapshot().session(self.settings.name)

    def _snapshot(self) -> ServerSnapshot:
        lines = self.settings.scrollback
        return take_snapshot(
            self._ctx.client, scrollback={self.settings.name: lines} if lines else None
        )

    def _look_again(self) -> None:
        """Observe the server ourselves (a grace period ended between two polls)."""
        now = self._ctx.clock.monotonic()
        with suppress(RecoveryError):  # the watcher's next poll reports a server problem
            self._observe(Observation(ObservationKind.OK, self._snapshot(), now))

    def _schedule_recheck(self, now: float) -> None:
        """Look again the moment a stop or a SIGCONT outlives its grace, not at the next poll."""
        scheduler = self._ctx.scheduler
        if scheduler is None or self._recheck_pending:
            return
        grace = self.settings.frozen_grace
        deadlines = [t + grace for t in (*self._stopped_since.values(), *self._resumed.values())]
        future = [d for d in deadlines if d > now]
        if future:
            self._recheck_pending = True
            scheduler.call_later(min(future) - now, self.actor_ref, _Recheck())

    # --- checkpoints, intensity, audit, state ---------------------------------------------

    def _checkpoint(self, actual: SessionSnapshot, snapshot: ServerSnapshot) -> None:
        if actual.is_empty or self._unvalidated:
            return  # never save an empty or half-restored snapshot over a good one
        if any(p.argv is None and not p.dead for p in actual.panes()):
            return  # a pane whose program just exited and tmux has not reaped yet: unsettled
        fingerprint = _fingerprint(actual, snapshot.pid)
        now = self._ctx.clock.monotonic()
        since_write = now - self._last_write
        scrollback_due = self.settings.scrollback > 0 and since_write >= SCROLLBACK_INTERVAL
        if fingerprint == self._fingerprint and not scrollback_due:
            return
        try:
            self._ctx.store.checkpoints.create(
                self.settings.name,
                # The server pid is part of the state so the first look at a new server writes
                # a checkpoint: its pane ids are then valid again for matching.
                {"session": actual.to_dict(), "server_pid": snapshot.pid},
                metadata={
                    "server_pid": snapshot.pid,
                    "mode": "declared" if self.settings.declared else "adopted",
                },
            )
        except (StoreError, ValueError) as exc:
            logger.error("session %r: checkpoint failed: %s", self.settings.name, exc)
            return
        self._expected = actual
        self._server_pid = snapshot.pid
        self._fingerprint = fingerprint
        self._last_write = now

    def _rebind(self, actual: SessionSnapshot) -> None:
        """After our own restore or repair: the checkpoint's panes now have ``actual``'s ids."""
        assert self._expected is not None
        self._expected = _with_ids(self._expected, actual)
        with suppress(RecoveryError):
            self._server_pid = self._ctx.client.server_pid()

    def _intensity(self, kind: FailureKind) -> IntensityWindow:
        key = (self.settings.name, kind)
        window = self._ctx.intensities.get(key)
        if window is None:
            window = IntensityWindow(
                self.settings.program_max_restarts, self.settings.program_max_seconds
            )
            self._ctx.intensities[key] = window
        return window

    def _fail(self, kind: FailureKind, reason: str) -> None:
        self._failed[kind] = reason
        self._set(SessionState.FAILED, "; ".join(self._failed.values()))
        logger.error("session %r failed: %s", self.settings.name, reason)

    def _unfail(self, now: float) -> None:
        """Re-arm the kinds whose intensity window has passed since they were given up on."""
        for kind in list(self._failed):
            window = self._ctx.intensities.get((self.settings.name, kind))
            if window is not None and window.count(now) == 0:
                del self._failed[kind]
                self._audit(kind.value, "restart intensity window passed", "rearm", "success")

    def _release(self) -> None:
        self._set(SessionState.RELEASED, "closed while the tmux server kept running")
        self._audit("released", "closed by the user; no longer watched", "release", "success")
        self.actor_ref.stop(block=False)  # a normal exit: a transient child is not restarted

    def _set(self, state: SessionState, detail: str) -> None:
        if state is not self.state:
            gauge = self._ctx.metrics.sessions
            gauge.labels(self.state.value).dec()
            gauge.labels(state.value).inc()
        self.state = state
        self.detail = detail

    def _audit(
        self, kind: str, detail: str, action: str, outcome: str, duration: float | None = None
    ) -> None:
        audit_kind = "recovery" if kind in FailureKind.__members__.values() else "session"
        try:
            self._ctx.store.audit.append(
                audit_kind,
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


def _with_ids(expected: SessionSnapshot, actual: SessionSnapshot) -> SessionSnapshot:
    """``expected`` with the session, window and pane ids (and pids) of ``actual``, by position."""
    windows = []
    for w, aw in zip(expected.windows, actual.windows, strict=False):
        panes = (
            tuple(
                replace(p, pane_id=ap.pane_id, pid=ap.pid, program_pid=ap.program_pid)
                for p, ap in zip(w.panes, aw.panes, strict=False)
            )
            + w.panes[len(aw.panes) :]
        )
        windows.append(replace(w, window_id=aw.window_id, panes=panes))
    windows += expected.windows[len(actual.windows) :]
    return replace(expected, session_id=actual.session_id, windows=tuple(windows))


def _fingerprint(session: SessionSnapshot, server_pid: int | None) -> Any:
    return (_strip(session.to_dict()), server_pid)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
