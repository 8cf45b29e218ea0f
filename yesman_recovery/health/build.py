"""From ``[[health_checks]]`` to :class:`CheckSpec`: the built-in kinds wired to their targets.

Heals named ``hook`` in the file are looked up among the heals registered from Python with
:func:`register_heal` (an embedding host registers them before it builds the tree); an unknown
name is a :class:`ConfigError` naming the key, raised when the tree is built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yesman_recovery.errors import ConfigError
from yesman_recovery.health import heals, kinds
from yesman_recovery.health.check import CheckSpec, HealAction, HealFn

if TYPE_CHECKING:
    from yesman_recovery.config.health import HealthCheckConfig
    from yesman_recovery.storage import RetentionPolicy, Store
    from yesman_recovery.tmux.client import TmuxClient

_hooks_lock = threading.Lock()
_hooks: dict[str, HealFn] = {}  # guarded by _hooks_lock


def register_heal(name: str, heal: HealFn) -> None:
    """Make ``heal`` (plain or ``async``) usable as ``heal_hook = "name"`` in the configuration.

    Registering a name again replaces the earlier heal.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string, got {name!r}")
    if not callable(heal):
        raise TypeError(f"`heal` must be callable, got {heal!r}")
    with _hooks_lock:
        _hooks[name] = heal


def registered_heal(name: str) -> HealFn | None:
    with _hooks_lock:
        return _hooks.get(name)


@dataclass(frozen=True)
class Targets:
    """What the built-in kinds act on: the daemon's store, tmux server and watcher."""

    state_dir: Path
    store: Store | None = None
    retention: RetentionPolicy | None = None
    tmux: TmuxClient | None = None
    watcher: Callable[[], Any] = field(default=lambda: None)
    loop: Any = None  # the event loop async hooks run on, if any
    source: str = "<config>"


def build_check(cfg: HealthCheckConfig, index: int, targets: Targets) -> CheckSpec:
    """The :class:`CheckSpec` of one validated entry (``index`` is its place in the file)."""
    return CheckSpec(
        name=cfg.name,
        kind=cfg.kind,
        probe=_probe(cfg, targets),
        policy=cfg.policy,
        heal=_heal(cfg, index, targets),
        critical=cfg.critical,
        restart_on_escalation=cfg.restart_on_escalation,
        loop=targets.loop,
    )


def _probe(cfg: HealthCheckConfig, t: Targets) -> Callable[[], Any]:
    o = cfg.option
    timeout = cfg.policy.resolved_timeout
    process = {"pid_file": o("pid_file"), "name": o("process_name"), "pattern": o("pattern")}
    match cfg.kind:
        case "memory":
            return kinds.memory_probe(max_percent=o("max_percent"), max_rss=o("max_rss"), **process)
        case "cpu":
            return kinds.CpuProbe(o("max_percent", 90.0), o("window", 60.0))
        case "disk":
            return kinds.disk_probe(
                o("path", t.state_dir),
                min_free=o("min_free"),
                min_free_percent=o("min_free_percent", 10.0),
                min_free_inodes_percent=o("min_free_inodes_percent", 5.0),
            )
        case "process":
            return kinds.process_probe(**process)
        case "http":
            return kinds.http_probe(o("url"), timeout, expect_status=o("expect_status", {200}))
        case "tcp":
            return kinds.tcp_probe(o("host", "127.0.0.1"), o("port"), timeout)
        case "tmux_server":
            from yesman_recovery.tmux.client import TmuxClient

            base = t.tmux or TmuxClient()
            client = TmuxClient(base.socket_name, base.socket_path, timeout)
            return kinds.tmux_server_probe(client)
        case "store":
            if t.store is None:
                raise ConfigError(f"{t.source}: health check {cfg.name!r}: no store to check")
            return kinds.store_probe(t.store)
        case "command":
            return kinds.command_probe(o("command"), timeout)
    raise ConfigError(f"{t.source}: health check {cfg.name!r}: unknown kind {cfg.kind!r}")


def _heal(cfg: HealthCheckConfig, index: int, t: Targets) -> HealAction | None:
    timeout = cfg.policy.heal_timeout
    match cfg.heal:
        case "command":
            assert cfg.heal_command is not None  # checked with the file
            return heals.command_heal(cfg.heal_command, timeout)
        case "prune":
            return heals.prune_heal(
                t.store, t.retention, cfg.option("prune_paths", ()),
                cfg.option("prune_older_than", 7 * 86400.0),
            )  # fmt: skip
        case "sessions":
            return heals.sessions_handover(t.watcher)
        case "hook":
            assert cfg.heal_hook is not None
            fn = registered_heal(cfg.heal_hook)
            if fn is None:
                with _hooks_lock:
                    known = ", ".join(sorted(_hooks)) or "none registered"
                raise ConfigError(
                    f'{t.source}: health_checks[{index}].heal_hook = "{cfg.heal_hook}": no heal '
                    f"registered under that name (known: {known}); register it with "
                    "yesman_recovery.health.register_heal before starting"
                )
            return HealAction(f"hook:{cfg.heal_hook}", fn, f"run hook {cfg.heal_hook!r}")
    return None
