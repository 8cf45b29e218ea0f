"""Session control, supervisorctl's verbs: reset, pause, resume, forget, restore every session.

The daemon serves them on its control channel (:func:`register_session_commands`):

- ``sessions.reset {name}``: clear ``failed`` now (the kinds given up on and their intensity
  windows) and look at the session at once.
- ``sessions.pause {name, seconds?}`` / ``sessions.resume {name}``: neither watch nor restore the
  session until resumed or for ``seconds`` (:mod:`yesman_recovery.actors.paused`); shown as
  ``paused`` in ``sessions list``. A resumed session is taken as it is then.
- ``sessions.forget {name}``: an adopted session's checkpoints and its place in the adopted list
  are deleted and it is no longer watched. Refused for a declared session (remove it from the
  file and reload) and for one still on the server that ``[tmux] adopt`` matches (it would be
  adopted again at once).
- ``sessions.restore_all``: every watched session that is not paused looks at the server now, so
  each missing one is restored now (a ``failed`` kind stays given up on: reset it first), but
  not one the user ended (``tmux kill-server``, or its server's last session closed): reset it.

Every verb is recorded in the audit trail (kind ``control``). Without a daemon the CLI does
what makes sense from the store alone with the helpers here: pause, resume, forget.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pykka

from yesman_recovery.actors.adopted import AdoptedSessions, adopts
from yesman_recovery.actors.paused import PausedSessions
from yesman_recovery.errors import StoreError
from yesman_recovery.labels import Action, AuditKind, Outcome
from yesman_recovery.storage import Store
from yesman_recovery.supervisors.actor import SupervisedRef

if TYPE_CHECKING:
    from yesman_recovery.app import RecoveryApp
    from yesman_recovery.control import ControlServer

logger = logging.getLogger(__name__)

ASK_TIMEOUT = 30.0
"""Seconds to wait for a session actor (it may be in the middle of a restore)."""


def audit(store: Store | None, name: str, action: Action, detail: str) -> None:
    """Record one session-control verb in the audit trail (kind ``control``)."""
    if store is None:
        return
    try:
        store.audit.append(
            AuditKind.CONTROL, name, detail=detail, action=action, outcome=Outcome.SUCCESS
        )
    except (StoreError, ValueError):
        logger.exception("could not record %s of session %r in the audit trail", action, name)


def forget_stored(store: Store, name: str) -> int:
    """Delete ``name``'s checkpoints and drop it from the adopted list; the number deleted."""
    deleted = 0
    for info in store.checkpoints.list(name, limit=None):
        deleted += bool(store.checkpoints.delete(info.id))
    adopted = AdoptedSessions(store, lambda _name: True)
    adopted.load()
    if name in adopted.names:
        adopted.forget([name])
    PausedSessions(store).resume(name)
    return deleted


def known_sessions(
    store: Store, declared: Iterable[str] = (), watched: Iterable[str] = ()
) -> list[str]:
    """Sessions a verb may name: watched, declared or checkpointed, sorted.

    The daemon's own scopes (``yesman-recovery:…``) hold a ``:``, which no session name can
    (tmux turns it into ``_``), so they are never taken for a session.
    """
    stored = (scope for scope in store.checkpoints.sizes() if ":" not in scope)
    return sorted({*declared, *watched, *stored})


def unknown_session(name: str, known: list[str]) -> LookupError:
    """The error for a verb naming a session nothing knows, with the ones that are known."""
    return LookupError(
        f"no session {name!r} is watched, declared or checkpointed; known: "
        f"{', '.join(known) or 'none'}"
    )


def not_paused(name: str, paused: PausedSessions) -> ValueError:
    """The error for resuming a session that is not paused, naming those that are."""
    names = ", ".join(p.name for p in paused.all()) or "none"
    return ValueError(f"session {name!r} is not paused; paused: {names}")


def _name(args: dict[str, Any]) -> str:
    name = args.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("`name` (a session name) is required")
    return name


class SessionCommands:
    """The daemon's handlers (see the module docstring); each runs on a control connection."""

    def __init__(self, app: RecoveryApp) -> None:
        self._app = app

    def register(self, control: ControlServer) -> None:
        control.register("sessions.reset", self.reset)
        control.register("sessions.pause", self.pause)
        control.register("sessions.resume", self.resume)
        control.register("sessions.forget", self.forget)
        control.register("sessions.restore_all", self.restore_all)

    # --- the verbs ------------------------------------------------------------------------

    def reset(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _name(args)
        ref = self._session(name)
        described: dict[str, Any] = ref.proxy().reset().get(timeout=ASK_TIMEOUT)
        audit(self._app.store, name, Action.RESET, "failed cleared by `sessions reset`")
        return described

    def pause(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _name(args)
        seconds = args.get("seconds")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
            raise ValueError(f"`seconds` must be a positive number, got {seconds!r}")
        known = self._known()
        if name not in known:
            raise unknown_session(name, known)
        pause = self._paused().pause(name, None if seconds is None else float(seconds))
        how = "until resumed" if seconds is None else f"for {float(seconds):g} s"
        audit(self._app.store, name, Action.PAUSE, f"paused by `sessions pause` {how}")
        self._look(name)
        return pause.as_dict()

    def resume(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _name(args)
        if self._paused().resume(name) is None:
            known = self._known()
            raise (
                not_paused(name, self._paused()) if name in known else unknown_session(name, known)
            )
        audit(self._app.store, name, Action.RESUME, "resumed by `sessions resume`")
        return self._look(name) or {"name": name, "state": "not watched"}

    def forget(self, args: dict[str, Any]) -> dict[str, Any]:
        name = _name(args)
        config = self._app.config
        if config.session(name) is not None:
            raise ValueError(
                f"session {name!r} is declared in {config.source or 'the configuration'}; "
                "remove its [[sessions]] table and run `yesman-recovery reload` instead"
            )
        store = self._require_store()
        if self._on_server(name) and adopts(name, config.tmux.adopt, ()):
            raise ValueError(
                f"session {name!r} still runs on the tmux server and [tmux] adopt matches it, "
                "so it would be adopted again at once; close it first"
            )
        watcher = self._child("watcher")
        watched = bool(watcher and watcher.proxy().forget(name).get(timeout=ASK_TIMEOUT))
        deleted = forget_stored(store, name)
        if not watched and not deleted:
            raise unknown_session(name, self._known())
        audit(store, name, Action.FORGET,
              f"forgotten by `sessions forget`: {deleted} checkpoints deleted")  # fmt: skip
        return {"name": name, "checkpoints_deleted": deleted, "was_watched": watched}

    def restore_all(self, _args: dict[str, Any]) -> list[dict[str, Any]]:
        sup = self._sessions_supervisor()
        out: list[dict[str, Any]] = []
        for info in sup.proxy().which_children().get(timeout=ASK_TIMEOUT):
            if not isinstance(info.ref, SupervisedRef):
                continue
            try:
                out.append(info.ref.proxy().look_now().get(timeout=ASK_TIMEOUT))
            except (pykka.Timeout, pykka.ActorDeadError):
                out.append({"name": info.id, "state": "busy"})
        audit(self._app.store, "*", Action.RESTORE,
              f"`sessions restore --all`: {len(out)} sessions looked at")  # fmt: skip
        return out

    # --- finding things -------------------------------------------------------------------

    def _paused(self) -> PausedSessions:
        paused = self._app.paused
        if paused is None:
            raise ValueError("the daemon is not started")
        return paused

    def _known(self) -> list[str]:
        """Every session watched, declared or checkpointed now."""
        sup = self._child("sessions")
        infos = sup.proxy().which_children().get(timeout=ASK_TIMEOUT) if sup else []
        declared = (s.name for s in self._app.config.sessions)
        return known_sessions(self._require_store(), declared, (i.id for i in infos))

    def _require_store(self) -> Store:
        if self._app.store is None:
            raise ValueError("the daemon is not started")
        return self._app.store

    def _child(self, child_id: str) -> pykka.ActorRef[Any] | None:
        tmux = self._app.root.proxy().whereis("tmux").get(timeout=ASK_TIMEOUT)
        found: pykka.ActorRef[Any] | None = tmux and tmux.proxy().whereis(child_id).get(
            timeout=ASK_TIMEOUT
        )
        return found

    def _sessions_supervisor(self) -> pykka.ActorRef[Any]:
        sup = self._child("sessions")
        if sup is None:
            raise ValueError("the sessions supervisor is restarting; try again in a moment")
        return sup

    def _session(self, name: str) -> pykka.ActorRef[Any]:
        sup = self._sessions_supervisor()
        ref = sup.proxy().whereis(name).get(timeout=ASK_TIMEOUT)
        if ref is None:
            known = [i.id for i in sup.proxy().which_children().get(timeout=ASK_TIMEOUT)]
            raise LookupError(
                f"no watched session {name!r}; watched: {', '.join(sorted(known)) or 'none'}"
            )
        return ref  # type: ignore[no-any-return]

    def _look(self, name: str) -> dict[str, Any] | None:
        try:
            ref = self._session(name)
            described: dict[str, Any] = ref.proxy().look_now().get(timeout=ASK_TIMEOUT)
        except (LookupError, pykka.Timeout, pykka.ActorDeadError):
            return None  # not watched (yet): the pause applies when it is
        return described

    def _on_server(self, name: str) -> bool:
        from yesman_recovery.config.build import tmux_client
        from yesman_recovery.errors import TmuxError

        try:
            return tmux_client(self._app.config).snapshot().session(name) is not None
        except TmuxError:
            return False


def register_session_commands(control: ControlServer, app: RecoveryApp) -> None:
    """Serve the session-control verbs of ``app`` on ``control``."""
    SessionCommands(app).register(control)
