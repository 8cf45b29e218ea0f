"""An unresponsive tmux server: SIGCONT it if stopped, kill it if allowed, count each spell once.

The watcher reports each look at the server here. A spell of unresponsiveness (no answer within
``command_timeout``) starts at the first timeout: a stopped server is sent SIGCONT once; one that
stays unresponsive for ``frozen_grace`` is killed (SIGKILL, by the pid it last reported) only when
``allow_kill_server`` is set, and its sessions are then restored like after any crash. The spell
is counted once, when it ends — ``success`` if the same server answers again, ``escalated`` if
it was replaced — not once per session. Not an actor: the tmux watcher owns one.

A server in state ``T`` cannot answer, so the watcher asks :meth:`ServerHealth.stopped` before
each poll and starts the spell at once instead of waiting ``command_timeout`` for certain
silence: a stopped server runs again within one poll. No grace as for a stopped program: a tmux
server has no terminal and no job control, nobody stops it on purpose, and while it is stopped
every pane's program blocks at its next write.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

from yesman_recovery.actors.diagnosis import FailureKind
from yesman_recovery.labels import Action, Outcome
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.processes import Processes

Audit = Callable[[str, Action, Outcome], None]
"""Records one event about the server: (detail, action, outcome)."""


class ServerHealth:
    """The unresponsive spells of one tmux server (see the module docstring)."""

    def __init__(
        self,
        *,
        processes: Processes,
        metrics: RecoveryMetrics,
        audit: Audit,
        allow_kill: bool,
        grace: float,
    ) -> None:
        self._processes = processes
        self._metrics = metrics
        self._audit = audit
        self._allow_kill = allow_kill
        self._grace = grace
        self.server_pid: int | None = None  # pid of the server as last observed
        self._started: float | None = None  # when that process started (its identity)
        self._since: float | None = None  # start of the current spell
        self._continued = False  # True iff SIGCONT was sent in the current spell

    def answered(self, now: float, pid: int | None) -> None:
        """The server answered with pid ``pid``: ends a spell (same server: ``success``)."""
        self._end(now, Outcome.SUCCESS if pid == self.server_pid else Outcome.ESCALATED)
        if pid != self.server_pid or self._started is None:
            self._started = self._processes.started(pid) if pid is not None else None
        self.server_pid = pid

    def gone(self, now: float) -> None:
        """No server on the socket: a spell ends as ``escalated`` (the server was replaced)."""
        self._end(now, Outcome.ESCALATED)
        self.server_pid = self._started = None

    def stopped(self) -> bool:
        """True iff the server as last observed is stopped (state ``T``): it cannot answer.

        Only while its pid is still that process (same start time): a process that took the pid
        of a server that died since is never taken for it, nor signalled.
        """
        pid, started = self.server_pid, self._started
        return pid is not None and started is not None and self._processes.stopped(pid, started)

    def unresponsive(self, now: float) -> None:
        """The server did not answer: SIGCONT once if stopped, then kill it if allowed."""
        pid = self.server_pid
        if self._since is None:
            self._since = now
            self._continued = False
        if pid is None:
            return
        stopped = not self._continued and self.stopped()
        if stopped and self._processes.signal(pid, signal.SIGCONT):
            self._continued = True
            detail = f"tmux server {pid} was stopped; sent SIGCONT"
            self._audit(detail, Action.SIGCONT, Outcome.ATTEMPTED)
            return
        waited = now - self._since
        if self._allow_kill and waited >= self._grace:
            self._processes.signal(pid, signal.SIGKILL)
            detail = f"tmux server {pid} unresponsive for {waited:.1f} s; killed"
            self._audit(detail, Action.KILL_SERVER, Outcome.ATTEMPTED)
            self.server_pid = None

    def _end(self, now: float, outcome: Outcome) -> None:
        since = self._since
        if since is None:
            return
        self._since = None
        kind = FailureKind.FROZEN.value
        self._metrics.recoveries.labels(kind, outcome).inc()
        if outcome is Outcome.SUCCESS:
            self._metrics.recovery_duration.labels(kind).observe(max(0.0, now - since))
        self._audit(f"tmux server answers again after {now - since:.1f} s", Action.WAIT, outcome)
