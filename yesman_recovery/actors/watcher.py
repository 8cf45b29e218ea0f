"""``TmuxWatcher``: one look at the whole tmux server per tick, and exit events in between.

Every ``poll_interval`` (a scheduler tick) the watcher takes one snapshot of the server — one
tmux process, whatever the number of sessions — and sends it to every ``SessionActor``. Between
ticks, pidfds on the server and on every watched pane's program turn "the server died" and "the
agent exited" into a snapshot ~10 ms later (:class:`~yesman_recovery.actors.pidwatch.ExitWatcher`).

The watcher also owns *which* sessions are watched: declared sessions are the sessions
supervisor's static children; sessions matching ``[tmux] adopt`` are started as ``transient``
children when first seen, and their names are kept in the store (scope ``ADOPTED_SCOPE``) so that
after a reboot or a crash of the daemon they are restored even though the server that ran them is
gone. A released session (closed by the user) leaves that list.

An unresponsive server (no answer within ``command_timeout``) is SIGCONTed if it is stopped, and
killed (SIGKILL, by the pid it last reported) only when ``allow_kill_server`` is set and it stays
unresponsive for ``frozen_grace``; the sessions are then restored like after any server crash.

Tree shape (``rest_for_one``)::

    tmux        Supervisor rest_for_one
    ├─ sessions SessionsSupervisor one_for_one: one SessionActor per watched session
    └─ watcher  TmuxWatcher

The sessions supervisor starts first so a crash of it restarts the watcher too, which then
re-adopts every session from the server and the store.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import signal
import threading
from dataclasses import dataclass, replace
from typing import Any

import psutil
import pykka

from yesman_recovery.actors.pidwatch import ExitWatcher
from yesman_recovery.actors.session import (
    Observation,
    ObservationKind,
    SessionActor,
    SessionContext,
    SessionSettings,
)
from yesman_recovery.errors import StoreError, TmuxError, TmuxServerGone, TmuxTimeout
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Periodic, Scheduler
from yesman_recovery.supervisors.spec import ChildSpec, Restart, Strategy
from yesman_recovery.supervisors.supervisor import ChildInfo, ChildState, Supervisor
from yesman_recovery.tmux.records import ServerSnapshot
from yesman_recovery.tmux.snapshot import take_snapshot

logger = logging.getLogger(__name__)

ADOPTED_SCOPE = "yesman-recovery:adopted"
"""Checkpoint scope listing adopted sessions (``:`` cannot occur in a tmux session name)."""
EXIT_SETTLE = 0.01
"""Seconds between an exit event and the snapshot it triggers, so tmux has reaped the pane."""
ASK_TIMEOUT = 10.0


class RefCell:
    """The current ref of an actor that may be restarted; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ref: pykka.ActorRef[Any] | None = None

    def set(self, ref: pykka.ActorRef[Any] | None) -> None:
        with self._lock:
            self._ref = ref

    def get(self) -> pykka.ActorRef[Any] | None:
        with self._lock:
            return self._ref


class SessionsSupervisor(Supervisor):
    """The supervisor of the session actors; publishes its ref in ``cell`` once started."""

    def __init__(self, cell: RefCell, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cell = cell

    def on_start(self) -> None:
        super().on_start()
        self._cell.set(self.actor_ref)

    def on_exit(self, reason: ExitReason) -> None:
        self._cell.set(None)  # before the children stop: nobody should send them more
        super().on_exit(reason)


@dataclass(frozen=True)
class WatchSettings:
    """What the watcher watches and how (from ``[tmux]`` and ``[[sessions]]``)."""

    poll_interval: float
    adopt: tuple[str, ...]
    declared: frozenset[str]
    adopted_template: SessionSettings  # settings of an adopted session, name replaced
    allow_kill_server: bool = False
    frozen_grace: float = 2.0
    scrollback: tuple[tuple[str, int], ...] = ()

    def adopts(self, name: str) -> bool:
        return name not in self.declared and any(fnmatch.fnmatchcase(name, p) for p in self.adopt)


@dataclass(frozen=True)
class _Poll:
    onset: float | None = None


@dataclass(frozen=True)
class _Exited:
    pid: int
    at: float


class TmuxWatcher(SupervisedActor):
    """Observes the tmux server and fans each observation out to the session actors."""

    def __init__(
        self,
        settings: WatchSettings,
        context: SessionContext,
        sessions: RefCell,
        scheduler: Scheduler,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._ctx = context
        self._sessions = sessions
        self._scheduler = scheduler
        self._periodic: Periodic | None = None
        self._exits: ExitWatcher | None = None
        self._adopted: set[str] = set()  # adopted session names, persisted in ADOPTED_SCOPE
        self._server_pid: int | None = None  # pid of the server as last observed
        self._unresponsive_since: float | None = None
        self._exit_poll_pending = False  # True iff an exit-triggered poll is scheduled
        self.polls = 0  # observations taken by this incarnation (read by the benchmark)
        self._continued = False  # True iff SIGCONT was sent in the current unresponsive spell

    def on_start(self) -> None:
        self._adopted = self._load_adopted()
        self._exits = ExitWatcher(self._on_exit)
        self._periodic = self._scheduler.every(self.settings.poll_interval, self.actor_ref, _Poll())

    def on_exit(self, reason: ExitReason) -> None:
        self._close()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Poll):
            if message.onset is not None:
                self._exit_poll_pending = False
            self.poll(message.onset)
        elif isinstance(message, _Exited):
            # Let tmux reap the pane first, then look: the snapshot then shows it dead. Exits
            # that arrive together (a server and all its panes) share one poll.
            if not self._exit_poll_pending:
                self._exit_poll_pending = True
                self._scheduler.call_later(EXIT_SETTLE, self.actor_ref, _Poll(message.at))
        else:
            return super().on_receive(message)
        return None

    def poll(self, onset: float | None = None) -> Observation:
        """Observe the server once and tell every session actor; returns the observation."""
        obs = self._observe(onset)
        self.polls += 1
        sup = self._sessions.get()
        if sup is None:
            return obs
        try:
            infos = sup.proxy().which_children().get(timeout=ASK_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout):
            return obs  # the sessions supervisor is being restarted; next tick
        children = {c.id: c for c in infos}
        self._forget_released(sup, children)
        self._adopt(sup, children, obs.snapshot)
        for info in children.values():
            if info.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    info.ref.tell(obs)
        if obs.snapshot is not None and self._exits is not None:
            self._exits.watch_only(self._pids(obs.snapshot, children))
        return obs

    # --- observing ------------------------------------------------------------------------

    def _observe(self, onset: float | None) -> Observation:
        now = self._ctx.clock.monotonic()
        try:
            snap = take_snapshot(self._ctx.client, scrollback=dict(self.settings.scrollback))
        except TmuxServerGone as exc:
            self._answers_again(now, "escalated")
            return Observation(ObservationKind.GONE, None, now, onset, str(exc))
        except TmuxTimeout as exc:
            self._unresponsive(now)
            return Observation(ObservationKind.TIMEOUT, None, now, onset, str(exc))
        except TmuxError as exc:
            return Observation(ObservationKind.ERROR, None, now, onset, str(exc))
        self._answers_again(now, "success" if snap.pid == self._server_pid else "escalated")
        self._server_pid = snap.pid
        return Observation(ObservationKind.OK, snap, now, onset)

    def _answers_again(self, now: float, outcome: str) -> None:
        """Count a spell of an unresponsive server once, when it ends (not once per session)."""
        since = self._unresponsive_since
        if since is None:
            return
        self._unresponsive_since = None
        metrics = self._ctx.metrics
        metrics.recoveries.labels("frozen", outcome).inc()
        if outcome == "success":
            metrics.recovery_duration.labels("frozen").observe(max(0.0, now - since))
        self._audit(
            "frozen", f"tmux server answers again after {now - since:.1f} s", "wait", outcome
        )

    def _unresponsive(self, now: float) -> None:
        """First SIGCONT a stopped server (once), then, if allowed, kill one that stays hung."""
        pid = self._server_pid
        if self._unresponsive_since is None:
            self._unresponsive_since = now
            self._continued = False
        if pid is None:
            return
        if not self._continued:
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if psutil.Process(pid).status() == psutil.STATUS_STOPPED:
                    os.kill(pid, signal.SIGCONT)
                    self._continued = True
                    self._audit("frozen", f"tmux server {pid} was stopped; sent SIGCONT", "sigcont")
                    return
        waited = now - self._unresponsive_since
        if self.settings.allow_kill_server and waited >= self.settings.frozen_grace:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            detail = f"tmux server {pid} unresponsive for {waited:.1f} s; killed"
            self._audit("frozen", detail, "kill_server")
            self._server_pid = None

    def _on_exit(self, pid: int, at: float) -> None:
        # Runs in the ExitWatcher's thread: only a message crosses into the actor.
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(_Exited(pid, at))

    def _pids(self, snap: ServerSnapshot, children: dict[str, ChildInfo]) -> set[int]:
        pids = {snap.pid} if snap.pid else set()
        for session in snap.sessions:
            if session.name in children:
                for pane in session.panes():
                    pid = pane.program_pid or pane.pid
                    if pid and not pane.dead:
                        pids.add(pid)
        return pids

    # --- which sessions are watched -------------------------------------------------------

    def _adopt(
        self,
        sup: pykka.ActorRef[Any],
        children: dict[str, ChildInfo],
        snap: ServerSnapshot | None,
    ) -> None:
        wanted = set(self._adopted)
        if snap is not None:
            wanted |= {s.name for s in snap.sessions if self.settings.adopts(s.name)}
        for name in sorted(wanted - set(children) - self.settings.declared):
            spec = ChildSpec(
                name,
                SessionActor,
                kwargs={
                    "settings": _named(self.settings.adopted_template, name),
                    "context": self._ctx,
                },
                restart=Restart.TRANSIENT,
            )
            try:
                ref = sup.proxy().start_child(spec).get(timeout=ASK_TIMEOUT)
            except Exception as exc:  # one session failing to start must not stop the others
                logger.error("could not start watching session %r: %s", name, exc)
                continue
            children[name] = ChildInfo(name, ChildState.RUNNING, 1, 0, 0.0, None, False, ref)
        if wanted != self._adopted:
            self._adopted = wanted
            self._save_adopted()

    def _forget_released(self, sup: pykka.ActorRef[Any], children: dict[str, ChildInfo]) -> None:
        released = [
            name
            for name, info in children.items()
            if info.state is ChildState.STOPPED and name not in self.settings.declared
        ]
        for name in released:
            with contextlib.suppress(Exception):
                sup.proxy().delete_child(name).get(timeout=ASK_TIMEOUT)
            del children[name]
            self._adopted.discard(name)
        if released:
            self._save_adopted()

    def _load_adopted(self) -> set[str]:
        try:
            latest = self._ctx.store.checkpoints.latest_good(ADOPTED_SCOPE)
        except StoreError as exc:
            logger.error("cannot read the list of adopted sessions: %s", exc)
            return set()
        if latest is None:
            return set()
        names = latest.state.get("sessions", []) if isinstance(latest.state, dict) else []
        # Filter by today's settings: a pattern removed from `adopt` lets its sessions go.
        return {n for n in names if isinstance(n, str) and self.settings.adopts(n)}

    def _save_adopted(self) -> None:
        try:
            self._ctx.store.checkpoints.create(ADOPTED_SCOPE, {"sessions": sorted(self._adopted)})
        except (StoreError, ValueError) as exc:
            logger.error("cannot save the list of adopted sessions: %s", exc)

    def _audit(self, kind: str, detail: str, action: str, outcome: str = "attempted") -> None:
        with contextlib.suppress(StoreError, ValueError):
            self._ctx.store.audit.append(
                "recovery",
                "tmux-server",
                detail=f"{kind}: {detail}",
                action=action,
                outcome=outcome,
            )

    def _close(self) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
        if self._exits is not None:
            self._exits.close()
            self._exits = None


def _named(template: SessionSettings, name: str) -> SessionSettings:
    return replace(template, name=name)


def tmux_subtree(
    *,
    settings: WatchSettings,
    declared: list[SessionSettings],
    context: SessionContext,
    scheduler: Scheduler,
    max_restarts: int = 3,
    max_seconds: float = 5.0,
    sessions_max_restarts: int | None = None,
    sessions_max_seconds: float | None = None,
) -> ChildSpec:
    """The ``tmux`` supervisor's spec: sessions supervisor, then the watcher (rest_for_one).

    ``max_restarts``/``max_seconds`` limit the tmux supervisor; the sessions supervisor's own
    limit defaults to at least 10 restarts in ``max_seconds``.
    """
    cell = RefCell()
    common = {"clock": context.clock, "scheduler": scheduler, "metrics": context.metrics}
    sessions = ChildSpec(
        "sessions",
        SessionsSupervisor,
        kwargs={
            "cell": cell,
            "children": [
                ChildSpec(
                    s.name,
                    SessionActor,
                    kwargs={"settings": s, "context": context},
                    restart=s.restart,
                )
                for s in declared
            ],
            "strategy": Strategy.ONE_FOR_ONE,
            # Sessions come and go; a crash-looping session actor is contained by its own
            # intensity (program_max_restarts), so the supervisor tolerates more restarts.
            "max_restarts": (
                max(10, max_restarts) if sessions_max_restarts is None else sessions_max_restarts
            ),
            "max_seconds": max_seconds if sessions_max_seconds is None else sessions_max_seconds,
            "name": "sessions",
            **common,
        },
        shutdown=None,
    )
    watcher = ChildSpec(
        "watcher",
        TmuxWatcher,
        kwargs={"settings": settings, "context": context, "sessions": cell, "scheduler": scheduler},
    )
    return ChildSpec(
        "tmux",
        Supervisor,
        kwargs={
            "children": [sessions, watcher],
            "strategy": Strategy.REST_FOR_ONE,
            "max_restarts": max_restarts,
            "max_seconds": max_seconds,
            "name": "tmux",
            **common,
        },
        shutdown=None,
    )
