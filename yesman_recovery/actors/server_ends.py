"""How the tmux server ended: the user's own ``kill-server`` (or its last session closing) or a
crash. Told by a control-mode client, the only reliable witness (measured on tmux 3.3a).

On disk a deliberate exit and a crash look alike: tmux leaves its socket file behind in every
case, and the server is not our child, so its exit status is not ours to read. A control-mode
client attached to the server (``tmux -C attach -r -f ignore-size,no-output``) reads ``%exit``
when the server exits on its own terms (``kill-server``, the last session closed) and
``%exit server exited unexpectedly`` when it is killed (SIGKILL, the OOM killer, a crash).

:class:`ServerEnds` keeps one such client per server pid, in a thread of its own. The client is
read-only, ignores its size (windows keep the size of the user's own clients) and asks for no
output; it does count as attached (``#{session_attached}``, ``tmux ls`` shows the session it
sits on as attached), the one trace it leaves. When its session closes while the server lives,
it attaches again (to another session). :meth:`ServerEnds.verdict` answers for a server pid
that is gone: :data:`BY_USER`, :data:`CRASHED`, or None when nothing was seen.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from yesman_recovery.errors import StoreError
from yesman_recovery.labels import AuditKind
from yesman_recovery.processes import SYSTEM_PROCESSES, Processes
from yesman_recovery.storage.audit import AuditTrail

logger = logging.getLogger(__name__)

BY_USER = "user"
CRASHED = "crashed"
UNEXPECTED = "server exited unexpectedly"
GONE_WAIT = 0.5
"""Seconds a server gets to be gone after its client read ``%exit`` (else: the client's session
closed, the server lives on, and the client attaches again)."""
RETRY_PAUSE = 0.2


class ServerEnds:
    """Control-mode witnesses of tmux servers' ends (see the module docstring)."""

    def __init__(
        self, base_argv: Callable[[], Sequence[str]], processes: Processes = SYSTEM_PROCESSES
    ) -> None:
        self._argv = base_argv
        self._processes = processes
        self._lock = threading.Condition()
        self._verdicts: dict[int, str | None] = {}
        self._watched: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False

    def watch(self, server_pid: int) -> None:
        """Keep a control client on the server ``server_pid`` (no-op if there is one)."""
        with self._lock:
            if self._closed or self._watched == server_pid:
                return
            self._watched = server_pid
        thread = threading.Thread(
            target=self._run, args=(server_pid,), name=f"tmux-control-{server_pid}", daemon=True
        )
        thread.start()

    def verdict(self, server_pid: int, timeout: float = 1.0) -> str | None:
        """How ``server_pid`` ended (:data:`BY_USER`, :data:`CRASHED`), waiting up to
        ``timeout`` seconds for its client to tell; None when nobody watched it or it said
        nothing (then it is treated as a crash by the caller)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while server_pid not in self._verdicts and self._watched == server_pid:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return self._verdicts.get(server_pid)

    def close(self) -> None:
        """End the control client (by its pid); no new one is started."""
        with self._lock:
            self._closed = True
            proc = self._proc
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.terminate()

    def _run(self, server_pid: int) -> None:
        while True:
            with self._lock:
                if self._closed or self._watched != server_pid:
                    return
            ended = self._attach_once()
            if self._closed:
                return  # our own client was ended: it says nothing about the server
            if not self._processes.wait_gone(server_pid, GONE_WAIT):
                time.sleep(RETRY_PAUSE)  # our session closed, or we could not attach yet
                continue
            verdict = None if ended is None else CRASHED if UNEXPECTED in ended else BY_USER
            logger.info("tmux server %d ended: %s (%r)", server_pid, verdict, ended)
            with self._lock:
                self._verdicts[server_pid] = verdict
                if self._watched == server_pid:
                    self._watched = None
                self._lock.notify_all()
            return

    def _attach_once(self) -> str | None:
        """Run one control client until it exits; its ``%exit`` line's reason ('' if none)."""
        argv = [*self._argv(), "-C", "attach-session", "-r", "-f", "ignore-size,no-output"]
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            logger.warning("cannot start a tmux control client: %s", exc)
            return None
        with self._lock:
            self._proc = proc
            if self._closed:
                proc.terminate()
        ended = None
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("%exit"):
                ended = line[len("%exit") :].strip()
        with contextlib.suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        proc.wait()
        return ended


ENDED_LABEL = "ended by the user"
"""The audit label of a session whose server the user ended (see :func:`ended_before`)."""
ENDED_DETAIL = (
    "the tmux server was stopped on purpose (tmux kill-server, or its last session closed); "
    "not restored (`sessions reset NAME` or `sessions restore NAME` brings it back)"
)


BACK_LABEL = "back"
"""The audit label of a session seen again after the user had ended or closed it."""


def closed_by_user(audit: AuditTrail, name: str) -> str | None:
    """How the user last closed ``name``, from the newest session event of the audit trail:
    :data:`ENDED_LABEL` (its server ended on purpose), ``"released"`` (closed while the server
    ran), or None (not closed by the user, or back since: :data:`BACK_LABEL`). A session the
    user ended stays ended across a restart of the daemon, and ``sessions restore --all``
    leaves what the user closed alone."""
    with contextlib.suppress(StoreError, ValueError):
        for event in audit.query(kind=AuditKind.SESSION, subject=name, limit=1):
            label = event.detail.partition(":")[0]
            return label if label in (ENDED_LABEL, "released") else None
    return None
