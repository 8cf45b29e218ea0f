"""Restore a session from a snapshot or spec, repair a damaged one, respawn a pane.

A restore is **one** chained tmux invocation: ``new-session -d`` at the saved size, each window
at its saved index with its name and every pane with ``-c cwd``, each window's layout string
applied once after its panes exist, the active pane, zoom and active window, and the programs.

How programs run: a program the :class:`ProgramPolicy` allows is the pane's own process
(``new-window … -- argv``), not a line typed into a shell, so it gets exactly that argv; the pane
gets ``remain-on-exit on``, so when the program exits the pane stays, dead, with
``#{pane_dead}`` and ``#{pane_dead_status}`` set (seen by ``take_snapshot``), and
:func:`respawn_pane` (``respawn-pane -k``) revives it. The argv started is kept in the pane option
``@yr_argv``, so a dead pane still tells which program it ran. A one-word argv runs as
``exec 'word'`` through tmux's ``default-shell``. Programs inherit the tmux server's environment
(plus the session's ``environment``), not a shell rc's.

Spec panes with ``shell_command`` lines get a shell and the lines are typed into it, as
``tmuxp load`` does; the last line is replaced by the policy's command when it is a simple,
allowlisted command (so Claude Code resumes). Such a program's exit shows as the pane being back
at its shell.

Targets inside the chain are ``=<name>:`` (the session's current window and active pane, which
``new-window``/``split-window`` move to what they create) with relative tokens (``{top-left}``,
``.+N``, ``^``), so they depend neither on which session tmux deems current nor on
``base-index``/``pane-base-index``; repairs of live sessions use session/window/pane ids.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux.client import TmuxClient, literal, unvis
from yesman_recovery.tmux.compare import compare, match_window
from yesman_recovery.tmux.layout import layout_problem
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot
from yesman_recovery.tmux.snapshot import ARGV_OPTION, take_snapshot

log = logging.getLogger(__name__)

Command = tuple[str, ...]


@dataclass(frozen=True)
class PlannedProgram:
    """A program a plan starts: window and pane positions (0-based) and its argv."""

    window: int
    pane: int
    argv: tuple[str, ...]


@dataclass(frozen=True)
class PaneStart:
    """What to do in a pane a repair creates, once its id is known (second invocation)."""

    cwd: str
    argv: tuple[str, ...] | None
    typed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestorePlan:
    """tmux commands that build (or repair) a session.

    ``commands`` run as one invocation. A repair also has ``pane_starts``: one per pane it
    creates, in the order the first invocation prints their ids, then ``finish`` (layouts);
    those run as a second invocation.
    """

    session_name: str
    commands: tuple[Command, ...]
    programs: tuple[PlannedProgram, ...] = ()
    pane_starts: tuple[PaneStart, ...] = ()
    finish: tuple[Command, ...] = ()


@dataclass(frozen=True)
class RestoreResult:
    """Outcome of :func:`restore_session`: ``ok`` iff structure and programs match."""

    ok: bool
    differences: list[str]
    duration: float
    session: SessionSnapshot | None = field(default=None, compare=False)


def pane_shell_command(argv: Sequence[str]) -> list[str]:
    """The trailing arguments of ``new-window``/``split-window``/``respawn-pane`` for ``argv``.

    tmux executes two or more arguments directly (no shell); a single one would be parsed by the
    shell, so it is quoted and ``exec``'d.
    """
    if len(argv) >= 2:
        return ["--", *argv]
    return ["--", "exec " + shlex.quote(argv[0])]


def _cwd(pane: PaneSnapshot) -> str:
    return pane.cwd or os.path.expanduser("~")


def _program_options(target: Sequence[str], argv: Sequence[str], dead_kept: bool) -> list[Command]:
    cmds: list[Command] = []
    if dead_kept:
        cmds.append(("set-option", "-p", *target, "remain-on-exit", "on"))
    cmds.append(("set-option", "-p", *target, ARGV_OPTION, json.dumps(list(argv))))
    return cmds


def _typed(pane: PaneSnapshot, argv: Sequence[str] | None) -> list[str]:
    lines = list(pane.shell_commands)
    if lines and argv is not None:
        lines[-1] = shlex.join(argv)
    return lines


def _type_lines(target: Sequence[str], lines: Sequence[str]) -> list[Command]:
    cmds: list[Command] = []
    for line in lines:
        cmds.append(("send-keys", *target, "-l", "--", line))
        cmds.append(("send-keys", *target, "Enter"))
    return cmds


def _pane_commands(
    create: Command, pane: PaneSnapshot, policy: ProgramPolicy, target: Command
) -> tuple[list[Command], tuple[str, ...] | None]:
    """Commands creating one pane (``create`` has no program yet) and the program it runs;
    ``target`` (``-t =S:``) names the new pane once it exists."""
    argv = policy.command_for(pane)
    if pane.shell_commands:
        cmds = [create, *_type_lines(target, _typed(pane, argv))]
        if pane.command is not None:
            cmds += _program_options(target, argv or pane.command, dead_kept=False)
        return cmds, None
    if argv is None:
        return [create], None
    return [
        (*create, *pane_shell_command(argv)),
        *_program_options(target, argv, dead_kept=True),
    ], tuple(argv)


def plan_restore(session: SessionSnapshot, policy: ProgramPolicy) -> RestorePlan:
    """Plan the one tmux invocation that rebuilds ``session`` on a server that lacks it.

    Every command targets ``=<name>:`` (the session's current window and its active pane):
    ``new-window`` and ``split-window`` make what they create current, so no command depends
    on tmux's idea of the "current" session, nor on ``base-index``/``pane-base-index``.
    """
    if session.is_empty:
        raise ValueError(
            f"session {session.name!r} has no pane: an empty snapshot cannot be restored"
        )
    here = f"={session.name}:"
    at: Command = ("-t", here)
    cmds: list[Command] = []
    programs: list[PlannedProgram] = []
    windows = [w for w in session.windows if w.panes]
    for wpos, window in enumerate(windows):
        first = window.panes[0]
        name = () if window.automatic_rename else ("-n", literal(window.name))
        if wpos == 0:
            create: Command = ("new-session", "-d", "-s", literal(unvis(session.name)))
            if session.width and session.height:
                create += ("-x", str(session.width), "-y", str(session.height))
            for key, value in session.environment:
                create += ("-e", f"{key}={value}")
            create += (*name, "-c", literal(_cwd(first)))
        else:
            where = here if window.index is None else f"{here}{window.index}"
            create = ("new-window", "-t", where, *name, "-c", literal(_cwd(first)))
        first_cmds, argv = _pane_commands(create, first, policy, at)
        cmds += first_cmds[:1]
        if wpos == 0 and window.index is not None:
            # via a spare index: moving a window onto its own index is an error
            spare = f"{here}{window.index + 100_000}"
            cmds.append(("move-window", "-s", here, "-t", spare))
            cmds.append(("move-window", "-s", spare, "-t", f"{here}{window.index}"))
        cmds += first_cmds[1:]
        if argv:
            programs.append(PlannedProgram(wpos, 0, argv))
        for ppos, pane in enumerate(window.panes[1:], start=1):
            split = ("split-window", *at, "-c", literal(_cwd(pane)))
            pane_cmds, argv = _pane_commands(split, pane, policy, at)
            cmds += pane_cmds
            if argv:
                programs.append(PlannedProgram(wpos, ppos, argv))
            if len(window.panes) > 2:
                cmds.append(("select-layout", *at, "tiled"))  # room for the next split
        cmds += _layout_commands(at, window.layout, len(window.panes))
        active = next((i for i, p in enumerate(window.panes) if p.active), 0)
        cmds.append(("select-pane", "-t", here + ".{top-left}"))
        if active:
            cmds.append(("select-pane", "-t", f"{here}.+{active}"))
        if window.zoomed and len(window.panes) > 1:
            cmds.append(("resize-pane", *at, "-Z"))
    active_w = next((w for w in windows if w.active), windows[0])
    if active_w.index is not None:
        cmds.append(("select-window", "-t", f"{here}{active_w.index}"))
    else:
        cmds.append(("select-window", "-t", here + "^"))
        if windows.index(active_w):
            cmds.append(("select-window", "-t", f"{here}+{windows.index(active_w)}"))
    return RestorePlan(session.name, tuple(cmds), tuple(programs))


def plan_repair(
    expected: SessionSnapshot, actual: SessionSnapshot, policy: ProgramPolicy
) -> RestorePlan:
    """Plan the creation of the windows and panes ``actual`` lacks; nothing existing is touched.

    Windows are matched by :func:`match_window`; a missing window goes
    to its expected index when free, else after the last window. A window with fewer panes gets
    the missing ones after its last pane, then the expected layout. Panes are never removed.
    """
    sid = actual.session_id or f"={actual.name}"
    used = {w.index for w in actual.windows}
    cmds: list[Command] = []
    starts: list[PaneStart] = []
    finish: list[Command] = []
    for position, window in enumerate(expected.windows):
        found = match_window(window, position, actual)
        if found is None:
            index = (
                window.index
                if window.index is not None and window.index not in used
                else (max((i for i in used if i is not None), default=-1) + 1)
            )
            used.add(index)
            target = f"{sid}:{index}"
            name = () if window.automatic_rename else ("-n", literal(window.name))
            cmds.append(
                (
                    "new-window",
                    "-d",
                    "-P",
                    "-F",
                    "#{pane_id}",
                    "-t",
                    target,
                    *name,
                    "-c",
                    literal(_cwd(window.panes[0])),
                )
            )
            starts.append(_start(window.panes[0], policy))
            split_from, missing = f"{target}.{{top-left}}", window.panes[1:]
        elif len(found.panes) < len(window.panes):
            target = found.window_id
            split_from, missing = found.panes[-1].pane_id, window.panes[len(found.panes) :]
        else:
            continue
        new_starts = []
        for pane in reversed(missing):  # each split lands right after `split_from`
            cmds.append(
                (
                    "split-window",
                    "-d",
                    "-P",
                    "-F",
                    "#{pane_id}",
                    "-t",
                    split_from,
                    "-c",
                    literal(_cwd(pane)),
                )
            )
            cmds.append(("select-layout", "-t", target, "tiled"))
            new_starts.append(_start(pane, policy))
        starts += new_starts
        finish += _layout_commands(("-t", target), window.layout, len(window.panes))
    return RestorePlan(actual.name, tuple(cmds), (), tuple(starts), tuple(finish))


def _layout_commands(at: Command, layout: str | None, panes: int) -> list[Command]:
    """``select-layout`` of ``layout`` if it may be sent to tmux for a window of ``panes``.

    Checked again here, whatever built the snapshot: tmux 3.3a exits on some bad layouts.
    """
    if not layout:
        return []
    problem = layout_problem(layout, panes)
    if problem is not None:
        log.warning("layout not applied: %s", problem)
        return []
    return [("select-layout", *at, layout)]


def _start(pane: PaneSnapshot, policy: ProgramPolicy) -> PaneStart:
    argv = policy.command_for(pane)
    if pane.shell_commands:
        return PaneStart(_cwd(pane), None, tuple(_typed(pane, argv)))
    return PaneStart(_cwd(pane), None if argv is None else tuple(argv))


def execute_plan(client: TmuxClient, plan: RestorePlan) -> None:
    """Run a plan: one tmux invocation, two for a repair that creates panes.

    Raises ``TmuxError`` (tmux refused a command; what ran before it stays), ``TmuxTimeout``
    or ``TmuxServerGone``.
    """
    out = client.run_chain(plan.commands)
    if not plan.pane_starts and not plan.finish:
        return
    ids = [line.strip() for line in out.splitlines() if line.strip().startswith("%")]
    if len(ids) != len(plan.pane_starts):
        raise TmuxError(
            f"repair of session {plan.session_name!r} created {len(ids)} panes, "
            f"expected {len(plan.pane_starts)}"
        )
    second: list[Command] = []
    for pane_id, start in zip(ids, plan.pane_starts, strict=True):
        if start.argv is not None:
            second += _respawn_commands(pane_id, start.argv, start.cwd)
        second += _type_lines(("-t", pane_id), start.typed)
    client.run_chain([*second, *plan.finish])


def _respawn_commands(pane_id: str, argv: Sequence[str], cwd: str) -> list[Command]:
    return [
        *_program_options(("-t", pane_id), argv, dead_kept=True),
        ("respawn-pane", "-k", "-t", pane_id, "-c", literal(cwd), *pane_shell_command(argv)),
    ]


def respawn_pane(client: TmuxClient, pane_id: str, argv: Sequence[str], cwd: str) -> None:
    """Restart ``argv`` in pane ``pane_id`` (``%12``), killing what runs there, in one call.

    The pane keeps ``remain-on-exit on`` and records the argv in ``@yr_argv``.
    """
    if not argv:
        raise ValueError(f"`argv` must name a program to run in pane {pane_id}, got {argv!r}")
    client.run_chain(_respawn_commands(pane_id, argv, cwd))


def program_matches(observed: Sequence[str] | None, started: Sequence[str]) -> bool:
    """True iff ``observed`` is the process of ``started`` (an interpreter may prefix it)."""
    if not observed:
        return False
    tail = list(started[1:])
    if tail and list(observed[-len(tail) :]) != tail:
        return False
    want = os.path.basename(started[0].split()[-1].strip("'"))
    return any(os.path.basename(arg) == want for arg in observed)


def restore_session(
    client: TmuxClient,
    session: SessionSnapshot,
    policy: ProgramPolicy,
    *,
    settle: float = 2.0,
) -> RestoreResult:
    """Restore ``session``, observe it again and compare.

    ``ok`` only when the structure matches (:func:`compare`) and every started program runs;
    observation is retried for up to ``settle`` seconds while programs start. tmux errors
    propagate (a session of that name already existing is a ``TmuxError``).
    """
    started = time.monotonic()
    plan = plan_restore(session, policy)
    execute_plan(client, plan)
    actual, diffs = observe_until(
        client, session.name, lambda seen: _differences(session, seen, plan), settle
    )
    ok = not diffs
    log.info("restored session %r: ok=%s %s", session.name, ok, diffs)
    return RestoreResult(ok, diffs, time.monotonic() - started, actual)


def observe_until(
    client: TmuxClient,
    name: str,
    problems: Callable[[SessionSnapshot | None], list[str]],
    settle: float,
) -> tuple[SessionSnapshot | None, list[str]]:
    """Observe session ``name`` until ``problems`` finds none, for at most ``settle`` seconds.

    Programs take a moment to start after a restore or a respawn; returns the last observation
    and what was still wrong with it (empty: validated).
    """
    deadline = time.monotonic() + settle
    while True:
        actual = take_snapshot(client).session(name)
        found = problems(actual)
        if not found or time.monotonic() >= deadline:
            return actual, found
        time.sleep(0.02)


def _differences(
    expected: SessionSnapshot, actual: SessionSnapshot | None, plan: RestorePlan
) -> list[str]:
    if actual is None:
        return [f"session {expected.name!r} is missing after the restore"]
    diffs = compare(expected, actual)
    if diffs:
        return diffs
    windows = actual.windows
    for prog in plan.programs:
        pane = windows[prog.window].panes[prog.pane]
        if pane.dead:
            diffs.append(
                f"window {windows[prog.window].index} pane {prog.pane}: {prog.argv[0]!r} "
                f"exited with status {pane.dead_status}"
            )
        elif not program_matches(pane.argv, prog.argv):
            diffs.append(
                f"window {windows[prog.window].index} pane {prog.pane}: runs {pane.argv!r} "
                f"instead of {list(prog.argv)!r}"
            )
    return diffs
