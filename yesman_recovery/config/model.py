"""The configuration the application consumes: frozen dataclasses holding final types.

They hold the one set of defaults: a key absent from the file keeps the default written here,
and ``Config()`` is the built-in configuration (adopt every session on the default tmux server).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from yesman_recovery.config.transactions import TransactionsConfig
from yesman_recovery.defaults import DEFAULT_FROZEN_GRACE, DEFAULT_PROGRAMS
from yesman_recovery.resilience.circuit import BreakerPolicy
from yesman_recovery.resilience.policies import RetryPolicy
from yesman_recovery.storage.envelope import DEFAULT_MAX_STATE_SIZE
from yesman_recovery.storage.paths import default_state_dir
from yesman_recovery.storage.retention import RetentionPolicy
from yesman_recovery.supervisors.spec import Backoff, Restart, Strategy

__all__ = [
    "DEFAULT_FROZEN_GRACE",
    "DEFAULT_PROGRAMS",
    "SCROLLBACK_TRUE_LINES",
    "Config",
    "HealthzConfig",
    "MetricsConfig",
    "SessionConfig",
    "StorageConfig",
    "SupervisorConfig",
    "TmuxConfig",
]

if TYPE_CHECKING:
    from yesman_recovery.agents.custom import ConfiguredAgent
    from yesman_recovery.config.health import HealthCheckConfig
    from yesman_recovery.config.yesman import YesmanConfig
    from yesman_recovery.tmux.yesman import LoadedSpec

SCROLLBACK_TRUE_LINES = 2000
"""Lines kept when a session says ``scrollback = true``: tmux's default ``history-limit``."""


@dataclass(frozen=True)
class IntensityConfig:
    """``[supervisor.tmux]``, ``[supervisor.sessions]``: one inner supervisor's restart limit."""

    max_restarts: int = 3
    max_seconds: float = 5.0


@dataclass(frozen=True)
class SupervisorConfig:
    """``[supervisor]``: the root supervisor's strategy, restart intensity and backoff.

    ``backoff`` delays restarts of the root's children (metrics, storage, tmux); ``tmux`` and
    ``sessions`` are the restart limits of the two supervisors of the tmux subtree. Sessions
    come and go and a crash-looping session is contained by its own program limit, so the
    sessions supervisor tolerates more restarts by default.
    """

    strategy: Strategy = Strategy.ONE_FOR_ONE
    max_restarts: int = 3
    max_seconds: float = 5.0
    backoff: Backoff | None = None
    tmux: IntensityConfig = IntensityConfig()
    sessions: IntensityConfig = IntensityConfig(max_restarts=10)


@dataclass(frozen=True)
class HealthzConfig:
    """``[metrics.healthz]``: which failures make ``/healthz`` answer 503
    (``yesman_recovery.actors.verdict``)."""

    sessions: Literal["declared", "all", "none"] = "declared"
    """Whose ``failed`` state counts: declared sessions, every watched one, or none."""
    server_grace: float | None = 30.0
    """Seconds the watched tmux server may stay unreachable; None (``"off"``): never counts."""
    critical_checks: bool = True


@dataclass(frozen=True)
class MetricsConfig:
    """``[metrics]``: where ``/metrics``, ``/healthz`` and ``/status`` are served; port 0 = any."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464
    healthz: HealthzConfig = HealthzConfig()

    @property
    def url(self) -> str:
        """The base URL of the endpoint, e.g. ``http://127.0.0.1:9464``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: the state directory, durability, maintenance period and retention.

    ``max_state_size``: bytes of JSON one record may hold, read or written; a bigger stored
    record reads as corrupt (see docs/storage.md).
    """

    path: Path = field(default_factory=default_state_dir)
    durability: Literal["durable", "fast"] = "durable"
    maintenance_interval: float = 60.0
    max_state_size: int = DEFAULT_MAX_STATE_SIZE
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)


@dataclass(frozen=True)
class TmuxConfig:
    """``[tmux]``: which server to watch, how often, which sessions to adopt, what to restart.

    ``socket_name`` (``tmux -L``) and ``socket_path`` (``tmux -S``) are exclusive; neither means
    the default server. ``adopt`` holds fnmatch patterns of undeclared sessions to watch:
    ``("*",)`` for all, ``()`` for none.
    """

    socket_name: str | None = None
    socket_path: Path | None = None
    poll_interval: float = 1.0
    command_timeout: float = 2.0
    adopt: tuple[str, ...] = ("*",)
    allow_kill_server: bool = False
    programs: frozenset[str] = DEFAULT_PROGRAMS
    restart: tuple[tuple[str, str], ...] = ()
    """``[tmux.restart]``: (program pattern, restart type) pairs, checked before ``programs``."""
    frozen_grace: float = DEFAULT_FROZEN_GRACE
    program_max_restarts: int = 3
    program_max_seconds: float = 60.0
    scrollback_interval: float = 30.0
    """Seconds between two captures of the sessions' scrollback (``[[sessions]] scrollback``)."""
    give_up_backoff: float = 60.0
    """Seconds before a failure kind given up on is re-armed; doubles with each give-up …"""
    give_up_backoff_max: float = 3600.0
    """… up to this; ``give_up_reset`` seconds without a give-up after a re-arm start over."""
    give_up_reset: float = 600.0
    server_cgroup: str = "auto"
    """Where a server the daemon starts runs (``yesman_recovery.tmux.placement``): ``auto``,
    ``systemd``, ``none`` or a cgroup directory."""
    shell_integration: bool = True
    """Panes the daemon creates start the user's shell with the shell integration and get the
    plain command typed at its prompt (``false``: the ``sh -c`` launcher line, as before)."""
    restore_after_kill: bool = False
    """Restore sessions after a deliberate ``tmux kill-server`` or the server's clean exit (by
    default that is the user's own doing: nothing is restored)."""

    def adopts(self, session_name: str) -> bool:
        """Whether an undeclared session with this name is watched."""
        return any(fnmatch.fnmatchcase(session_name, p) for p in self.adopt)


@dataclass(frozen=True)
class SessionConfig:
    """One ``[[sessions]]`` entry: a session declared by name, optionally by a tmuxp spec.

    ``programs`` extends ``[tmux] programs`` for this session; ``scrollback`` is the number of
    lines saved with each checkpoint (0 = none); ``frozen_grace`` of None uses ``[tmux]``'s.
    """

    name: str
    spec: Path | None = None
    restart: Restart = Restart.PERMANENT
    programs: frozenset[str] = frozenset()
    scrollback: int = 0
    frozen_grace: float | None = None
    # yesman-claude's files and resolved specs (yesman_recovery.config.declared):
    spec_entry: str | None = None
    """The key under ``sessions:`` when ``spec`` is a legacy ``projects.yaml``."""
    templates: tuple[Path, ...] = ()
    """Folders a ``template_name`` is looked for in, in order."""
    origin: str = ""
    """The file (and key) the session came from, as ``sessions list`` shows it."""
    loaded: LoadedSpec | None = None
    """The spec as read by the last resolution; None when unread or unreadable."""
    spec_error: str | None = None
    """Why the spec could not be read (file, key, what is allowed); the session fails alone."""


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; ``source`` is the file it came from, or None.

    ``retry`` and ``breakers`` hold the ``[retry.<name>]`` and ``[breakers.<name>]`` tables.
    """

    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    tmux: TmuxConfig = field(default_factory=TmuxConfig)
    sessions: tuple[SessionConfig, ...] = ()
    health_checks: tuple[HealthCheckConfig, ...] = ()
    source: Path | None = None
    retry: Mapping[str, RetryPolicy] = field(default_factory=dict)
    breakers: Mapping[str, BreakerPolicy] = field(default_factory=dict)
    transactions: TransactionsConfig = field(default_factory=TransactionsConfig)
    yesman: YesmanConfig | None = None
    resolved: bool = False
    """True once every spec was read (:func:`yesman_recovery.config.declared.resolve`)."""
    agents: tuple[ConfiguredAgent, ...] = ()
    """The ``[agents.NAME]`` tables: agent CLIs that are not built in."""

    @classmethod
    def default(cls) -> Config:
        """The built-in defaults: adopt every session on the default tmux server."""
        return cls()

    def session(self, name: str) -> SessionConfig | None:
        """The declared session with this name, if any."""
        return next((s for s in self.sessions if s.name == name), None)
