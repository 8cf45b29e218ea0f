"""Observe every session of a tmux server in one tmux process (plus /proc reads).

One chained invocation runs ``list-windows -a`` and ``list-panes -a``, so windows and panes come
from the same instant of the server and the cost does not grow in processes with the number of
sessions. A pane whose window is not in the window list (a race with a user's command between the
two lists cannot happen inside one invocation, but a malformed record can) is dropped, and a
window without panes is dropped.

The foreground program of a pane is read from ``/proc/<pane_pid>/stat`` field 8 (``tpgid``, the
terminal's foreground process group) and psutil's ``cmdline()`` of that group's leader. A pane
at its prompt reports its shell. ``pane_current_command`` is not used: it shows ``node`` or a
version string for Claude Code.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import replace
from typing import NamedTuple

import psutil

from yesman_recovery.agents.registry import (
    CONVERSATION_OPTION,
    DEFAULT_AGENTS,
    PIDS_OPTION,
    AgentPane,
    Agents,
    bind_panes,
    parse_hook_pids,
)
from yesman_recovery.tmux.formats import format_of, parse_records
from yesman_recovery.tmux.programs import EXIT_OPTION, launched_program
from yesman_recovery.tmux.protocol import ChainRunner
from yesman_recovery.tmux.records import (
    PaneSnapshot,
    ServerSnapshot,
    SessionSnapshot,
    WindowSnapshot,
)
from yesman_recovery.tmux.shell_snippets import (
    END_OPTION,
    LINE_OPTION,
    SHELL_OPTION,
    START_OPTION,
    STATUS_OPTION,
)

logger = logging.getLogger(__name__)

ARGV_OPTION = "@yr_argv"

_WINDOW_FIELDS = (
    "W",
    "#{pid}",
    "#{session_id}",
    "#{session_name}",
    "#{window_id}",
    "#{window_index}",
    "#{window_name}",
    "#{window_layout}",
    "#{window_active}",
    "#{window_zoomed_flag}",
    "#{automatic-rename}",
    "#{window_width}",
    "#{window_height}",
)
_PANE_FIELDS = (
    "P",
    "#{window_id}",
    "#{pane_id}",
    "#{pane_index}",
    "#{pane_pid}",
    "#{pane_current_path}",
    "#{pane_title}",
    "#{pane_active}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_dead_signal}",
    "#{" + ARGV_OPTION + "}",
    "#{" + EXIT_OPTION + "}",
    "#{" + SHELL_OPTION + "}",
    "#{" + STATUS_OPTION + "}",
    "#{" + LINE_OPTION + "}",
    "#{" + START_OPTION + "}",
    "#{" + END_OPTION + "}",
    "#{" + CONVERSATION_OPTION + "}",
    "#{" + PIDS_OPTION + "}",
)
SNAPSHOT_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("list-windows", "-a", "-F", format_of(*_WINDOW_FIELDS)),
    ("list-panes", "-a", "-F", format_of(*_PANE_FIELDS)),
)


class Foreground(NamedTuple):
    """The foreground program of a pane's terminal."""

    pid: int
    argv: tuple[str, ...]
    stopped: bool
    jobs: bool
    """True iff the pane is at its shell and that shell has child processes (jobs, e.g. a
    program stopped with Ctrl-Z): the pane holds work that is not idle."""


def read_cmdline(pid: int) -> tuple[str, ...]:
    """The argv of ``pid`` from ``/proc``, split on NULs only.

    A program that rewrote its command line into one string is split on spaces, unless that
    string names an existing file (a one-word program whose path holds a space); psutil splits
    every such string, so it is not used here.
    """
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        data = f.read()
    parts = [p.decode("utf-8", "surrogateescape") for p in data.rstrip(b"\0").split(b"\0")]
    if len(parts) == 1 and " " in parts[0] and not os.path.exists(parts[0]):
        parts = parts[0].split()
    return tuple(p for p in parts if p) if parts != [""] else ()


def foreground_program(pane_pid: int) -> Foreground | None:
    """The foreground program of the terminal of ``pane_pid``, or None when unreadable.

    The process-group leader is the program a shell started (for a pipeline, its first
    command); when the leader has exited, the pane's own process is reported. A program started
    through :func:`~yesman_recovery.tmux.programs.launch_line` is reported as itself, not as the
    ``sh`` that runs it.
    """
    try:
        with open(f"/proc/{pane_pid}/stat", encoding="utf-8", errors="replace") as f:
            stat = f.read()
        tpgid = int(stat.rsplit(")", 1)[1].split()[5])
    except (OSError, ValueError, IndexError):
        tpgid = -1
    for pid in (tpgid, pane_pid) if tpgid > 0 else (pane_pid,):
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                argv = read_cmdline(pid)
                stopped = proc.status() == psutil.STATUS_STOPPED
            jobs = pid == pane_pid and bool(children(pid))
        except (OSError, psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if argv:
            launched = _launched(pid, argv)
            if launched is None and launched_program(argv) is not None and pid != pane_pid:
                continue  # its program has ended and it is about to: the pane is at its shell
            if launched is None:
                return Foreground(pid, argv, stopped, jobs)
            program_pid, program = launched
            with suppress(psutil.Error):
                stopped = psutil.Process(program_pid).status() == psutil.STATUS_STOPPED
            return Foreground(program_pid, program, stopped, jobs)
    return None


def _launched(pid: int, argv: tuple[str, ...]) -> tuple[int, tuple[str, ...]] | None:
    """(pid, argv) of the program a launcher runs; None when ``argv`` is no launcher or its
    program has ended (it then runs ``tmux set-option``, or nothing)."""
    program = launched_program(argv)
    if program is None:
        return None
    for child in children(pid):
        try:
            seen = read_cmdline(child)
        except OSError:
            continue
        # A child still showing the launcher's argv has forked but not yet run the program.
        if seen and seen != argv and os.path.basename(seen[0]) != "tmux":
            return child, program
    return None


def children(pid: int) -> list[int]:
    """The pids of ``pid``'s direct children (``/proc/PID/task/PID/children``: no scan of
    every process, as ``psutil.Process.children`` does)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        try:
            return [c.pid for c in psutil.Process(pid).children()]
        except psutil.Error:
            return []
    except (OSError, ValueError):
        return []


def take_snapshot(
    client: ChainRunner,
    *,
    scrollback: Mapping[str, int] | None = None,
    agents: Agents = DEFAULT_AGENTS,
) -> ServerSnapshot:
    """Observe every session on the client's server.

    ``scrollback`` maps a (stored) session name to the number of history lines to keep for each
    of its panes; those are captured in one more tmux process. Each pane running one of
    ``agents`` carries the conversation it is on (:func:`~yesman_recovery.agents.bind_panes`).
    Raises ``TmuxServerGone`` when no server runs, ``TmuxTimeout`` when it does not answer.
    """
    started = time.monotonic()
    taken_at = time.time()
    out = client.run_chain(SNAPSHOT_COMMANDS)
    server_pid, sessions = parse_snapshot(out, agents)
    if scrollback:
        sessions = _with_scrollback(client, sessions, scrollback)
    return ServerSnapshot(
        pid=server_pid,
        sessions=sessions,
        taken_at=taken_at,
        duration=time.monotonic() - started,
        socket=client.server_label,
    )


def parse_snapshot(
    output: str, agents: Agents = DEFAULT_AGENTS
) -> tuple[int | None, tuple[SessionSnapshot, ...]]:
    """Turn the output of :data:`SNAPSHOT_COMMANDS` into (server pid, sessions)."""
    windows: dict[str, list[str]] = {}
    panes: dict[str, list[PaneSnapshot]] = {}
    order: list[str] = []
    server_pid: int | None = None
    hooks: dict[str, tuple[str, str]] = {}
    for rec in parse_records(output):
        if rec[0] == "W" and len(rec) == len(_WINDOW_FIELDS):
            windows[rec[4]] = rec
            order.append(rec[4])
            server_pid = _int(rec[1])
        elif rec[0] == "P" and len(rec) == len(_PANE_FIELDS):
            panes.setdefault(rec[1], []).append(_pane(rec))
            hooks[rec[2]] = (rec[18], rec[19])
    panes = _with_agents(panes, hooks, agents)
    by_session: dict[str, list[WindowSnapshot]] = {}
    meta: dict[str, list[str]] = {}
    for wid in order:
        w = windows[wid]
        wpanes = sorted(panes.get(wid, []), key=lambda p: p.index)
        if not wpanes:
            continue
        meta.setdefault(w[2], w)
        by_session.setdefault(w[2], []).append(
            WindowSnapshot(
                index=int(w[5]),
                name=w[6],
                layout=w[7],
                active=w[8] == "1",
                zoomed=w[9] == "1",
                automatic_rename=w[10] == "1",
                window_id=wid,
                panes=tuple(wpanes),
            )
        )
    sessions = []
    for sid, wins in by_session.items():
        size = windows[next((w for w in wins if w.active), wins[0]).window_id]
        sessions.append(
            SessionSnapshot(
                name=meta[sid][3],
                session_id=sid,
                width=_int(size[11]),
                height=_int(size[12]),
                windows=tuple(sorted(wins, key=lambda w: w.index or 0)),
            )
        )
    return server_pid, tuple(sessions)


def _pane(rec: list[str]) -> PaneSnapshot:
    pid = _int(rec[4])
    dead = rec[8] == "1"
    program = None if dead or pid is None else foreground_program(pid)
    # A shell's report counts only when it comes from the pane's own process (not a nested
    # shell, not a stale report of the pane's previous process); its status only when valid
    # and no later command runs (start > end: see shell_snippets).
    reports = pid is not None and not dead and rec[13] == str(pid)
    start, end = _count(rec[16]), _count(rec[17])
    running = reports and start is not None and start > (end or 0)
    status = None if running else _status(rec[14])
    exit_status = status if reports else _int(rec[12])
    return PaneSnapshot(
        index=int(rec[3]),
        pane_id=rec[2],
        pid=pid,
        cwd=rec[5] or None,
        title=rec[6],
        active=rec[7] == "1",
        dead=dead,
        dead_status=_int(rec[9]) if dead else None,
        dead_signal=_int(rec[10]) if dead else None,
        argv=program.argv if program else None,
        program_pid=program.pid if program else None,
        stopped=program.stopped if program else False,
        jobs=program.jobs if program else False,
        command=_argv_option(rec[11]),
        exit_status=exit_status,
        shell_reports=reports,
        cmd_line=rec[15][:MAX_LINE] if reports and rec[15] else None,
    )


MAX_LINE = 4096
"""Characters of a reported command line kept (it only names the program that ran)."""


def _count(text: str) -> int | None:
    """A command count a shell reported: digits only; anything else is none."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _status(text: str) -> int | None:
    """An exit status a shell reported: digits only, 0 to 255; anything else is no status."""
    if not (text.isascii() and text.isdigit() and len(text) <= 3):
        return None
    value = int(text)
    return value if value <= 255 else None


def _with_agents(
    panes: dict[str, list[PaneSnapshot]],
    hooks: Mapping[str, tuple[str, str]],
    agents: Agents,
) -> dict[str, list[PaneSnapshot]]:
    """``panes`` with the conversation of each agent pane (one pass over the whole server, so
    no two panes of any session are bound to one conversation)."""
    candidates = [
        AgentPane(
            p.pane_id,
            p.argv,
            p.cwd,
            (p.program_pid, *children(p.program_pid)),
            hooks.get(p.pane_id, ("", ""))[0],
            parse_hook_pids(hooks.get(p.pane_id, ("", ""))[1]),
        )
        for ps in panes.values()
        for p in ps
        if p.argv and p.program_pid and agents.agent_for(p.argv) is not None
    ]
    if not candidates:
        return panes
    bound = bind_panes(candidates, agents)
    return {wid: [replace(p, agent=bound.get(p.pane_id)) for p in ps] for wid, ps in panes.items()}


def _argv_option(text: str) -> tuple[str, ...] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _with_scrollback(
    client: ChainRunner, sessions: tuple[SessionSnapshot, ...], lines: Mapping[str, int]
) -> tuple[SessionSnapshot, ...]:
    """``sessions`` with the history of each pane of the sessions in ``lines``, one tmux call.

    Each capture is preceded by a random marker line naming the capture by its position: the
    text ``display-message -p`` prints goes through strftime and format expansion, so neither a
    pane id (``%8``) nor anything else holding ``%`` or ``#`` may be in it. The captured text is
    data: ``%``, ``#{}`` and non-ASCII in a pane come back unchanged. Trailing blank lines (the
    unused rows of the screen) are dropped.
    """
    marker = "yr-scrollback-" + secrets.token_hex(8)
    commands: list[tuple[str, ...]] = []
    pane_ids: list[str] = []
    for s in sessions:
        if s.name in lines:
            for p in s.panes():
                commands.append(("display-message", "-p", f"{marker} {len(pane_ids)}"))
                commands.append(
                    ("capture-pane", "-p", "-J", "-S", f"-{lines[s.name]}", "-t", p.pane_id)
                )
                pane_ids.append(p.pane_id)
    if not commands:
        return sessions
    captured: dict[str, str] = {}
    for chunk in client.run_chain(commands).split(marker + " ")[1:]:
        number, _, text = chunk.partition("\n")
        with suppress(ValueError, IndexError):
            captured[pane_ids[int(number)]] = _trim(text)
    return tuple(_replace_scrollback(s, captured) for s in sessions)


def _trim(text: str) -> str:
    """``text`` without its trailing blank lines, ending in one newline (empty stays empty)."""
    lines = text.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines) + "\n" if lines else ""


def _replace_scrollback(s: SessionSnapshot, captured: Mapping[str, str]) -> SessionSnapshot:
    if not any(p.pane_id in captured for p in s.panes()):
        return s
    windows = tuple(
        replace(
            w,
            panes=tuple(
                replace(p, scrollback=captured[p.pane_id]) if p.pane_id in captured else p
                for p in w.panes
            ),
        )
        for w in s.windows
    )
    return replace(s, windows=windows)
