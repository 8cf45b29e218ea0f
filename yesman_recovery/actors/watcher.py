"""``TmuxWatcher``: one look at the whole tmux server per tick, and exit events in between.

Every ``poll_interval`` (a scheduler tick) the watcher takes one snapshot of the server — one
tmux process, whatever the number of sessions — and sends it to every ``SessionActor``; every
``scrollback_interval`` that snapshot also holds the history of the sessions that keep it. Between
ticks, pidfds on the server and on every watched pane's program turn "the server died" and "the
agent exited" into a snapshot ~10 ms later (:class:`~yesman_recovery.actors.pidwatch.ExitWatcher`).

The watcher also owns *which* sessions are watched: declared sessions are the sessions
supervisor's static children; sessions matching ``[tmux] adopt`` are started as ``transient``
children when first seen and remembered in the store (:mod:`.adopted`), so that after a reboot
or a crash of the daemon they are restored even though the server that ran them is gone. A
released session (closed by the user) leaves that list.

An unresponsive server is handled by :mod:`.server_health` (SIGCONT, kill only when
``allow_kill_server``). The subtree it runs in is built by :func:`~.tree.tmux_subtree`.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pykka

from yesman_recovery.actors.adopted import ADOPTED_SCOPE, AdoptedSessions, adopts
from yesman_recovery.actors.context import (
    Observation,
    ObservationKind,
    SessionContext,
    SessionSettings,
)
from yesman_recovery.actors.pidwatch import PidWatch
from yesman_recovery.actors.server_health import ServerHealth
from yesman_recovery.actors.session import SessionActor
from yesman_recovery.defaults import DEFAULT_FROZEN_GRACE
from yesman_recovery.errors import (
    StoreError,
    SupervisorError,
    TmuxError,
    TmuxServerGone,
    TmuxTimeout,
)
from yesman_recovery.labels import Action, AuditKind, Outcome
from yesman_recovery.supervisors.actor import SupervisedActor
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Periodic, Scheduler
from yesman_recovery.supervisors.spec import ChildSpec, Restart
from yesman_recovery.supervisors.supervisor import ChildInfo, ChildState
from yesman_recovery.tmux.records import ServerSnapshot

__all__ = ["ADOPTED_SCOPE", "RefRead", "TmuxWatcher", "WatchSettings"]

logger = logging.getLogger(__name__)

EXIT_SETTLE = 0.01
"""Seconds between an exit event and the snapshot it triggers, so tmux has reaped the pane."""
ASK_TIMEOUT = 10.0


class RefRead(Protocol):
    """Where the watcher finds the current sessions supervisor (None while it restarts)."""

    def get(self) -> pykka.ActorRef[Any] | None: ...


@dataclass(frozen=True)
class WatchSettings:
    """What the watcher watches and how (from ``[tmux]`` and ``[[sessions]]``)."""

    poll_interval: float
    adopt: tuple[str, ...]
    declared: frozenset[str]
    adopted_template: SessionSettings  # settings of an adopted session, name replaced
    allow_kill_server: bool = False
    frozen_grace: float = DEFAULT_FROZEN_GRACE
    scrollback: tuple[tuple[str, int], ...] = ()
    scrollback_interval: float = 30.0

    def adopts(self, name: str) -> bool:
        """True iff the session ``name`` is adopted: undeclared and matching ``adopt``."""
        return adopts(name, self.adopt, self.declared)


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
        sessions: RefRead,
        scheduler: Scheduler,
    ) -> None:
        super().__init__()
        self.settings = settings
        self._ctx = context
        self._sessions = sessions
        self._scheduler = scheduler
        self._periodic: Periodic | None = None
        self._exits: PidWatch | None = None
        self._adopted = AdoptedSessions(context.store, settings.adopts)
        self._server = ServerHealth(
            processes=context.processes,
            metrics=context.metrics,
            audit=self._audit,
            allow_kill=settings.allow_kill_server,
            grace=settings.frozen_grace,
        )
        self._exit_poll_pending = False  # True iff an exit-triggered poll is scheduled
        self._scrollback_at = float("-inf")  # monotonic time of the last scrollback capture
        self.polls = 0  # observations taken by this incarnation (read by the benchmark)
        self._last_pid: int | None = None  # the server pid of the previous observation

    def on_start(self) -> None:
        self._adopted.load()
        self._exits = self._ctx.pidwatch(self._on_exit, self._ctx.clock)
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
        self._ctx.reachability.observed(obs)
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
        if self._server.stopped():  # it cannot answer: no need to wait for the timeout
            detail = f"tmux server {self._server.server_pid} is stopped"
            self._server.unresponsive(now)
            return Observation(ObservationKind.TIMEOUT, None, now, onset, detail)
        # History is captured every `scrollback_interval`, not every poll: 2,000 lines of 50
        # panes is ~1 MB of text for tmux to print and us to read.
        scrollback = None
        if (
            self.settings.scrollback
            and now - self._scrollback_at >= self.settings.scrollback_interval
        ):
            scrollback = dict(self.settings.scrollback)
            self._scrollback_at = now
        try:
            snap = self._ctx.client.snapshot(scrollback=scrollback)
        except TmuxServerGone as exc:
            self._server.gone(now)
            return Observation(ObservationKind.GONE, None, now, onset, str(exc))
        except TmuxTimeout as exc:
            self._server.unresponsive(now)
            return Observation(ObservationKind.TIMEOUT, None, now, onset, str(exc))
        except TmuxError as exc:
            return Observation(ObservationKind.ERROR, None, now, onset, str(exc))
        self._server.answered(now, snap.pid)
        if self._ctx.server_ends is not None and snap.pid and snap.pid == self._last_pid:
            # Seen twice (not while a restore builds it): tell a kill-server from a crash.
            self._ctx.server_ends.watch(snap.pid)
        self._last_pid = snap.pid
        return Observation(ObservationKind.OK, snap, now, onset)

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

    def forget(self, name: str) -> bool:
        """Stop watching the adopted session ``name`` and drop it from the adopted list
        (``sessions forget``); True iff it was watched or listed. Its checkpoints are the
        caller's to delete."""
        listed = name in self._adopted.names
        self._adopted.forget([name])
        sup = self._sessions.get()
        # Asked first: a supervisor refusing an unknown child logs its traceback (pykka).
        if sup is None or sup.proxy().whereis(name).get(timeout=ASK_TIMEOUT) is None:
            return listed
        try:
            sup.proxy().terminate_child(name).get(timeout=ASK_TIMEOUT)
            sup.proxy().delete_child(name).get(timeout=ASK_TIMEOUT)
        except SupervisorError:
            return listed  # not a child
        return True

    def _adopt(
        self,
        sup: pykka.ActorRef[Any],
        children: dict[str, ChildInfo],
        snap: ServerSnapshot | None,
    ) -> None:
        wanted = set(self._adopted.names)
        if snap is not None:
            wanted |= {s.name for s in snap.sessions if self.settings.adopts(s.name)}
        for name in sorted(wanted - set(children) - self.settings.declared):
            spec = ChildSpec(
                name,
                SessionActor,
                kwargs={
                    "settings": replace(self.settings.adopted_template, name=name),
                    "context": self._ctx,
                },
                restart=Restart.TRANSIENT,
            )
            try:
                ref = sup.proxy().start_child(spec).get(timeout=ASK_TIMEOUT)
            except Exception as exc:  # one session failing to start must not stop the others
                logger.error("could not start watching session %r: %s", name, exc)
                continue
            children[name] = ChildInfo(
                id=name,
                state=ChildState.RUNNING,
                incarnation=1,
                restarts=0,
                uptime=0.0,
                last_exit=None,
                is_supervisor=False,
                ref=ref,
            )
        self._adopted.replace(wanted)

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
        self._adopted.forget(released)

    def _audit(self, detail: str, action: Action, outcome: Outcome) -> None:
        with contextlib.suppress(StoreError, ValueError):
            self._ctx.store.audit.append(
                AuditKind.RECOVERY,
                "tmux-server",
                detail=f"frozen: {detail}",
                action=action,
                outcome=outcome,
            )

    def _close(self) -> None:
        if self._periodic is not None:
            self._periodic.cancel()
        if self._exits is not None:
            self._exits.close()
            self._exits = None
