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
left alone until it is re-armed after a backoff that doubles with each give-up
(:mod:`.limits`), while other kinds (a server crash, say) are still recovered. ``sessions list``
shows when the next attempt is.

The decisions are pure parts (:mod:`.checkpointing`, :mod:`.stops`, :mod:`.limits`,
:mod:`.diagnosis`); this actor receives, asks them, and acts through its
:class:`~yesman_recovery.actors.context.SessionContext`.
"""

from __future__ import annotations

import logging
import signal
from contextlib import suppress
from dataclasses import replace
from typing import Any

from yesman_recovery.actors import recovery_log
from yesman_recovery.actors.agent_resumes import (
    FAILED,
    ResumeWatch,
    Verdict,
    plan_resumes,
    summary,
    without_binding,
)
from yesman_recovery.actors.before_script import run_before_script
from yesman_recovery.actors.checkpointing import Checkpointing
from yesman_recovery.actors.context import (
    Observation,
    ObservationKind,
    SessionContext,
    SessionSettings,
    SessionState,
)
from yesman_recovery.actors.diagnosis import Diagnosis, FailureKind, diagnose, pane_map
from yesman_recovery.actors.limits import RecoveryLimits, format_delay
from yesman_recovery.actors.recovery import ACTIONS, SETTLE, act, create, snapshot_of
from yesman_recovery.actors.server_ends import (
    BACK_LABEL,
    BY_USER,
    ENDED_DETAIL,
    ENDED_LABEL,
    closed_by_user,
)
from yesman_recovery.actors.stops import StopTracker
from yesman_recovery.actors.windows import WindowIds
from yesman_recovery.errors import RecoveryError, SpecError, StoreError, TmuxServerGone
from yesman_recovery.labels import Action, AuditKind, Outcome
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.tmux.checkpoint import SessionCheckpoint
from yesman_recovery.tmux.records import ServerSnapshot, SessionSnapshot
from yesman_recovery.tmux.spec import bare_session, load_spec

__all__ = [
    "SETTLE",
    "Observation",
    "ObservationKind",
    "SessionActor",
    "SessionContext",
    "SessionSettings",
    "SessionState",
]

logger = logging.getLogger(__name__)

SERVER_EXIT_WAIT = 2.0
"""Seconds to wait for a killed server's pid to be gone before restoring on its socket."""


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
        self._checkpoints = Checkpointing(keeps_scrollback=settings.scrollback > 0)
        self._stops = StopTracker()
        self._limits = RecoveryLimits(
            settings.name,
            settings.program_max_restarts,
            settings.program_max_seconds,
            context.intensities,
            backoff=settings.give_up_backoff,
            history=context.give_ups,
        )
        self._acted_at = float("-inf")  # monotonic time our last recovery action finished
        self._recheck_pending = False  # True iff a _Recheck is scheduled
        self._window_ids = WindowIds()  # live ids of the spec's windows, on the current server
        self._was_paused = False  # True iff paused by hand since the last observation acted on
        self._before_ran = False  # True once the spec's before_script ran (once per actor)
        self._note = ""  # what sessions list shows beside the state (a failed before_script)
        self._user_ended = False  # True iff the user ended its server on purpose (not restored)
        self._closed_as: str | None = None  # how the user last closed it, until it is back
        self._resumes = ResumeWatch()  # agent panes a recovery resumed, until seen again

    # --- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        # yesman_recovery_sessions{state} counts live session actors by state: +1 here, moved
        # by _set, -1 in on_exit.
        self._ctx.metrics.sessions.labels(self.state.value).inc()
        name = self.settings.name
        self._closed_as = closed_by_user(self._ctx.store.audit, name)
        self._user_ended = self._ctx.server_ends is not None and self._closed_as == ENDED_LABEL
        try:
            latest = self._ctx.store.checkpoints.latest_good(name)
        except StoreError as exc:
            logger.error("session %r: cannot read its checkpoints: %s", name, exc)
            latest = None
        if latest is not None:
            try:
                self._checkpoints.load(SessionCheckpoint.from_state(latest.state))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                logger.error("session %r: newest checkpoint unusable: %s", name, exc)
        if self.settings.spec_path is not None:
            try:
                if self.settings.spec_error is not None:  # read before the actor started
                    raise SpecError(self.settings.spec_error)
                spec = self.settings.spec or load_spec(self.settings.spec_path)
                self._spec = replace(spec, name=name)
                policy = self.settings.policy.with_spec(self._spec)
                self.settings = replace(self.settings, policy=policy)
            except SpecError as exc:
                # One bad spec must not take the other sessions down, nor this one when it has
                # a checkpoint: keep the session as it last was, and say why.
                self._audit(AuditKind.SESSION, "spec", str(exc), Action.LOAD_SPEC, Outcome.FAILED)
                if self._checkpoints.expected is None:
                    self._fail(FailureKind.CORRUPTED, str(exc))
                else:
                    self.detail = f"spec ignored: {exc}"
        elif self.settings.declared and self._checkpoints.expected is None:
            # Declared without a spec and never seen: created as a plain session, as
            # `tmux new-session` would; from then on it comes back as it was checkpointed.
            self._spec = bare_session(name)

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
        detail = self.detail
        retry_in = None
        next_attempt = self._limits.next_attempt()
        if self.state is SessionState.FAILED and next_attempt is not None:
            retry_in = max(0.0, next_attempt - self._ctx.clock.monotonic())
            detail = f"{detail}; next attempt in {format_delay(retry_in)}"
        return {
            "name": self.settings.name,
            "mode": self.settings.mode.value,
            "state": self.state.value,
            "detail": detail,
            "recoveries": self.recoveries,
            "checkpointed": self._checkpoints.expected is not None,
            "retry_in": retry_in,
            "origin": self.settings.origin,
            "note": self._note,
            "agents": self._agents(),
        }

    def _agents(self) -> list[dict[str, Any]]:
        """Each agent pane of the checkpoint and the conversation it is bound to."""
        expected = self._checkpoints.expected
        if expected is None:
            return []
        return [
            {"window": key[0], "pane": key[1], **pane.agent.to_dict()}
            for key, pane in pane_map(expected).items()
            if pane.agent is not None
        ]

    # --- session control (``yesman-recovery sessions reset|restore``) ----------------------

    def reset(self) -> dict[str, Any]:
        """Clear ``failed`` now (every kind given up on, and the intensity windows); look again."""
        self._limits.reset()
        self._user_ended = False
        if self.state is SessionState.FAILED:
            self._set(SessionState.STARTING, "reset by hand")
        return self.look_now()

    def look_now(self) -> dict[str, Any]:
        """Observe the server now (and so restore a missing session now); the new state.

        A server that is gone is observed as such (the session is then restored on a new one).
        """
        now = self._ctx.clock.monotonic()
        try:
            obs = Observation(ObservationKind.OK, self._snapshot(), now)
        except TmuxServerGone as exc:
            obs = Observation(ObservationKind.GONE, None, now, detail=str(exc))
        except RecoveryError:
            return self.describe()  # unresponsive: the watcher's next poll handles it
        self._observe(obs)
        return self.describe()

    def _paused(self, obs: Observation) -> bool:
        """True iff paused by hand: the observation is ignored (state ``paused``).

        On resume, a session that is there is taken as it is now (its changes made during the
        pause are the new expected layout, checkpointed at once), not "repaired" back.
        """
        pause = self._ctx.paused.get(self.settings.name) if self._ctx.paused else None
        if pause is not None:
            self._was_paused = True
            self._set(SessionState.PAUSED, pause.describe())
            return True
        if self._was_paused:
            self._was_paused = False
            present = obs.snapshot is not None and obs.snapshot.session(self.settings.name)
            if present:
                self._checkpoints = Checkpointing(keeps_scrollback=self.settings.scrollback > 0)
            self._set(SessionState.STARTING, "resumed")
        return False

    # --- observation → diagnosis → recovery ----------------------------------------------

    def _observe(self, obs: Observation) -> None:
        if self.state is SessionState.RELEASED or self._supervision.stop_requested.is_set():
            return  # let go, or being replaced: the next incarnation acts
        if self._paused(obs):
            return
        if obs.at < self._acted_at:
            return  # taken before our last recovery finished: it shows the old failure
        if obs.kind in (ObservationKind.TIMEOUT, ObservationKind.ERROR):
            # The watcher handles the server (SIGCONT, kill if allowed) and counts it once.
            self._set(SessionState.FROZEN, f"tmux server unresponsive: {obs.detail}")
            return
        for kind in self._limits.rearm(obs.at):
            self._audit(
                AuditKind.RECOVERY, kind, "give-up backoff passed", Action.REARM, Outcome.SUCCESS,
            )  # fmt: skip
        snapshot = obs.snapshot
        actual = snapshot.session(self.settings.name) if snapshot is not None else None
        if actual is None:
            self._missing(obs)
            return
        self._user_ended = False  # it is back (the user's own doing)
        if self._closed_as is not None:
            self._closed_as = None
            detail = "on the tmux server again"
            self._audit(AuditKind.SESSION, BACK_LABEL, detail, Action.START, Outcome.SUCCESS)
        assert snapshot is not None
        self._judge_resumes(self._resumes.check(actual, self._ctx.clock.monotonic()))
        self._track_stops(actual, obs.at)
        found = self._problems(actual, snapshot)
        for problem in found:
            if not self._limits.gave_up(problem.kind):
                self._recover(problem, obs)
        self._schedule_recheck(self._ctx.clock.monotonic())
        if found:
            return
        if self._limits.failed:
            self._set(SessionState.FAILED, self._limits.reasons())
        elif self.state is not SessionState.HEALTHY:
            self._set(SessionState.HEALTHY, "")
        self._checkpoint(actual, snapshot)

    def _problems(self, actual: SessionSnapshot, snapshot: ServerSnapshot) -> list[Diagnosis]:
        now = self._ctx.clock.monotonic()
        # A restore that did not match is finished from the checkpoint before anything else,
        # and the half-built session is never checkpointed.
        incomplete = self._checkpoints.incomplete_restore(actual)
        found = [incomplete] if incomplete is not None else []
        found += diagnose(
            expected=self._checkpoints.expected,
            spec=self._spec,
            actual=actual,
            policy=self.settings.policy,
            stopped_for=self._stops.stopped_for(now),
            resumed_for=self._stops.resumed_for(now),
            frozen_grace=self.settings.frozen_grace,
            match_ids=snapshot.pid is not None and snapshot.pid == self._checkpoints.server_pid,
            window_ids=self._window_ids.on_server(snapshot.pid),
        )
        return found

    def _missing(self, obs: Observation) -> None:
        snapshot = obs.snapshot
        server_pid = self._checkpoints.server_pid
        same_server = (
            snapshot is not None and snapshot.pid is not None and snapshot.pid == server_pid
        )
        if not self.settings.declared and same_server:
            self._release()
            return
        if self._user_ended or (server_pid is not None and not same_server and self._by_user(
            server_pid, gone=obs.kind is ObservationKind.GONE
        )):  # fmt: skip
            return
        if self._checkpoints.expected is None and self._spec is None:
            if not self._limits.failed:
                self._set(SessionState.WAITING, "not on the tmux server; nothing to build it from")
            return
        if self._checkpoints.expected is None and self.settings.declared:
            # Never seen healthy, so never checkpointed: built for the first time, not a crash.
            if not self._limits.gave_up(FailureKind.CRASHED):
                self._create()
            return
        if obs.kind is ObservationKind.GONE and server_pid is not None:
            # A server that was just killed may still be exiting; a new-session on its socket
            # then fails. Wait (bounded) for the old pid to be gone first.
            self._ctx.processes.wait_gone(server_pid, SERVER_EXIT_WAIT)
        detail = "no tmux server" if obs.kind is ObservationKind.GONE else "session closed"
        if not self._limits.gave_up(FailureKind.CRASHED):
            self._recover(Diagnosis(FailureKind.CRASHED, detail), obs)

    def _recover(self, problem: Diagnosis, obs: Observation) -> None:
        """Run the recovery for ``problem``, bounded by the restart intensity of its kind."""
        clock = self._ctx.clock
        metrics = self._ctx.metrics
        kind = problem.kind
        detected = clock.monotonic()
        if obs.onset is not None:
            metrics.failure_detection.labels(kind.value).observe(max(0.0, detected - obs.onset))
        if kind is FailureKind.FROZEN and problem.resume:
            self._resume(problem)
            return
        reason = self._limits.over(problem, detected)
        if reason is not None:
            after = self._fail(kind, reason, detected)
            metrics.recoveries.labels(kind.value, Outcome.FAILED).inc()
            detail = problem.detail + after
            self._audit(AuditKind.RECOVERY, kind, detail, Action.GIVE_UP, Outcome.FAILED)
            return
        self._set(SessionState.RECOVERING, f"{kind.value}: {problem.detail}")
        resumes = self._plan_resumes(problem)
        record = recovery_log.begin(
            self._ctx.store, self.settings.name, kind.value, problem.detail, ACTIONS[kind]
        )
        try:
            action, ok, why = act(
                problem,
                ctx=self._ctx,
                settings=self.settings,
                checkpoints=self._checkpoints,
                stops=self._stops,
                spec=self._spec,
            )
        except Exception as exc:  # a recovery that raises is a failed recovery, not a crash
            logger.exception("session %r: %s recovery raised", self.settings.name, kind)
            action, ok, why = ACTIONS[kind], False, f"{type(exc).__name__}: {exc}"
        self._acted_at = clock.monotonic()
        duration = self._acted_at - detected
        outcome = Outcome.SUCCESS if ok else Outcome.FAILED
        metrics.recoveries.labels(kind.value, outcome).inc()
        if ok:
            metrics.recovery_duration.labels(kind.value).observe(duration)
            self.recoveries += 1
            self._set(SessionState.HEALTHY, "")
        else:
            self.detail = f"{kind.value}: {why}"
        detail = problem.detail if not why else f"{problem.detail} ({why})"
        if resumes:
            detail = f"{detail}; {summary(resumes)}"
            if ok:
                self._judge_resumes(self._resumes.started(resumes, clock.monotonic()))
        recovery_log.complete(
            self._ctx.store, record, self.settings.name, kind.value,
            detail=detail, action=action, outcome=outcome, duration=duration,
        )  # fmt: skip

    def _plan_resumes(self, problem: Diagnosis) -> list[Any]:
        """The agent panes ``problem``'s recovery starts (see :mod:`.agent_resumes`)."""
        policy = self.settings.policy
        try:
            if problem.kind is FailureKind.CRASHED:
                return plan_resumes(self._checkpoints.expected or self._spec, policy)
            if problem.kind in (FailureKind.DISCONNECTED, FailureKind.FROZEN) and problem.panes:
                keys = [a.key for a in problem.panes]
                return plan_resumes(self._checkpoints.expected or self._spec, policy, keys)
        except Exception:  # the audit of a resume must never stop the recovery itself
            logger.exception("session %r: agent resumes could not be planned", self.settings.name)
        return []

    def _judge_resumes(self, verdicts: list[Verdict]) -> None:
        """Count and audit each agent resume's outcome (own, fresh, failed)."""
        for verdict in verdicts:
            self._ctx.metrics.agent_resumes.labels(verdict.resume.agent, verdict.outcome).inc()
            outcome = Outcome.FAILED if verdict.outcome == FAILED else Outcome.SUCCESS
            expected = self._checkpoints.expected
            if verdict.outcome == FAILED and expected is not None:
                self._checkpoints.expected = without_binding(expected, verdict.resume.key)
            self._audit(
                AuditKind.RECOVERY, "agent " + verdict.outcome, verdict.detail,
                Action.RESUME_AGENT, outcome,
            )  # fmt: skip

    def _create(self) -> None:
        """Build the declared session from its spec; audited and counted as ``created``."""
        assert self._spec is not None
        clock = self._ctx.clock
        started = clock.monotonic()
        problem = Diagnosis(FailureKind.CRASHED, "could not be created from its spec")
        reason = self._limits.over(problem, started)  # a spec that never builds gives up
        if reason is not None:
            after = self._fail(FailureKind.CRASHED, reason, started)
            self._audit(
                AuditKind.SESSION, "created", reason + after, Action.GIVE_UP, Outcome.FAILED
            )
            return
        self._set(SessionState.RECOVERING, "creating it from its spec")
        self._before_script()
        try:
            ok, why = create(self._ctx, self.settings, self._spec)
        except Exception as exc:  # a failed creation, not a crash of the actor
            logger.exception("session %r: creation raised", self.settings.name)
            ok, why = False, f"{type(exc).__name__}: {exc}"
        self._acted_at = clock.monotonic()
        outcome = Outcome.SUCCESS if ok else Outcome.FAILED
        self._ctx.metrics.sessions_created.labels(outcome).inc()
        if ok:
            self._set(SessionState.HEALTHY, "")
        else:
            self.detail = f"created: {why}"
        detail = "from its spec" + (f" ({why})" if why else "")
        duration = self._acted_at - started
        self._audit(AuditKind.SESSION, "created", detail, Action.CREATE, outcome, duration=duration)

    def _before_script(self) -> None:
        """Run the spec's ``before_script`` once (:mod:`.before_script`); a failure is audited
        and noted, and the session is still created."""
        if not self.settings.before_script or self._before_ran or self._spec is None:
            return
        self._before_ran = True
        started = self._ctx.clock.monotonic()
        stopping = self._supervision.stop_requested.is_set
        failed = run_before_script(self.settings, dict(self._spec.environment), stopping)
        took = self._ctx.clock.monotonic() - started
        self._note = f"before_script failed: {failed}" if failed else ""
        outcome = Outcome.FAILED if failed else Outcome.SUCCESS
        detail = failed or f"ran {len(self.settings.before_script)} command(s)"
        self._audit(AuditKind.SESSION, "before_script", detail, Action.BEFORE_SCRIPT, outcome,
                    duration=took)  # fmt: skip

    def _resume(self, problem: Diagnosis) -> None:
        """First step for a stopped program: SIGCONT its process group."""
        now = self._ctx.clock.monotonic()
        for pane in problem.panes:
            if pane.program_pid:
                self._ctx.processes.signal_group(pane.program_pid, signal.SIGCONT)
            self._stops.sigcont_sent(pane.key, now)
        self._set(SessionState.FROZEN, problem.detail)
        kind = FailureKind.FROZEN
        self._audit(AuditKind.RECOVERY, kind, problem.detail, Action.SIGCONT, Outcome.ATTEMPTED)

    def _track_stops(self, actual: SessionSnapshot, now: float) -> None:
        stopped = [key for key, pane in pane_map(actual).items() if pane.stopped]
        metrics = self._ctx.metrics
        kind = FailureKind.FROZEN
        for resumed in self._stops.observe(stopped, now):
            # The SIGCONT worked: the frozen program runs again.
            metrics.recoveries.labels(kind.value, Outcome.SUCCESS).inc()
            metrics.recovery_duration.labels(kind.value).observe(resumed.after)
            self.recoveries += 1
            detail = f"pane {resumed.key} resumed"
            self._audit(
                AuditKind.RECOVERY,
                kind,
                detail,
                Action.SIGCONT,
                Outcome.SUCCESS,
                duration=resumed.after,
            )

    # --- looking again --------------------------------------------------------------------

    def _snapshot(self) -> ServerSnapshot:
        return snapshot_of(self._ctx, self.settings)

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
        delay = self._stops.next_deadline(now, self.settings.frozen_grace)
        if delay is not None:
            self._recheck_pending = True
            scheduler.call_later(delay, self.actor_ref, _Recheck())

    # --- checkpoints, give-up, audit, state ------------------------------------------------

    def _checkpoint(self, actual: SessionSnapshot, snapshot: ServerSnapshot) -> None:
        now = self._ctx.clock.monotonic()
        due = self._checkpoints.due(actual, snapshot.pid, now)
        if due is None:
            return
        try:
            self._ctx.store.checkpoints.create(
                self.settings.name,
                due.checkpoint.state(),
                metadata=due.checkpoint.metadata(self.settings.mode),
            )
        except (StoreError, ValueError) as exc:
            logger.error("session %r: checkpoint failed: %s", self.settings.name, exc)
            return
        self._checkpoints.written(due, now)

    def _fail(self, kind: FailureKind, reason: str, now: float | None = None) -> str:
        """Give up on ``kind``; returns ``"; next attempt in …"`` (empty: none planned)."""
        delay = self._limits.give_up(kind, reason, now)
        self._set(SessionState.FAILED, self._limits.reasons())
        after = "" if delay is None else f"; next attempt in {format_delay(delay)}"
        logger.error("session %r failed: %s%s", self.settings.name, reason, after)
        return after

    def _by_user(self, server_pid: int, *, gone: bool) -> bool:
        """True iff the server ``server_pid`` was ended by the user (:mod:`.server_ends`) and no
        program of ours may have ended it instead: the session is then not restored (an adopted
        one is let go), and that is audited once."""
        ends = self._ctx.server_ends
        if ends is None:
            return False
        if gone:
            self._ctx.processes.wait_gone(server_pid, SERVER_EXIT_WAIT)
        if ends.verdict(server_pid) != BY_USER or self._program_owns_a_pane():
            return False
        self._user_ended = True
        self._closed_as = ENDED_LABEL
        self._audit(AuditKind.SESSION, ENDED_LABEL, ENDED_DETAIL, Action.RELEASE, Outcome.SUCCESS)
        if not self.settings.declared:
            self._set(SessionState.RELEASED, ENDED_LABEL)
            self.actor_ref.stop(block=False)
        else:
            self._set(SessionState.WAITING, f"{ENDED_LABEL}; `sessions reset` restores it")
        return True

    def _program_owns_a_pane(self) -> bool:
        """True iff a pane of the session ran a program as its own process (``tmux new 'cmd'``,
        no shell): that program's death closes its pane and may have ended the last session,
        which a control client cannot tell from the user's own end (both are a clean exit)."""
        expected = self._checkpoints.expected
        policy = self.settings.policy
        return expected is not None and any(
            p.pid is not None and p.program_pid == p.pid and not policy.is_shell(p.argv)
            for p in expected.panes()
        )

    def _release(self) -> None:
        self._set(SessionState.RELEASED, "closed while the tmux server kept running")
        self._audit(
            AuditKind.SESSION, "released", "closed by the user; no longer watched",
            Action.RELEASE, Outcome.SUCCESS,
        )  # fmt: skip
        self.actor_ref.stop(block=False)  # a normal exit: a transient child is not restarted

    def _set(self, state: SessionState, detail: str) -> None:
        if state is not self.state:
            gauge = self._ctx.metrics.sessions
            gauge.labels(self.state.value).dec()
            gauge.labels(state.value).inc()
        self.state = state
        self.detail = detail

    def _audit(
        self,
        kind: AuditKind,
        label: str,
        detail: str,
        action: Action,
        outcome: Outcome,
        *,
        duration: float | None = None,
    ) -> None:
        """Append ``label: detail`` to the audit trail; a failed write is logged, not raised."""
        try:
            self._ctx.store.audit.append(
                kind,
                self.settings.name,
                detail=f"{label}: {detail}",
                action=action,
                outcome=outcome,
                duration=duration,
            )
        except (StoreError, ValueError) as exc:
            logger.error("session %r: audit write failed: %s", self.settings.name, exc)
