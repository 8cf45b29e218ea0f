"""Frozen records of a tmux server's state, and their JSON form.

A :class:`SessionSnapshot` is both what was observed (a checkpoint) and what is expected (from
a spec); fields a spec does not know are ``None`` or empty. Records are stored as JSON
checkpoints: :meth:`to_dict` gives JSON-ready dicts and :meth:`from_dict` validates them back,
raising ``ValueError`` naming the bad key; a window layout that
:func:`~yesman_recovery.tmux.layout.layout_problem` refuses is dropped with a warning (the window
is restored with tmux's default split). Nothing here runs tmux.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from yesman_recovery.agents.binding import Binding
from yesman_recovery.tmux.layout import layout_problem

logger = logging.getLogger(__name__)

SCHEMA = 1


@dataclass(frozen=True)
class PaneSnapshot:
    """One pane.

    ``dead_status`` / ``dead_signal``: how a dead pane's program ended (exit status, or the
    signal that killed it; both None until tmux has collected it). ``argv`` is the foreground
    program's full argv (a shell when the pane is at its prompt;
    None when dead or unreadable); ``command`` is the program yesman-recovery started in the pane
    (kept in the pane option ``@yr_argv``, so it survives the program's exit) or the one a spec
    declares; ``shell_commands`` are a spec's ``shell_command`` lines, typed into the shell.
    """

    index: int
    cwd: str | None = None
    active: bool = False
    pane_id: str = ""
    pid: int | None = None
    title: str = ""
    dead: bool = False
    dead_status: int | None = None
    dead_signal: int | None = None
    argv: tuple[str, ...] | None = None
    program_pid: int | None = None
    stopped: bool = False
    jobs: bool = False
    command: tuple[str, ...] | None = None
    shell_commands: tuple[str, ...] = ()
    scrollback: str | None = None
    exit_status: int | None = None
    shell_reports: bool = False
    """The pane's own shell reports its commands (shell integration); observed, not stored."""
    cmd_line: str | None = None
    """The command line that shell started last, as it reported it; observed, not stored."""
    agent: Binding | None = None


@dataclass(frozen=True)
class WindowSnapshot:
    """One window; ``layout`` is tmux's layout string, or a preset name (``tiled``) from a spec."""

    index: int | None
    name: str
    panes: tuple[PaneSnapshot, ...]
    layout: str | None = None
    active: bool = False
    zoomed: bool = False
    automatic_rename: bool = False
    window_id: str = ""

    @property
    def active_pane(self) -> PaneSnapshot | None:
        """The active pane, or None when no pane is marked active."""
        return next((p for p in self.panes if p.active), None)


@dataclass(frozen=True)
class SessionSnapshot:
    """One session; ``name`` is as tmux stores it (see ``stored_session_name``)."""

    name: str
    windows: tuple[WindowSnapshot, ...]
    width: int | None = None
    height: int | None = None
    session_id: str = ""
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def is_empty(self) -> bool:
        """True iff the session has no pane: such a snapshot must never replace a good one."""
        return not any(w.panes for w in self.windows)

    @property
    def active_window(self) -> WindowSnapshot | None:
        """The active window, or None when no window is marked active."""
        return next((w for w in self.windows if w.active), None)

    def panes(self) -> list[PaneSnapshot]:
        """Every pane of every window, in window then pane order."""
        return [p for w in self.windows for p in w.panes]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return _session_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionSnapshot:
        """Rebuild a session from :meth:`to_dict` output; ``ValueError`` names a bad key."""
        return _session_from_dict(data, "session")


@dataclass(frozen=True)
class ServerSnapshot:
    """Every session of one server, observed at ``taken_at`` (wall seconds) in ``duration`` s."""

    pid: int | None
    sessions: tuple[SessionSnapshot, ...]
    taken_at: float = 0.0
    duration: float = 0.0
    socket: str = ""

    @property
    def is_empty(self) -> bool:
        """True iff no session has a pane."""
        return all(s.is_empty for s in self.sessions)

    def session(self, name: str) -> SessionSnapshot | None:
        """The session whose stored name is ``name``, or None (the first, as listed)."""
        return self._by_name.get(name)

    @cached_property
    def _by_name(self) -> dict[str, SessionSnapshot]:
        # Every session actor looks its own session up in the same shared snapshot: one index
        # per snapshot keeps a look at N sessions O(N), not O(N^2).
        by_name: dict[str, SessionSnapshot] = {}
        for s in self.sessions:
            by_name.setdefault(s.name, s)
        return by_name

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with a schema number."""
        return {
            "schema": SCHEMA,
            "pid": self.pid,
            "taken_at": self.taken_at,
            "duration": self.duration,
            "socket": self.socket,
            "sessions": [_session_to_dict(s) for s in self.sessions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerSnapshot:
        """Rebuild a server snapshot; ``ValueError`` names a bad key or a newer schema."""
        schema = data.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise ValueError(f"snapshot schema {schema!r} is not supported (expected {SCHEMA})")
        sessions = _get(data, "sessions", list, "server")
        return cls(
            pid=_opt(data, "pid", int, "server"),
            sessions=tuple(
                _session_from_dict(s, f"server.sessions[{i}]") for i, s in enumerate(sessions)
            ),
            taken_at=float(_get(data, "taken_at", (int, float), "server")),
            duration=float(_get(data, "duration", (int, float), "server")),
            socket=_get(data, "socket", str, "server"),
        )


def choose_checkpoint(
    previous: SessionSnapshot | None, current: SessionSnapshot | None
) -> SessionSnapshot | None:
    """The snapshot to keep: ``current`` unless it is missing or empty, then ``previous``."""
    if current is None or current.is_empty:
        return previous
    return current


def _session_to_dict(s: SessionSnapshot) -> dict[str, Any]:
    return {
        "name": s.name,
        "session_id": s.session_id,
        "width": s.width,
        "height": s.height,
        "environment": [list(kv) for kv in s.environment],
        "windows": [_window_to_dict(w) for w in s.windows],
    }


def _window_to_dict(w: WindowSnapshot) -> dict[str, Any]:
    return {
        "index": w.index,
        "name": w.name,
        "window_id": w.window_id,
        "layout": w.layout,
        "active": w.active,
        "zoomed": w.zoomed,
        "automatic_rename": w.automatic_rename,
        "panes": [_pane_to_dict(p) for p in w.panes],
    }


def _pane_to_dict(p: PaneSnapshot) -> dict[str, Any]:
    return {
        "index": p.index,
        "pane_id": p.pane_id,
        "pid": p.pid,
        "cwd": p.cwd,
        "title": p.title,
        "active": p.active,
        "dead": p.dead,
        "dead_status": p.dead_status,
        "dead_signal": p.dead_signal,
        "argv": None if p.argv is None else list(p.argv),
        "program_pid": p.program_pid,
        "stopped": p.stopped,
        "jobs": p.jobs,
        "command": None if p.command is None else list(p.command),
        "shell_commands": list(p.shell_commands),
        "scrollback": p.scrollback,
        "exit_status": p.exit_status,
        "agent": None if p.agent is None else p.agent.to_dict(),
    }


def _get(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a JSON object, got {type(data).__name__}")
    if key not in data:
        raise ValueError(f"{where}.{key} is missing")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
        raise ValueError(f"{where}.{key} has the wrong type: {value!r}")
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if data.get(key) is None:
        return None
    return _get(data, key, kind, where)


def _strs(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = _opt(data, key, list, where)
    if value is None:
        return None
    if not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where}.{key} must be a list of strings, got {value!r}")
    return tuple(value)


def _pane_from_dict(d: Mapping[str, Any], where: str) -> PaneSnapshot:
    return PaneSnapshot(
        index=_get(d, "index", int, where),
        pane_id=_get(d, "pane_id", str, where),
        pid=_opt(d, "pid", int, where),
        cwd=_opt(d, "cwd", str, where),
        title=_get(d, "title", str, where),
        active=_get(d, "active", bool, where),
        dead=_get(d, "dead", bool, where),
        dead_status=_opt(d, "dead_status", int, where),
        dead_signal=_opt(d, "dead_signal", int, where),
        argv=_strs(d, "argv", where),
        program_pid=_opt(d, "program_pid", int, where),
        stopped=_get(d, "stopped", bool, where),
        jobs=_opt(d, "jobs", bool, where) or False,
        command=_strs(d, "command", where),
        shell_commands=_strs(d, "shell_commands", where) or (),
        scrollback=_opt(d, "scrollback", str, where),
        exit_status=_opt(d, "exit_status", int, where),
        agent=Binding.from_dict(d.get("agent")),
    )


def _window_from_dict(d: Mapping[str, Any], where: str) -> WindowSnapshot:
    panes = _get(d, "panes", list, where)
    layout = _opt(d, "layout", str, where)
    if layout:
        problem = layout_problem(layout, len(panes))
        if problem is not None:
            # A layout tmux might choke on is dropped, not the window: the session is rebuilt
            # with tmux's default split instead.
            logger.warning("%s.layout refused: %s", where, problem)
            layout = None
    return WindowSnapshot(
        index=_opt(d, "index", int, where),
        name=_get(d, "name", str, where),
        window_id=_get(d, "window_id", str, where),
        layout=layout,
        active=_get(d, "active", bool, where),
        zoomed=_get(d, "zoomed", bool, where),
        automatic_rename=_get(d, "automatic_rename", bool, where),
        panes=tuple(_pane_from_dict(p, f"{where}.panes[{i}]") for i, p in enumerate(panes)),
    )


def _session_from_dict(d: Mapping[str, Any], where: str) -> SessionSnapshot:
    windows = _get(d, "windows", list, where)
    env = _get(d, "environment", list, where)
    if not all(isinstance(kv, list) and len(kv) == 2 for kv in env):
        raise ValueError(f"{where}.environment must be a list of [key, value] pairs")
    return SessionSnapshot(
        name=_get(d, "name", str, where),
        session_id=_get(d, "session_id", str, where),
        width=_opt(d, "width", int, where),
        height=_opt(d, "height", int, where),
        environment=tuple((str(k), str(v)) for k, v in env),
        windows=tuple(_window_from_dict(w, f"{where}.windows[{i}]") for i, w in enumerate(windows)),
    )
