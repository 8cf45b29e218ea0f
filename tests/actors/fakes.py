"""Fakes of what the session and watcher actors act through: a tmux server, processes, pidfds.

:class:`FakeTmux` satisfies :class:`~yesman_recovery.tmux.protocol.Tmux` with records instead
of a server. It understands the commands the recoveries send: a chain starting with
``new-session`` rebuilds that session as it was before the server was killed (or as
``builds[name]`` says), ``respawn-pane`` gives a pane a fresh shell, a launch line typed with
``send-keys`` and Enter starts its program at that shell (or, with ``respawn_dies``, records it
as failed at once), and the ``new-window`` / ``split-window -P`` of a repair add what they
name. Everything else in a chain (layouts,
options, selections) is accepted and ignored. Pids are made up and never signalled: the actors
reach processes only through :class:`FakeProcesses`.
"""

from __future__ import annotations

import itertools
import shlex
import signal
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from yesman_recovery.actors.pidwatch import OnExit
from yesman_recovery.clock import Clock
from yesman_recovery.errors import TmuxError, TmuxServerGone, TmuxTimeout
from yesman_recovery.tmux.programs import launched_program
from yesman_recovery.tmux.records import (
    PaneSnapshot,
    ServerSnapshot,
    SessionSnapshot,
    WindowSnapshot,
)

TAIL = ("tail", "-f", "/dev/null")
AT_SHELL: dict[str, Any] = {"argv": ("bash",), "program_pid": None, "dead": False, "stopped": False}
"""A pane at the prompt of its shell."""


def pane(index: int, argv: tuple[str, ...] | None = TAIL, **kw: Any) -> PaneSnapshot:
    """A pane running ``argv`` (started by us: ``command`` is set) in ``/src``."""
    fields: dict[str, Any] = {"cwd": "/src", "command": argv, "active": index == 0}
    fields.update(kw)
    return PaneSnapshot(index=index, argv=argv, **fields)


def session(name: str, *windows: tuple[str, int]) -> SessionSnapshot:
    """A session with windows ``(name, number of panes)``, every pane running ``tail``."""
    return SessionSnapshot(
        name=name,
        width=80,
        height=24,
        windows=tuple(
            WindowSnapshot(
                index=i,
                name=wname,
                active=i == 0,
                panes=tuple(pane(p) for p in range(count)),
            )
            for i, (wname, count) in enumerate(windows)
        ),
    )


class FakeTmux:
    """One fake tmux server (see the module docstring); thread-safe."""

    server_label = "-L fake"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pids = itertools.count(900_001)
        self.pid: int | None = None  # None: no server on the socket
        self.frozen = False  # every call times out, as with a SIGSTOPped server
        self.sessions: dict[str, SessionSnapshot] = {}
        self.lost: dict[str, SessionSnapshot] = {}  # what the last killed server held
        self.builds: dict[str, SessionSnapshot] = {}  # what a restore of a name builds
        self.chains: list[list[tuple[str, ...]]] = []
        self.respawn_dies = False  # a respawned program exits at once
        self._typed: dict[str, str] = {}  # pane id → the line typed at its prompt, before Enter
        self.snapshots = 0
        self.scrollback_asked: list[dict[str, int]] = []  # `scrollback` of each snapshot

    # --- the server, as a test changes it ----------------------------------------------------

    def start(self, *sessions: SessionSnapshot) -> None:
        """Start a server holding ``sessions`` (fresh ids and pids)."""
        with self._lock:
            self.pid = next(self._pids)
            for s in sessions:
                self.sessions[s.name] = self._fresh(s)

    def kill(self) -> int | None:
        """Kill the server (its sessions are lost); returns its pid."""
        with self._lock:
            pid, self.pid = self.pid, None
            self.lost = dict(self.sessions)
            self.sessions = {}
            return pid

    def close(self, name: str) -> None:
        """The user closes session ``name``; the server keeps running."""
        with self._lock:
            self.lost[name] = self.sessions.pop(name)

    def change_pane(self, name: str, position: tuple[int, int], **changes: Any) -> PaneSnapshot:
        """Change pane (window position, pane position) of session ``name``; returns it."""
        with self._lock:
            s = self.sessions[name]
            wpos, ppos = position
            w = s.windows[wpos]
            changed = replace(w.panes[ppos], **changes)
            panes = (*w.panes[:ppos], changed, *w.panes[ppos + 1 :])
            windows = (*s.windows[:wpos], replace(w, panes=panes), *s.windows[wpos + 1 :])
            self.sessions[name] = replace(s, windows=windows)
            return changed

    def drop_window(self, name: str, position: int) -> None:
        """The user kills window ``position`` of session ``name``."""
        with self._lock:
            s = self.sessions[name]
            windows = s.windows[:position] + s.windows[position + 1 :]
            self.sessions[name] = replace(s, windows=windows)

    def session(self, name: str) -> SessionSnapshot | None:
        with self._lock:
            return self.sessions.get(name)

    # --- the Tmux protocol ---------------------------------------------------------------------

    def server_pid(self) -> int | None:
        with self._lock:
            if self.frozen:
                raise TmuxTimeout("fake tmux server does not answer")
            return self.pid

    def snapshot(self, *, scrollback: Mapping[str, int] | None = None) -> ServerSnapshot:
        with self._lock:
            self._check()
            self.snapshots += 1
            self.scrollback_asked.append(dict(scrollback or {}))
            return ServerSnapshot(
                pid=self.pid, sessions=tuple(self.sessions.values()), socket=self.server_label
            )

    def run_chain(self, commands: Sequence[Sequence[str]]) -> str:
        chain = [tuple(c) for c in commands if c]
        with self._lock:
            self.chains.append(chain)
            if self.frozen:
                raise TmuxTimeout("fake tmux server does not answer")
            if chain and chain[0][0] == "new-session":
                self._new_session(chain[0])
                return ""
            self._check()
            return "".join(self._run(c) for c in chain)

    # --- internals --------------------------------------------------------------------------

    def _check(self) -> None:
        if self.frozen:
            raise TmuxTimeout("fake tmux server does not answer")
        if self.pid is None:
            raise TmuxServerGone("no server running on fake")

    def _fresh(self, s: SessionSnapshot) -> SessionSnapshot:
        """``s`` as a server would show it just built: new ids and pids, programs running."""
        windows = []
        for w in s.windows:
            panes = tuple(
                replace(
                    p,
                    pane_id=f"%{next(self._ids)}",
                    pid=next(self._pids),
                    program_pid=next(self._pids) if p.argv else None,
                    dead=False,
                    dead_status=None,
                    stopped=False,
                )
                for p in w.panes
            )
            windows.append(replace(w, window_id=f"@{next(self._ids)}", panes=panes))
        return replace(s, session_id=f"${next(self._ids)}", windows=tuple(windows))

    def _new_session(self, command: tuple[str, ...]) -> None:
        name = command[command.index("-s") + 1]
        if name in self.sessions:
            raise TmuxError(f"duplicate session: {name}")
        template = self.builds.get(name) or self.lost.get(name)
        if template is None:
            raise TmuxError(f"fake tmux does not know how to build {name!r}")
        if self.pid is None:
            self.pid = next(self._pids)
        self.sessions[name] = self._fresh(template)

    def _run(self, command: tuple[str, ...]) -> str:
        verb = command[0]
        if verb == "respawn-pane":
            self.set_pane(command[command.index("-t") + 1], **AT_SHELL)
        elif verb == "send-keys" and "-l" in command:
            self._typed[command[command.index("-t") + 1]] = command[-1]
        elif verb == "send-keys" and command[-1] == "Enter":
            self._enter(command[command.index("-t") + 1])
        elif verb in ("new-window", "split-window") and "-P" in command:
            return self._add_pane(verb, command) + "\n"
        return ""

    def _enter(self, pane_id: str) -> None:
        program = launched_program(tuple(shlex.split(self._typed.pop(pane_id, ""))))
        if program is None:
            return
        if self.respawn_dies:  # it ran and failed at once: the launcher recorded its status
            self.set_pane(pane_id, **AT_SHELL, command=program, exit_status=1)
        else:
            self.set_pane(
                pane_id, argv=program, command=program, program_pid=next(self._pids),
                dead=False, stopped=False, exit_status=None,
            )  # fmt: skip

    def set_pane(self, pane_id: str, **changes: Any) -> None:
        """Change the pane ``pane_id`` wherever it is."""
        for name, s in self.sessions.items():
            windows = tuple(
                replace(
                    w,
                    panes=tuple(
                        replace(p, **changes) if p.pane_id == pane_id else p for p in w.panes
                    ),
                )
                for w in s.windows
            )
            self.sessions[name] = replace(s, windows=windows)

    def _add_pane(self, verb: str, command: tuple[str, ...]) -> str:
        target = command[command.index("-t") + 1]
        cwd = command[command.index("-c") + 1] if "-c" in command else None
        pane_id = f"%{next(self._ids)}"
        new = PaneSnapshot(index=0, cwd=cwd, pane_id=pane_id, pid=next(self._pids), argv=("bash",))
        for name, s in self.sessions.items():
            if verb == "new-window" and target.startswith(s.session_id + ":"):
                index = int(target.split(":", 1)[1])
                wname = command[command.index("-n") + 1] if "-n" in command else "bash"
                window = WindowSnapshot(
                    index=index, name=wname, panes=(new,), window_id=f"@{next(self._ids)}"
                )
                windows = sorted((*s.windows, window), key=lambda w: w.index or 0)
                self.sessions[name] = replace(s, windows=tuple(windows))
                return pane_id
            for wpos, w in enumerate(s.windows):
                if verb == "split-window" and (
                    any(p.pane_id == target for p in w.panes)
                    or target == f"{s.session_id}:{w.index}.{{top-left}}"
                ):
                    added = replace(new, index=len(w.panes))
                    windows = list(s.windows)
                    windows[wpos] = replace(w, panes=(*w.panes, added))
                    self.sessions[name] = replace(s, windows=tuple(windows))
                    return pane_id
        raise TmuxError(f"can't find {target}")


class FakeProcesses:
    """Records signals and waits; SIGCONT to a stopped fake program lets it run again."""

    def __init__(self, tmux: FakeTmux) -> None:
        self._tmux = tmux
        self.signals: list[tuple[int, int]] = []
        self.waited: list[int] = []
        self.stopped_pids: set[int] = set()  # "real" processes stopped (the tmux server)
        self.start_times: dict[int, float] = {}  # a pid not here started at 0.0
        self.sigcont_works = True

    def stopped(self, pid: int, started: float | None = None) -> bool:
        if started is not None and self.start_times.get(pid, 0.0) != started:
            return False
        return pid in self.stopped_pids

    def started(self, pid: int) -> float | None:
        return self.start_times.get(pid, 0.0)

    def signal(self, pid: int, sig: int) -> bool:
        self.signals.append((pid, sig))
        if sig == signal.SIGCONT and self.sigcont_works:
            self.stopped_pids.discard(pid)
        return True

    def signal_group(self, pid: int, sig: int) -> bool:
        self.signals.append((pid, sig))
        if sig == signal.SIGKILL:  # the program and its launcher die: the shell is back
            for s in list(self._tmux.sessions.values()):
                for p in s.panes():
                    if p.program_pid == pid:
                        self._tmux.set_pane(p.pane_id, **AT_SHELL)
        if sig == signal.SIGCONT and self.sigcont_works:
            for name, s in list(self._tmux.sessions.items()):
                for wpos, w in enumerate(s.windows):
                    for ppos, p in enumerate(w.panes):
                        if p.program_pid == pid:
                            self._tmux.change_pane(name, (wpos, ppos), stopped=False)
        return True

    def wait_gone(self, pid: int, timeout: float) -> bool:
        self.waited.append(pid)
        return True


class FakePidWatch:
    """The watcher's exit watcher: remembers the pids it is told to watch; tests fire exits."""

    def __init__(self, on_exit: OnExit, clock: Clock) -> None:
        self.on_exit = on_exit
        self.clock = clock
        self.pids: frozenset[int] = frozenset()
        self.closed = False

    @classmethod
    def factory(cls, registry: list[FakePidWatch]) -> Any:
        def make(on_exit: OnExit, clock: Clock) -> FakePidWatch:
            watch = cls(on_exit, clock)
            registry.append(watch)
            return watch

        return make

    def watch_only(self, pids: Iterable[int]) -> None:
        self.pids = frozenset(pids)

    def close(self, timeout: float = 2.0) -> None:
        self.closed = True

    def fire(self, pid: int) -> None:
        """``pid`` exited now."""
        self.on_exit(pid, self.clock.monotonic())
