"""The ``tmux`` subtree: the sessions supervisor, then the watcher that feeds it.

Tree shape (``rest_for_one``)::

    tmux        Supervisor rest_for_one
    ├─ sessions SessionsSupervisor one_for_one: one SessionActor per watched session
    └─ watcher  TmuxWatcher

The sessions supervisor starts first so a crash of it restarts the watcher too, which then
re-adopts every session from the server and the store. The watcher reaches the current sessions
supervisor through a :class:`RefCell` the supervisor fills in when it starts.
"""

from __future__ import annotations

import threading
from typing import Any

import pykka

from yesman_recovery.actors.context import SessionContext, SessionSettings
from yesman_recovery.actors.session import SessionActor
from yesman_recovery.actors.watcher import TmuxWatcher, WatchSettings
from yesman_recovery.supervisors.restart import ExitReason
from yesman_recovery.supervisors.scheduler import Scheduler
from yesman_recovery.supervisors.spec import ChildSpec, Strategy
from yesman_recovery.supervisors.supervisor import Supervisor


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
