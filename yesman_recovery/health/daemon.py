"""The daemon's ``health`` subtree: the configured checks wired to the app's store and tmux.

:class:`~yesman_recovery.app.RecoveryApp` calls :func:`daemon_health_subtree` while it builds its
tree (the store is open by then), and keeps the :class:`HealthChecks` as ``app.health``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pykka

from yesman_recovery.config.build import tmux_client
from yesman_recovery.health.build import Targets, build_check
from yesman_recovery.health.tree import health_subtree
from yesman_recovery.supervisors.spec import ChildSpec

if TYPE_CHECKING:
    from yesman_recovery.app import RecoveryApp
    from yesman_recovery.config import Config
    from yesman_recovery.health.check import CheckSpec

LOOKUP_TIMEOUT = 2.0


def find_child(root: pykka.ActorRef[Any] | None, path: str) -> pykka.ActorRef[Any] | None:
    """The running actor at ``path`` (``"tmux/watcher"``) below ``root``, or None."""
    ref = root
    for part in path.split("/"):
        if ref is None:
            return None
        try:
            ref = ref.proxy().whereis(part).get(timeout=LOOKUP_TIMEOUT)
        except (pykka.ActorDeadError, pykka.Timeout):
            return None
    return ref


def daemon_health_subtree(app: RecoveryApp) -> ChildSpec:
    """The ``health`` supervisor of ``app``, one actor per ``[[health_checks]]`` entry."""
    config = app.config
    app.health.store = app.store
    specs = check_specs(app, config)
    return health_subtree(
        app.health,
        specs,
        max_restarts=max(10, config.supervisor.max_restarts),
        max_seconds=config.supervisor.max_seconds,
    )


def reload_checks(app: RecoveryApp, config: Config, names: Sequence[str]) -> None:
    """Apply a reloaded ``[[health_checks]]``: the checks ``names`` are stopped and forgotten,
    and those of them ``config`` still holds start again from it (their counts start over);
    every other check keeps its actor and its state. A later restart of the ``health``
    supervisor starts the checks known then (:class:`~.tree.HealthSupervisor`)."""
    specs = {s.name: s for s in check_specs(app, config)}
    for name in names:
        app.health.remove(name)
    for name in names:
        if name in specs:
            app.health.add(specs[name])


def check_specs(app: RecoveryApp, config: Config) -> list[CheckSpec]:
    """The checks of ``config``, wired to ``app``'s store, tmux server and watcher."""
    client = tmux_client(config)

    def watcher() -> pykka.ActorRef[Any] | None:
        with contextlib.suppress(RuntimeError):
            return find_child(app.root, "tmux/watcher")
        return None

    targets = Targets(
        state_dir=app.state_dir,
        store=app.store,
        retention=config.storage.retention,
        tmux=client,
        watcher=watcher,
        source=str(config.source or "<config>"),
    )
    return [build_check(c, i, targets) for i, c in enumerate(config.health_checks)]
