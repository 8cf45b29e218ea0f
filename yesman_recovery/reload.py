"""Reloading the configuration into a running daemon: what changed, and applying only that.

``SIGHUP``, ``yesman-recovery reload`` (the control channel's ``reload``) and ``systemctl
reload`` (its ``ExecReload`` sends SIGHUP) all end in :func:`reload_app`: the file the daemon
started from is read and validated again first; an invalid file changes nothing (the daemon
keeps its last good configuration) and the errors are returned, logged, audited and counted
(``yesman_recovery_config_reloads_total{outcome="rejected"}``).

A valid file is compared with the running configuration (:func:`plan_reload`, pure) and only the
difference is applied:

- ``[[sessions]]`` added, removed or changed — and every spec file and ``[yesman]`` file, read
  again (:mod:`yesman_recovery.config.declared`): the session actors of exactly those sessions
  are started, stopped or replaced; every other session actor keeps running (same
  incarnation). A changed spec is applied by the rules of a corrupted session (its missing
  windows and panes are created, nothing is removed, the user's own windows are left alone),
  under a fresh ``corrupted`` recovery budget. A spec that no longer loads rejects the reload
  like an invalid file. Reloads are coalesced (:mod:`yesman_recovery.reload_queue`): a storm
  of SIGHUPs runs a few, the last reading the files as they are last. A
  removed session's tmux session is left as it is, only no longer watched (an adopted session
  matching ``[tmux] adopt`` is adopted again at the next poll).
- ``[tmux]`` settings of the watcher (``poll_interval``, ``adopt``, ``allow_kill_server``,
  ``frozen_grace``) and the declared set: the watcher is replaced (it holds no session state).
- ``[tmux]`` settings of adopted sessions (``programs``, ``restart``, ``frozen_grace``,
  ``program_max_*``): adopted session actors are replaced and re-adopted with the new settings.
- ``[retry.*]`` and ``[breakers.*]``: policies and breakers added, removed or replaced.
- ``[[health_checks]]`` added, removed or changed (by name): exactly those check actors are
  stopped, and started again from the new file; a changed check's counts start over.

Settings read once at start — :data:`RESTART_KEYS` — are reported in the answer as "needs a
restart to apply" and keep their running values. Later restarts of the tmux subtree (a crash)
start from the reloaded configuration: the specs they restart from are updated too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pykka

from yesman_recovery.actors.context import SessionSettings
from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.actors.session import SessionActor
from yesman_recovery.actors.watcher import WatchSettings
from yesman_recovery.config import Config
from yesman_recovery.config.build import frozen_grace, give_up_backoff, program_policy
from yesman_recovery.config.declared import resolve
from yesman_recovery.errors import ConfigError, SupervisorError
from yesman_recovery.health.daemon import reload_checks
from yesman_recovery.labels import Action, AuditKind, Outcome
from yesman_recovery.supervisors.spec import ChildSpec

if TYPE_CHECKING:
    from yesman_recovery.app import RecoveryApp

logger = logging.getLogger(__name__)

RESTART_KEYS = (
    "storage",
    "metrics",
    "supervisor",
    "transactions",
    "tmux.socket_name",
    "tmux.socket_path",
    "tmux.command_timeout",
)
"""Settings a reload cannot apply (read once when the tree starts); they need a restart."""
ASK_TIMEOUT = 10.0
OUTCOMES = ("applied", "rejected", "failed")
"""``yesman_recovery_config_reloads_total{outcome}``: applied, file invalid, applying raised."""

_reloading = threading.Lock()  # one reload at a time per process


def session_settings(cfg: Config) -> tuple[list[SessionSettings], WatchSettings]:
    """The declared sessions' settings and the watcher's, from a validated configuration."""
    tmux = cfg.tmux
    base = SessionSettings(
        name="",
        declared=False,
        policy=program_policy(cfg),
        frozen_grace=frozen_grace(cfg),
        program_max_restarts=tmux.program_max_restarts,
        program_max_seconds=tmux.program_max_seconds,
        give_up_backoff=give_up_backoff(cfg),
    )
    timeout = cfg.yesman.before_script_timeout if cfg.yesman is not None else 120.0
    declared = [
        replace(
            base,
            name=s.name,
            declared=True,
            spec_path=s.spec,
            restart=s.restart,
            policy=program_policy(cfg, s.name),
            frozen_grace=frozen_grace(cfg, s.name),
            scrollback=s.scrollback,
            spec=s.loaded.session if s.loaded is not None else None,
            spec_error=s.spec_error,
            before_script=s.loaded.before_script if s.loaded is not None else (),
            before_script_timeout=timeout,
            before_script_cwd=s.loaded.start_directory if s.loaded is not None else None,
            origin=s.origin,
        )
        for s in cfg.sessions
    ]
    watch = WatchSettings(
        poll_interval=tmux.poll_interval,
        adopt=tmux.adopt,
        declared=frozenset(s.name for s in declared),
        adopted_template=base,
        allow_kill_server=tmux.allow_kill_server,
        frozen_grace=frozen_grace(cfg),
        scrollback=tuple((s.name, s.scrollback) for s in declared if s.scrollback),
        scrollback_interval=tmux.scrollback_interval,
    )
    return declared, watch


def session_spec(settings: SessionSettings, context: Any) -> ChildSpec:
    """The sessions supervisor's child spec of one declared session."""
    return ChildSpec(
        settings.name,
        SessionActor,
        kwargs={"settings": settings, "context": context},
        restart=settings.restart,
    )


@dataclass(frozen=True)
class ReloadPlan:
    """What differs between the running configuration and the new one (pure)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    watcher: bool = False  # the watcher's [tmux] settings differ
    declared_set: bool = False  # the declared sessions (or their scrollback) differ
    adopted: bool = False  # adopted sessions' settings differ
    policies: tuple[str, ...] = ()  # retry policies added, removed or changed
    breakers: tuple[str, ...] = ()  # breakers added, removed or changed
    checks: tuple[str, ...] = ()  # health checks added, removed or changed
    needs_restart: tuple[str, ...] = ()  # keys of RESTART_KEYS that changed
    declared: list[SessionSettings] = field(default_factory=list, compare=False)
    watch: WatchSettings | None = field(default=None, compare=False)

    @property
    def empty(self) -> bool:
        """True iff nothing a reload can apply changed."""
        return not (
            self.added or self.removed or self.changed or self.watcher or self.adopted
            or self.policies or self.breakers or self.checks
        )  # fmt: skip

    def summary(self) -> str:
        """One line: what is applied, and what needs a restart."""
        parts = [
            f"{label} {', '.join(names)}"
            for label, names in (
                ("sessions added:", self.added),
                ("sessions removed:", self.removed),
                ("sessions changed:", self.changed),
                ("retry policies:", self.policies),
                ("breakers:", self.breakers),
                ("health checks:", self.checks),
            )
            if names
        ]
        if self.watcher:
            parts.append("tmux watch settings")
        if self.adopted:
            parts.append("adopted sessions' settings")
        text = "applied " + "; ".join(parts) if parts else "no change to apply"
        if self.needs_restart:
            text += f"; needs a restart to apply: {', '.join(self.needs_restart)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": list(self.changed),
            "watcher": self.watcher,
            "adopted": self.adopted,
            "policies": list(self.policies),
            "breakers": list(self.breakers),
            "checks": list(self.checks),
            "needs_restart": list(self.needs_restart),
            "summary": self.summary(),
        }


def _differ(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n)))


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    """Compare two validated configurations: what a reload applies and what needs a restart."""
    old_declared, old_watch = session_settings(old)
    new_declared, new_watch = session_settings(new)
    before = {s.name: s for s in old_declared}
    after = {s.name: s for s in new_declared}
    restart: list[str] = []
    for key in RESTART_KEYS:
        section, _, name = key.partition(".")
        a, b = getattr(old, section), getattr(new, section)
        if name:
            a, b = getattr(a, name), getattr(b, name)
        if a != b:
            restart.append(_changed_keys(key, a, b))
    return ReloadPlan(
        added=tuple(n for n in after if n not in before),
        removed=tuple(n for n in before if n not in after),
        changed=tuple(n for n in after if n in before and before[n] != after[n]),
        watcher=_tmux_watch(old_watch) != _tmux_watch(new_watch),
        declared_set=(old_watch.declared, old_watch.scrollback)
        != (new_watch.declared, new_watch.scrollback),
        adopted=old_watch.adopted_template != new_watch.adopted_template,
        policies=_differ(old.retry, new.retry),
        breakers=_differ(old.breakers, new.breakers),
        checks=_differ(
            {c.name: c for c in old.health_checks}, {c.name: c for c in new.health_checks}
        ),
        needs_restart=tuple(restart),
        declared=new_declared,
        watch=new_watch,
    )


def _tmux_watch(watch: WatchSettings) -> tuple[Any, ...]:
    """The watcher's own ``[tmux]`` settings (not what comes from ``[[sessions]]``)."""
    return (
        watch.poll_interval,
        watch.adopt,
        watch.allow_kill_server,
        watch.frozen_grace,
        watch.scrollback_interval,
    )


def _changed_keys(key: str, a: Any, b: Any) -> str:
    """``storage.path`` rather than ``storage`` when one field of a section changed."""
    try:
        names = [f.name for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)]
    except TypeError:  # not a dataclass
        return key
    return ", ".join(f"{key}.{n}" for n in names) or key


def reload_app(app: RecoveryApp) -> dict[str, Any]:
    """Re-read and validate ``app.config.source``; apply what changed (module docstring).

    Returns ``{"ok": bool, "outcome", "summary", "errors"?, ...plan}``; never raises for a bad
    file. Runs on the caller's thread (a signal's worker or a control connection); one at a time
    per process, coalesced per app (:class:`~yesman_recovery.reload_queue.ReloadQueue`).
    """
    with _reloading:
        return _reload(app)


def _reload(app: RecoveryApp) -> dict[str, Any]:
    from yesman_recovery.config.schema import load_config

    source = app.config.source
    started = time.monotonic()
    if source is None:
        return _rejected(
            app,
            "the daemon was started without a configuration file (--config or "
            "YESMAN_RECOVERY_CONFIG), so there is nothing to reload; restart it with one",
            None,
        )
    try:
        new = load_config(source)
    except ConfigError as exc:
        return _rejected(app, str(exc), source)
    # Every spec and [yesman] file is read once, here: the actors get what was validated, and
    # a file that changes while being read is either read whole and valid, or rejected.
    resolution = resolve(new)
    if resolution.errors:
        return _rejected(app, "\n".join(resolution.errors), source)
    new = resolution.config
    plan = plan_reload(app.config, new)
    try:
        apply_plan(app, plan, new)
    except Exception as exc:
        # Applied in part (e.g. a session's actor could not start): the specs already hold the
        # new file, so it becomes the one the next reload is compared with.
        app.config = new
        logger.exception("reload of %s failed while applying it", source)
        _record(app, "failed", f"{source}: applying failed: {exc}")
        summary = (
            f"reload failed while applying {source}: {exc}; what was applied before the "
            "failure stays applied"
        )
        return {"ok": False, "outcome": "failed", "errors": [f"applying failed: {exc}"],
                **plan.as_dict(), "summary": summary}  # fmt: skip
    app.config = new
    took = time.monotonic() - started
    logger.info("configuration reloaded from %s in %.2f s: %s", source, took, plan.summary())
    _record(app, "applied", f"{source}: {plan.summary()}")
    return {"ok": True, "outcome": "applied", **plan.as_dict()}


def _rejected(app: RecoveryApp, errors: str, source: Path | None) -> dict[str, Any]:
    logger.error(
        "configuration reload rejected; still running on the last good configuration:\n%s",
        errors,
    )
    _record(app, "rejected", f"rejected, last good configuration kept: {errors}")
    lines = errors.splitlines()
    count = f"{len(lines)} problem" + ("s" if len(lines) != 1 else "")
    what = f"({count} in {source} or the files it names)" if source is not None else ""
    return {
        "ok": False,
        "outcome": "rejected",
        "errors": lines,
        "summary": f"reload rejected {what}; the daemon keeps running on its last good "
        "configuration, nothing was changed".replace("rejected ;", "rejected;"),
    }


def _record(app: RecoveryApp, outcome: str, detail: str) -> None:
    """Count the reload by ``outcome`` (one of :data:`OUTCOMES`) and audit it."""
    app.metrics.config_reloads.labels(outcome).inc()
    store = app.store
    if store is None:
        return
    try:
        store.audit.append(
            AuditKind.CONFIG,
            "config",
            detail=detail,
            action=Action.RELOAD,
            outcome=Outcome.SUCCESS if outcome == "applied" else Outcome.FAILED,
        )
    except Exception:  # the audit trail must not turn a reload into a traceback
        logger.exception("could not record the reload in the audit trail")


def apply_plan(app: RecoveryApp, plan: ReloadPlan, new: Config) -> None:
    """Apply ``plan`` to the running tree and ``app.resilience``; see the module docstring."""
    app.resilience.reconfigure(new.retry, new.breakers, plan.policies, plan.breakers)
    if plan.checks:
        reload_checks(app, new, plan.checks)
    tmux_spec = app.tmux_spec
    if tmux_spec is None or plan.watch is None:
        return
    sessions_spec, watcher_spec = tmux_spec.kwargs["children"]
    context = watcher_spec.kwargs["context"]
    # Later incarnations of the subtree start from the new configuration.
    _mutable(sessions_spec)["children"] = [session_spec(s, context) for s in plan.declared]
    _mutable(watcher_spec)["settings"] = plan.watch
    root = app.root
    tmux = root.proxy().whereis("tmux").get(timeout=ASK_TIMEOUT)
    if tmux is None:
        return  # restarting: it starts from the updated specs
    sessions = tmux.proxy().whereis("sessions").get(timeout=ASK_TIMEOUT)
    if sessions is None:
        return
    # The watcher is stopped first, so an old one cannot re-adopt a session with the old
    # settings between its removal and the new watcher's start.
    new_watcher = plan.watcher or plan.adopted or plan.declared_set
    if new_watcher:
        _remove(tmux.proxy(), "watcher")
    try:
        _apply_sessions(sessions.proxy(), plan, context)
    finally:  # even if a session failed to start: never leave the server unwatched
        if new_watcher:
            tmux.proxy().start_child(watcher_spec).get(timeout=ASK_TIMEOUT)


def _apply_sessions(sup: Any, plan: ReloadPlan, context: Any) -> None:
    """Stop, start or replace the session actors ``plan`` names (``sup``: a proxy)."""
    by_name = {s.name: s for s in plan.declared}
    children = {c.id: c for c in sup.which_children().get(timeout=ASK_TIMEOUT)}
    replaced = set(plan.removed) | set(plan.changed) | set(plan.added)
    if plan.adopted:  # the new watcher adopts them again with the new template
        replaced |= {n for n in children if n not in by_name and n not in plan.removed}
    for name in sorted(replaced):
        if name in children:
            _remove(sup, name)
    for name in plan.changed:
        # A changed spec is a new expectation, not a recurring fault: the windows it adds are
        # created under a fresh "corrupted" budget (other kinds keep their history).
        context.intensities.pop((name, FailureKind.CORRUPTED), None)
        context.give_ups.pop((name, FailureKind.CORRUPTED), None)
    for name in plan.added + plan.changed:
        sup.start_child(session_spec(by_name[name], context)).get(timeout=ASK_TIMEOUT)


def _remove(sup: Any, child_id: str) -> None:
    """Stop and forget one child of the supervisor proxy ``sup``."""
    try:
        sup.terminate_child(child_id).get(timeout=ASK_TIMEOUT)
        sup.delete_child(child_id).get(timeout=ASK_TIMEOUT)
    except (SupervisorError, pykka.ActorDeadError):
        pass  # gone already (a transient child let go)


def _mutable(spec: ChildSpec) -> dict[str, Any]:
    kwargs = spec.kwargs
    assert isinstance(kwargs, dict), "the tmux subtree's specs are built with dict kwargs"
    return kwargs
