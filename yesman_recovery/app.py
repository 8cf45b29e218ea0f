"""``RecoveryApp``: the whole supervision tree of yesman-recovery, in the caller's process.

::

    RecoveryApp (this module)
    └─ root            Supervisor, strategy and intensity from [supervisor]
       ├─ metrics      MetricsServer: /metrics /healthz /status on 127.0.0.1 ([metrics])
       ├─ storage      StoreMaintenance: retention and reader_check ([storage])
       ├─ transactions TransactionsSupervisor: an actor per transaction, lanes at start
       └─ tmux         Supervisor rest_for_one ([tmux], [[sessions]])
          ├─ sessions  SessionsSupervisor one_for_one, one SessionActor per watched session
          └─ watcher   TmuxWatcher (started after the sessions it feeds)

An embedding host's own ``children`` start under the root after ``tmux``.
``yesman-recovery run`` is a thin wrapper: ``with RecoveryApp(config) as app: app.wait()``.
The exit status contract: :meth:`RecoveryApp.wait` returns 0 after :meth:`RecoveryApp.stop`
(SIGTERM, SIGINT) and 1 when the root supervisor gave up (restart intensity exceeded), which is
also written to the audit trail and counted in
``yesman_recovery_restart_intensity_exceeded_total{supervisor="root"}``.

The store is opened once here and shared by every actor (LMDB environments are thread-safe and
may be opened only once per process).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pykka
from prometheus_client import CollectorRegistry

from yesman_recovery.actors.context import ServerReachability, SessionContext
from yesman_recovery.actors.endpoint import MetricsServer
from yesman_recovery.actors.maintenance import StoreMaintenance
from yesman_recovery.actors.paused import PausedSessions
from yesman_recovery.actors.recovery_log import close_interrupted
from yesman_recovery.actors.series import bind_verdict, cached_verdict, prime_daemon_series
from yesman_recovery.actors.server_ends import ServerEnds
from yesman_recovery.actors.tree import tmux_subtree
from yesman_recovery.actors.verdict import health_verdict
from yesman_recovery.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.config import Config
from yesman_recovery.config.build import agents as agents_of
from yesman_recovery.config.build import shell_dir, tmux_client
from yesman_recovery.control import ControlServer, socket_path
from yesman_recovery.health import HealthChecks
from yesman_recovery.health.commands import register_health_commands
from yesman_recovery.health.daemon import daemon_health_subtree
from yesman_recovery.instance import InstanceLock, server_lock, state_lock
from yesman_recovery.labels import Action, AuditKind, Outcome
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.reload import session_settings
from yesman_recovery.reload_queue import ReloadQueue
from yesman_recovery.resilience.daemon import StoreAudit, register_breaker_commands
from yesman_recovery.resilience.registry import Resilience
from yesman_recovery.session_control import register_session_commands
from yesman_recovery.storage import Store, open_store
from yesman_recovery.storage.paths import prepare_state_dir
from yesman_recovery.supervisors.actor import SupervisedRef
from yesman_recovery.supervisors.scheduler import Scheduler, ThreadScheduler
from yesman_recovery.supervisors.spec import ChildSpec
from yesman_recovery.supervisors.supervisor import ChildInfo, Supervisor, describe_tree
from yesman_recovery.tmux.placement import ServerPlacement, resolve_placement
from yesman_recovery.tmux.shared import SharedSnapshots
from yesman_recovery.transactions import ActionRegistry, Transactions
from yesman_recovery.transactions.commands import register_transaction_commands
from yesman_recovery.transactions.policies import NamedRetryPolicies
from yesman_recovery.version import __version__

logger = logging.getLogger(__name__)


class RecoveryApp:
    """Builds the tree from a validated :class:`Config` and runs it until stopped or it gives up.

    ``registry`` lets a host collect our metrics in its own ``CollectorRegistry``; by default the
    app has a fresh one of its own. ``children`` are the host's own actors or subtrees, started
    under the root supervisor after the built-in ones (and under its restart intensity).
    ``clock`` and ``scheduler`` are for tests.
    """

    def __init__(
        self,
        config: Config,
        *,
        state_dir: Path | None = None,
        registry: CollectorRegistry | None = None,
        children: Sequence[ChildSpec] = (),
        clock: Clock = SYSTEM_CLOCK,
        scheduler: Scheduler | None = None,
    ) -> None:
        self.config = config
        self.state_dir = Path(state_dir) if state_dir is not None else config.storage.path
        self.metrics = RecoveryMetrics(registry)
        prime_daemon_series(self.metrics, agents_of(config).names)
        self.clock = clock
        self._extra = tuple(children)
        self._own_scheduler = scheduler is None
        self._server_ends: ServerEnds | None = None  # the witness of how tmux servers end
        self.scheduler: Scheduler = scheduler if scheduler is not None else ThreadScheduler()
        self.store: Store | None = None
        self.control = ControlServer(socket_path(self.state_dir))
        """The control channel (``yesman_recovery.control``): subsystems register their commands."""
        self.control.register("ping", lambda _args: {"pid": os.getpid(), "version": __version__})
        self.control.register("status", lambda _args: self.status())
        self.resilience = Resilience.from_config(
            config, metrics=self.metrics, audit=StoreAudit(lambda: self.store)
        )
        """Named retry policies and breakers (``[retry.*]``, ``[breakers.*]``); see
        ``docs/resilience.md``. Breaker transitions go to this app's audit trail."""
        register_breaker_commands(self.control, self.resilience)
        self.actions = ActionRegistry()
        """Actions transactions may run: register a host's own before :meth:`start`."""
        self.transactions: Transactions | None = None  # built with the tree
        register_transaction_commands(self.control, lambda: self.transactions)
        self.control.register("reload", lambda _args: self.reload())
        self.paused: PausedSessions | None = None  # sessions paused by hand (with the store)
        register_session_commands(self.control, self)
        self.tmux_spec: ChildSpec | None = None  # the tmux subtree's spec (updated by reloads)
        self._reloads = ReloadQueue()  # one reload at a time, a storm coalesced
        self.around_reload: Callable[[Callable[[], dict[str, Any]]], dict[str, Any]] = (
            lambda reload: reload()
        )
        """Runs every reload (SIGHUP or ``reload``); ``run`` wraps it in RELOADING=1/READY=1."""
        self._root: SupervisedRef | None = None
        self.health = HealthChecks(self.metrics, clock, self.scheduler, root=lambda: self._root)
        register_health_commands(self.control, self.health)
        self._lock = threading.Lock()  # serialises start/stop
        self._stop_requested = threading.Event()  # set by stop(): wait() then returns 0
        self._give_up_recorded = False  # True iff the root's give-up is in the audit trail
        self._locks: list[InstanceLock] = []  # held from start() to the end of stop()
        self.reachability = ServerReachability()  # fed by the watcher, read by verdict()
        self.current_verdict = cached_verdict(self.verdict)
        """:meth:`verdict` at most a second old: what ``/healthz`` and the metric answer."""
        bind_verdict(self.metrics, self.current_verdict)
        self.server_placement = ServerPlacement()
        """Where a tmux server this daemon starts runs (``[tmux] server_cgroup``), probed by
        :meth:`start`."""

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Lock, open the store and start the tree.

        Raises ``AlreadyRunning`` (naming the pid and the lock file) when another daemon runs on
        the state directory or the tmux server, ``StoreError`` when the state directory is not
        usable, ``StartError`` if a child cannot start; nothing is left running then.
        """
        with self._lock:
            if self._root is not None or self._locks:
                raise RuntimeError("RecoveryApp.start() was already called")
            try:
                self._take_locks()
                self.store = open_store(
                    self.state_dir,
                    durability=self.config.storage.durability,
                    metrics=self.metrics,
                    max_state_size=self.config.storage.max_state_size,
                )
                # A recovery on a full disk still ends up in the audit trail once space returns.
                self.store.audit.keep_refused = True
                self.paused = PausedSessions(self.store)
            except BaseException:
                self._close_resources()
                raise
            try:
                self.control.start()
                self.server_placement = resolve_placement(self.config.tmux.server_cgroup)
                self._record_unclean_end()
                self._resolve_specs()
                # records a killed daemon left open are closed before anything is watched
                close_interrupted(self.store, tmux_client(self.config))
                self._root = Supervisor.start(
                    children=self._with_backoff(self._children()),
                    strategy=self.config.supervisor.strategy,
                    max_restarts=self.config.supervisor.max_restarts,
                    max_seconds=self.config.supervisor.max_seconds,
                    name="root",
                    clock=self.clock,
                    scheduler=self.scheduler,
                    metrics=self.metrics,
                )
            except BaseException:
                self._close_resources()
                raise
            logger.info("yesman-recovery %s started (state in %s)", __version__, self.state_dir)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the tree in reverse start order; idempotent, callable from any thread."""
        self._stop_requested.set()
        with self._lock:
            root = self._root
            if root is not None and not root.shutdown(timeout):
                # Abandoned actors may still be writing: closing the store under them could
                # crash the process. Leave it open; the process is about to exit anyway.
                logger.error("the supervision tree did not stop within %s s", timeout)
                return
            self._close_resources()

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the tree ends: 0 after :meth:`stop`, 1 if the root gave up.

        Returns None if ``timeout`` passed first.
        """
        root = self._root
        if root is None:
            raise RuntimeError("RecoveryApp.wait() before start()")
        reason = root.wait_exit(timeout)
        if reason is None:
            return None
        if self._stop_requested.is_set() or not reason.abnormal:
            return 0
        if not self._give_up_recorded:
            self._give_up_recorded = True
            self._record_give_up(str(reason))
        return 1

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def reload(self) -> dict[str, Any]:
        """Re-read the configuration file and apply what changed (:mod:`yesman_recovery.reload`).

        An invalid file changes nothing; the answer says why (``ok`` false, ``errors``).
        """
        from yesman_recovery.reload import reload_app

        return self.around_reload(lambda: self._reloads.run(lambda: reload_app(self)))

    # --- introspection --------------------------------------------------------------------

    @property
    def root(self) -> SupervisedRef:
        """The root supervisor's ref (raises before :meth:`start`)."""
        if self._root is None:
            raise RuntimeError("RecoveryApp is not started")
        return self._root

    def healthy(self) -> bool:
        """True iff the root supervisor runs and no stop was requested."""
        root = self._root
        return root is not None and root.is_alive() and not self._stop_requested.is_set()

    def verdict(self, sessions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Healthy or not, and why (``yesman_recovery.actors.verdict``): what ``/healthz``,
        ``status`` and ``yesman_recovery_healthy`` say; ``sessions`` as :meth:`sessions`."""
        if sessions is None:
            try:
                sessions = self.sessions()
            except Exception:  # a subtree restarting: its sessions are not known to be failed
                sessions = []
        root = self._root
        server = self.reachability.describe(self.clock.monotonic())
        server["label"] = tmux_client(self.config).server_label
        return health_verdict(
            running=root is not None and root.is_alive(),
            stopping=self._stop_requested.is_set(),
            sessions=sessions,
            critical_failing=self.health.critical_failures(),
            server=server,
            policy=self.config.metrics.healthz,
        )

    def status(self) -> dict[str, Any]:
        """The ``/status`` document: version, health (the :meth:`verdict`), and the tree."""
        tree: dict[str, Any]
        if self._root is not None and self._root.is_alive():
            tree = describe_tree(self._root)
        else:
            tree = {"id": "root", "kind": "supervisor", "state": "stopped", "children": []}
        try:
            sessions = self.sessions()
        except Exception:  # the status page must answer even while a subtree restarts
            sessions = []
        verdict = self.verdict(sessions)
        return {
            "version": __version__,
            "healthy": verdict["healthy"],
            "verdict": verdict,
            "tree": tree,
            "sessions": sessions,
            "breakers": self.resilience.describe_breakers(),
            "health": self.health.views(),
            "tmux_servers": {
                "where": self.server_placement.where,
                "problem": self.server_placement.problem,
            },
        }

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """The bound ``(host, port)`` of the HTTP endpoint, or None when it is not running."""
        if self._root is None:
            return None
        ref = self._root.proxy().whereis("metrics").get(timeout=2.0)
        if ref is None:
            return None
        address: tuple[str, int] = ref.proxy().address().get(timeout=2.0)
        return address

    # --- the tree -------------------------------------------------------------------------

    def _children(self) -> list[ChildSpec]:
        cfg = self.config
        assert self.store is not None
        children: list[ChildSpec] = []
        if cfg.metrics.enabled:
            children.append(
                ChildSpec(
                    "metrics",
                    MetricsServer,
                    kwargs={
                        "host": cfg.metrics.host,
                        "port": cfg.metrics.port,
                        "registry": self.metrics.registry,
                        "healthy": self.healthy,
                        "status": self.status,
                        "verdict": self.current_verdict,
                        "critical_failures": self.health.critical_failures,
                    },
                )
            )
        children.append(
            ChildSpec(
                "storage",
                StoreMaintenance,
                kwargs={
                    "store": self.store,
                    "retention": cfg.storage.retention,
                    "interval": cfg.storage.maintenance_interval,
                    "scheduler": self.scheduler,
                    "metrics": self.metrics,
                    "journal_keep": cfg.transactions.keep_finished,
                },
            )
        )
        self.transactions = Transactions(self.store, self.actions, config=cfg.transactions,
                                         metrics=self.metrics, clock=self.clock,
                                         scheduler=self.scheduler,
                                         retry_policies=NamedRetryPolicies(self.resilience))  # fmt: skip # noqa: E501
        children.append(self.transactions.child_spec())
        children.append(self._tmux_subtree())
        children.append(daemon_health_subtree(self))
        children.extend(self._extra)
        return children

    def _with_backoff(self, children: list[ChildSpec]) -> list[ChildSpec]:
        """The root's children with ``[supervisor.backoff]``, unless a child brings its own."""
        backoff = self.config.supervisor.backoff
        if backoff is None:
            return children
        return [c if c.backoff is not None else replace(c, backoff=backoff) for c in children]

    def _tmux_subtree(self) -> ChildSpec:
        cfg = self.config
        assert self.store is not None
        if not cfg.tmux.restore_after_kill and self._server_ends is None:
            self._server_ends = ServerEnds(tmux_client(cfg).base_argv)
        # Restores settling at once share their looks at the server (one snapshot per look).
        context = SessionContext(
            SharedSnapshots(tmux_client(cfg, self.server_placement.launcher)), self.store,
            self.metrics, self.clock, self.scheduler, paused=self.paused,
            reachability=self.reachability,
            shell_dir=shell_dir(cfg), server_ends=self._server_ends,
        )  # fmt: skip
        declared, watch = session_settings(cfg)
        self.tmux_spec = tmux_subtree(
            settings=watch,
            declared=declared,
            context=context,
            scheduler=self.scheduler,
            max_restarts=cfg.supervisor.tmux.max_restarts,
            max_seconds=cfg.supervisor.tmux.max_seconds,
            sessions_max_restarts=cfg.supervisor.sessions.max_restarts,
            sessions_max_seconds=cfg.supervisor.sessions.max_seconds,
        )
        return self.tmux_spec

    def sessions(self, timeout: float = 2.0) -> list[dict[str, Any]]:
        """The state of every watched session (``sessions list``), asked of the actors.

        Asked from the caller's thread, all at once with one deadline, so a session busy with
        a restore delays this answer by at most ``timeout`` and never blocks a supervisor.
        """
        if self._root is None or not self._root.is_alive():
            return []
        tmux = self._root.proxy().whereis("tmux").get(timeout=timeout)
        sup = tmux and tmux.proxy().whereis("sessions").get(timeout=timeout)
        if sup is None:
            return []
        infos: list[ChildInfo] = sup.proxy().which_children().get(timeout=timeout)
        asked = [
            (i, i.ref.proxy().describe() if isinstance(i.ref, SupervisedRef) else None)
            for i in infos
        ]
        deadline = time.monotonic() + timeout
        out: list[dict[str, Any]] = []
        for info, future in asked:
            fallback = {"name": info.id, "state": info.state.value, "detail": info.last_exit}
            if future is None:
                out.append(fallback)
                continue
            try:
                out.append(future.get(timeout=max(0.0, deadline - time.monotonic())))
            except (pykka.Timeout, pykka.ActorDeadError):
                out.append({**fallback, "state": "busy"})
        return out

    def _record_give_up(self, reason: str) -> None:
        logger.critical("the root supervisor gave up: %s", reason)
        store = self.store
        if store is None:
            return
        try:
            store.audit.append(
                AuditKind.SUPERVISOR,
                "root",
                detail=reason,
                action=Action.GIVE_UP,
                outcome=Outcome.FAILED,
            )
        except Exception:  # the audit trail must not turn a give-up into a traceback
            logger.exception("could not record the give-up in the audit trail")

    def _resolve_specs(self) -> None:
        """Read every spec and ``[yesman]`` file once (:mod:`yesman_recovery.config.declared`).

        A bad file fails only its own session (its actor audits why); a folder problem (a
        symlink loop, too many files) is logged and audited here, and the rest is declared.
        """
        if self.config.resolved:
            return
        from yesman_recovery.config.declared import resolve

        resolution = resolve(self.config)
        self.config = resolution.config
        for problem in resolution.problems:
            logger.error("%s", problem)
            if self.store is not None:
                try:
                    self.store.audit.append(AuditKind.SESSION, "yesman", detail=problem,
                                            action=Action.LOAD_SPEC, outcome=Outcome.FAILED)  # fmt: skip # noqa: E501
                except Exception:  # the audit trail must not stop a start
                    logger.exception("could not record a sessions folder problem")

    def _record_unclean_end(self) -> None:
        """Audit that the daemon before this one ended without stopping (its lock file still
        held its pid: killed or crashed), so no end goes unrecorded."""
        previous = self._locks[0].previous_pid if self._locks else None
        if previous is None or self.store is None:
            return
        logger.warning("the previous daemon (pid %d) ended without stopping cleanly", previous)
        try:
            self.store.audit.append(
                AuditKind.SUPERVISOR,
                "daemon",
                detail=f"the previous daemon (pid {previous}) ended without stopping "
                "(killed or crashed); this one takes over",
                action=Action.START,
                outcome=Outcome.SUCCESS,
            )
        except Exception:  # the audit trail must not stop a start
            logger.exception("could not record the previous daemon's end")

    def _take_locks(self) -> None:
        """One daemon per state directory and per tmux server (``yesman_recovery.instance``)."""
        prepare_state_dir(self.state_dir)
        tmux = self.config.tmux
        for lock in (state_lock(self.state_dir), server_lock(tmux.socket_name, tmux.socket_path)):
            lock.acquire()
            self._locks.append(lock)

    def _close_resources(self) -> None:
        self.control.close()
        if self._server_ends is not None:
            self._server_ends.close()
        if self._own_scheduler and isinstance(self.scheduler, ThreadScheduler):
            self.scheduler.close()
        if self.store is not None:
            self.store.close()
            self.store = None
        while self._locks:  # released last: the next daemon may start once the store is closed
            self._locks.pop().release()
