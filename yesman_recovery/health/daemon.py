"""The daemon's ``health`` subtree: the configured checks wired to the app's store and tmux.

:class:`~yesman_recovery.app.RecoveryApp` calls :func:`daemon_health_subtree` while it builds its
tree (the store is open by then), and keeps the :class:`HealthChecks` as ``app.health``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pykka

from yesman_recovery.config.build import tmux_client
from yesman_recovery.health.build import Targets, build_check
from yesman_recovery.health.tree import health_subtree
from yesman_recovery.supervisors.spec import ChildSpec

if TYPE_CHECKING:
    from yesman_recovery.app import RecoveryApp

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
    specs = [build_check(c, i, targets) for i, c in enumerate(config.health_checks)]
    return health_subtree(
        app.health,
        specs,
        max_restarts=max(10, config.supervisor.max_restarts),
        max_seconds=config.supervisor.max_seconds,
    )
