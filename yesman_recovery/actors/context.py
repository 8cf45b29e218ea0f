"""What the session and watcher actors exchange and share: observations, settings, context.

:class:`SessionContext` holds everything from outside an actor that it acts through — the tmux
server (:class:`~yesman_recovery.tmux.protocol.Tmux`), the store, the metrics, the clock and how
to pause, the processes it signals, the pid watcher — so tests give the real actors fakes of
each and a manual clock.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.actors.limits import GiveUpBackoff, Strikes
from yesman_recovery.actors.paused import PausedSessions
from yesman_recovery.actors.pidwatch import ExitWatcher, PidWatchFactory
from yesman_recovery.actors.server_ends import ServerEnds
from yesman_recovery.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.defaults import DEFAULT_FROZEN_GRACE
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.processes import SYSTEM_PROCESSES, Processes
from yesman_recovery.storage import Store
from yesman_recovery.supervisors.restart import IntensityWindow
from yesman_recovery.supervisors.scheduler import Scheduler
from yesman_recovery.supervisors.spec import Restart
from yesman_recovery.tmux.checkpoint import SessionMode
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.protocol import Tmux
from yesman_recovery.tmux.records import ServerSnapshot, SessionSnapshot


class SessionState(enum.StrEnum):
    STARTING = "starting"
    WAITING = "waiting"  # declared, not on the server, nothing to build it from yet
    HEALTHY = "healthy"
    RECOVERING = "recovering"
    FROZEN = "frozen"
    FAILED = "failed"
    RELEASED = "released"
    PAUSED = "paused"  # by hand (`sessions pause`): neither watched nor restored


class ObservationKind(enum.StrEnum):
    OK = "ok"
    GONE = "gone"  # no tmux server on the socket
    TIMEOUT = "timeout"  # the server did not answer within the command timeout
    ERROR = "error"  # the server answered with an error


@dataclass(frozen=True)
class Observation:
    """One look at the whole server, sent by the watcher to every session actor."""

    kind: ObservationKind
    snapshot: ServerSnapshot | None
    at: float  # monotonic time of the observation
    onset: float | None = None  # monotonic time of the exit event that triggered it, if any
    detail: str = ""


class ServerReachability:
    """Since when the watched server has not answered (``/healthz``'s server grace).

    Written by the watcher after each look, read by the health verdict from other threads; the
    lock guards ``_since`` (monotonic time of the first look without an answer in the current
    spell, None while the server answers) and ``_detail`` (why the last look got none).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None
        self._detail = ""

    def observed(self, obs: Observation) -> None:
        """Record one look: no server or no answer starts (or continues) a spell."""
        with self._lock:
            if obs.kind in (ObservationKind.GONE, ObservationKind.TIMEOUT):
                if self._since is None:
                    self._since = obs.at
                self._detail = obs.detail
            else:
                self._since, self._detail = None, ""

    def describe(self, now: float) -> dict[str, object]:
        """``reachable``, ``unreachable_for`` (seconds or None) and ``detail``."""
        with self._lock:
            since, detail = self._since, self._detail
        return {
            "reachable": since is None,
            "unreachable_for": None if since is None else max(0.0, now - since),
            "detail": detail,
        }


@dataclass(frozen=True)
class SessionSettings:
    """How one session is kept: from ``[[sessions]]`` (declared) or ``[tmux]`` (adopted)."""

    name: str
    declared: bool
    policy: ProgramPolicy
    spec_path: Path | None = None
    restart: Restart = Restart.PERMANENT
    frozen_grace: float = DEFAULT_FROZEN_GRACE
    program_max_restarts: int = 3
    program_max_seconds: float = 60.0
    scrollback: int = 0
    give_up_backoff: GiveUpBackoff = field(default_factory=GiveUpBackoff)
    # A spec read before the actor starts (yesman_recovery.config.declared), so every actor
    # and every reload use the one version that was validated:
    spec: SessionSnapshot | None = None
    spec_error: str | None = None  # why the spec could not be read: the session fails alone
    before_script: tuple[str, ...] = ()  # run once, in order, before the session is created
    before_script_timeout: float = 120.0
    before_script_cwd: str | None = None  # the session's start directory (else the home one)
    origin: str = ""  # the file (and key) the session was declared in

    @property
    def mode(self) -> SessionMode:
        return SessionMode.DECLARED if self.declared else SessionMode.ADOPTED


@dataclass(frozen=True)
class SessionContext:
    """What every session actor (and the watcher) shares.

    ``intensities`` keeps each session's recovery history across restarts of its actor (one
    :class:`IntensityWindow` per session and failure kind; each actor touches only its own), and
    ``give_ups`` its give-ups in a row (the backoff of re-arming).
    ``sleep`` pauses an actor while a restore or respawn settles (a test's advances its manual
    clock); ``processes`` is what SIGCONT, SIGKILL and "wait until gone" go through;
    ``pidwatch`` builds the watcher's exit watcher.
    """

    client: Tmux
    store: Store
    metrics: RecoveryMetrics
    clock: Clock = SYSTEM_CLOCK
    scheduler: Scheduler | None = None  # for the grace-period re-check of stopped programs
    intensities: dict[tuple[str, FailureKind], IntensityWindow] = field(default_factory=dict)
    give_ups: dict[tuple[str, FailureKind], Strikes] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    processes: Processes = SYSTEM_PROCESSES
    pidwatch: PidWatchFactory = ExitWatcher
    paused: PausedSessions | None = None  # sessions paused by hand; None: none can be
    reachability: ServerReachability = field(default_factory=ServerReachability)
    server_ends: ServerEnds | None = None
    """The witness of how the tmux server ended (:mod:`.server_ends`); None: every end of the
    server is taken for a crash (``[tmux] restore_after_kill``, or tests)."""
    shell_dir: str | None = None
    """The shell integration's files (panes the daemon creates start the user's shell with it
    and get the plain command typed at its prompt); None: the launcher line, as before."""
