"""Plans: the tmux commands that build a session from a snapshot or spec, or repair one.

A restore is **one** chained tmux invocation: ``new-session -d`` at the saved size, each window
at its saved index with its name and every pane with ``-c cwd``, each window's layout string
applied once after its panes exist, the active pane, zoom and active window, and the programs.

How programs run: as the user would have started them, typed at the prompt of the pane's own
login shell (tmux's ``default-shell``), so rc files, ``PATH`` and exported secrets apply, Ctrl-Z
is the shell's job control, and the user is back at that shell when the program ends. The typed
line is :func:`~yesman_recovery.tmux.programs.launch_line`: the exact argv (quoted), followed by
a record of its exit status in the pane option ``@yr_exit``, which tells a crash from the user's
own exit or Ctrl-C. The argv started is kept in the pane option ``@yr_argv``. A ``temporary``
program (a build, a deploy, any one-shot command) is never run again: after a crash its command
line is typed at the prompt without Enter.

Scrollback: a pane saved with its history (a session's ``scrollback`` lines) starts with a
command that prints that text from a private file (``cat``; the text is data, never evaluated),
removes the file and ``exec``s the login shell, as tmux-resurrect restores pane contents; the
files are written by :func:`~yesman_recovery.tmux.restore.execute_plan`, from
:attr:`RestorePlan.replays`, just before the plan runs.

Spec panes with ``shell_command`` lines get a shell and the lines are typed into it, as
``tmuxp load`` does; the last line is replaced by the policy's command when it is a simple
command the policy brings back (so Claude Code resumes).

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
import socket
from collections.abc import Sequence
from dataclasses import dataclass, replace

from yesman_recovery.tmux.client import escape_arg, literal, unvis
from yesman_recovery.tmux.compare import match_window
from yesman_recovery.tmux.layout import layout_problem
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.programs import EXIT_OPTION, launch_line
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot
from yesman_recovery.tmux.shell_integration import pane_command, replay_pane_command, typed_line
from yesman_recovery.tmux.shell_snippets import LINE_OPTION, STATUS_OPTION
from yesman_recovery.tmux.snapshot import ARGV_OPTION

logger = logging.getLogger(__name__)

Command = tuple[str, ...]


@dataclass(frozen=True)
class PlannedProgram:
    """A program a plan starts: window and pane positions (0-based) and its argv."""

    window: int
    pane: int
    argv: tuple[str, ...]


@dataclass(frozen=True)
class PaneInput:
    """What is typed in a pane whose shell is started integrated, once it is at its prompt.

    ``lines`` (a spec's ``shell_command`` lines) are typed as they are, each with Enter; then
    ``argv``, quoted for the pane's shell (:func:`input_commands`), with Enter unless ``enter``
    is off (a ``temporary`` program after a crash: left at the prompt for the user).
    ``window``/``pane`` are positions (0-based) in a restored session.
    """

    window: int
    pane: int
    lines: tuple[str, ...] = ()
    argv: tuple[str, ...] | None = None
    enter: bool = True


def input_commands(target: Sequence[str], typed: PaneInput, shell: str | None) -> list[Command]:
    """Commands that type ``typed`` in ``target``: at the prompt of an integrated ``shell``
    (``bash``, ``zsh``, ``fish``), the plain command; at any other shell (``shell`` None), a
    program through the launcher, which records its exit status itself."""
    cmds = type_lines(target, typed.lines)
    if typed.argv is None:
        return cmds
    if not typed.enter:
        line = typed_line(typed.argv, shell).lstrip() if shell else shlex.join(typed.argv)
        return [*cmds, *type_lines(target, [line], enter=False)]
    line = typed_line(typed.argv, shell) if shell else launch_line(typed.argv)
    return [*cmds, *type_lines(target, [line])]


@dataclass(frozen=True)
class PaneStart:
    """What to do in a pane a repair creates, once its id is known (second invocation).

    ``typed`` lines (a spec's ``shell_command``) are typed as they are, the last one being the
    launch line of ``argv`` when there is one; else ``argv`` is launched. Either way ``argv`` is
    recorded as the program the daemon started in that pane (``@yr_argv``).
    """

    cwd: str
    argv: tuple[str, ...] | None
    typed: tuple[str, ...] = ()
    title: str = ""  # a spec's pane title, set first


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
    replays: tuple[tuple[str, str], ...] = ()
    """(file, text) of each pane's saved scrollback, written before ``commands`` run."""
    inputs: tuple[PaneInput, ...] = ()
    """With the shell integration: what to type in each pane once its shell is at its prompt
    (by position); the commands then type nothing."""
    integrated: bool = False
    """A repair whose new panes start the integrated shell: ``pane_starts`` only set options
    in the second invocation; what they type is typed at the prompt (:func:`deferred_input`)."""


MESSAGE_LIMIT = 16364
"""Bytes of the arguments one tmux invocation may carry (each argument and its NUL, ``;``
separators included): tmux sends them in one message of at most 16,384 bytes, less its 16-byte
header and the 4-byte argument count. Measured with tmux 3.3a: 16,364 bytes pass, one more is
refused with ``command too long``."""


def chain_size(command: Sequence[str]) -> int:
    """Bytes ``command`` takes in a chain's message, with the ``;`` that separates it."""
    return sum(len(os.fsencode(escape_arg(a))) + 1 for a in command) + 2


def chunk_commands(commands: Sequence[Command], limit: int = MESSAGE_LIMIT) -> list[list[Command]]:
    """``commands`` in order, split into as few chains as fit in one tmux message each.

    A command too long on its own gets a chain of its own (tmux then refuses it, saying so).
    """
    chunks: list[list[Command]] = []
    size = limit + 1
    for command in commands:
        if not command:
            continue
        need = chain_size(command)
        if size + need > limit + 2:  # the first command of a chain has no separator
            chunks.append([])
            size = 0
        chunks[-1].append(command)
        size += need
    return chunks


LOGIN_SHELL = 'exec "${SHELL:-/bin/sh}" -l'
"""The login shell tmux gives new panes (``SHELL`` is tmux's ``default-shell`` in a pane), as a
pane command: what a dead pane is respawned with, and what follows a replayed scrollback."""


def replay_command(path: str) -> str:
    """The pane command that prints the text saved in ``path``, removes it, then runs the login
    shell: the text goes to the terminal as it is, nothing in it is run."""
    quoted = shlex.quote(path)
    return f"cat -- {quoted}; rm -f -- {quoted}; {LOGIN_SHELL}"


def _cwd(pane: PaneSnapshot) -> str:
    return pane.cwd or os.path.expanduser("~")


def program_options(target: Sequence[str], argv: Sequence[str]) -> list[Command]:
    """Record ``argv`` as the program started in ``target`` and forget how the last one ended
    (its exit status, and the command line its shell reported)."""
    return [
        ("set-option", "-p", *target, ARGV_OPTION, json.dumps(list(argv))),
        ("set-option", "-p", "-u", *target, EXIT_OPTION),
        ("set-option", "-p", "-u", *target, STATUS_OPTION),
        ("set-option", "-p", "-u", *target, LINE_OPTION),
    ]


def _typed(pane: PaneSnapshot, argv: Sequence[str] | None) -> list[str]:
    lines = list(pane.shell_commands)
    if lines and argv is not None:
        lines[-1] = launch_line(argv)
    return lines


def type_lines(target: Sequence[str], lines: Sequence[str], enter: bool = True) -> list[Command]:
    """``send-keys`` of each line (literally), each followed by Enter unless ``enter`` is off."""
    cmds: list[Command] = []
    for line in lines:
        cmds.append(("send-keys", *target, "-l", "--", line))
        if enter:
            cmds.append(("send-keys", *target, "Enter"))
    return cmds


def deferred_input(
    target: Sequence[str], start: PaneStart
) -> tuple[list[Command], PaneInput | None]:
    """For a pane a repair created with the integrated shell: the commands to run now (the
    program's options) and what to type at its prompt once it is there."""
    if start.argv is None:
        return [], (PaneInput(0, 0, lines=start.typed) if start.typed else None)
    lines = start.typed[:-1] if start.typed else ()
    return program_options(target, start.argv), PaneInput(0, 0, lines=lines, argv=start.argv)


def start_commands(target: Sequence[str], start: PaneStart) -> list[Command]:
    """Commands that do ``start`` in the pane ``target`` (see :class:`PaneStart`)."""
    if start.title:
        return [("select-pane", *target, "-T", literal(start.title)),
                *start_commands(target, replace(start, title=""))]  # fmt: skip
    if start.typed:
        options = [] if start.argv is None else program_options(target, start.argv)
        return [*options, *type_lines(target, start.typed)]
    return [] if start.argv is None else launch_commands(target, start.argv)


def launch_commands(target: Sequence[str], argv: Sequence[str]) -> list[Command]:
    """Commands that start ``argv`` at the prompt of the shell in ``target`` and record it."""
    return [*program_options(target, argv), *type_lines(target, [launch_line(argv)])]


def _deferred(
    create: Command, pane: PaneSnapshot, policy: ProgramPolicy, target: Command, at: PaneInput
) -> tuple[list[Command], tuple[str, ...] | None, PaneInput | None]:
    """:func:`_pane_commands` for an integrated shell: nothing is typed yet; what will be is
    the returned input (``at`` gives its position)."""
    argv = policy.command_for(pane)
    lines = pane.shell_commands
    if argv is not None:
        options = program_options(target, argv)
        typed = replace(at, lines=lines[:-1] if lines else (), argv=tuple(argv))
        return [create, *options], tuple(argv), typed
    leave = None if lines else policy.typed_for(pane)
    if leave is not None:
        return [create], None, replace(at, argv=tuple(leave), enter=False)
    return [create], None, (replace(at, lines=lines) if lines else None)


def _pane_commands(
    create: Command, pane: PaneSnapshot, policy: ProgramPolicy, target: Command
) -> tuple[list[Command], tuple[str, ...] | None]:
    """Commands creating one pane (``create`` has no program yet) and the program it runs;
    ``target`` (``-t =S:``) names the new pane once it exists."""
    cmds, argv = _pane_start(create, pane, policy, target)
    if pane.title and pane.title != socket.gethostname():  # not tmux's default title
        # a spec's (or a checkpoint's) pane title; -T names the pane, it does not select it
        cmds.insert(1, ("select-pane", *target, "-T", literal(pane.title)))
    return cmds, argv


def _pane_start(
    create: Command, pane: PaneSnapshot, policy: ProgramPolicy, target: Command
) -> tuple[list[Command], tuple[str, ...] | None]:
    argv = policy.command_for(pane)
    if pane.shell_commands:
        typed = type_lines(target, _typed(pane, argv))
        if argv is None:
            return [create, *typed], None
        return [create, *program_options(target, argv), *typed], tuple(argv)
    if argv is not None:
        return [create, *launch_commands(target, argv)], tuple(argv)
    leave = policy.typed_for(pane)
    if leave is not None:
        return [create, *type_lines(target, [shlex.join(leave)], enter=False)], None
    return [create], None


class _PaneCommands:
    """The commands creating each pane of a restore, and what is typed in it later (with the
    shell integration) or now (without)."""

    def __init__(self, policy: ProgramPolicy, at: Command, shell_dir: str | None) -> None:
        self.policy = policy
        self.at = at
        self.shell_dir = shell_dir
        self.inputs: list[PaneInput] = []
        self.programs: list[PlannedProgram] = []

    def __call__(self, create: Command, pane: PaneSnapshot, wpos: int, ppos: int) -> list[Command]:
        if self.shell_dir is None:
            cmds, argv = _pane_commands(create, pane, self.policy, self.at)
        else:
            position = PaneInput(wpos, ppos)
            cmds, argv, typed = _deferred(create, pane, self.policy, self.at, position)
            if typed is not None:
                self.inputs.append(typed)
        if argv:
            self.programs.append(PlannedProgram(wpos, ppos, argv))
        return cmds


class _Replays:
    """The pane commands that replay saved scrollback, and the files they read; with
    ``shell_dir``, every pane command starts the integrated shell."""

    def __init__(self, directory: str | None, shell_dir: str | None = None) -> None:
        self.directory = directory
        self.shell_dir = shell_dir
        self.files: list[tuple[str, str]] = []

    def __call__(self, wpos: int, ppos: int, pane: PaneSnapshot) -> Command:
        """The end of the command creating ``pane``: its pane command (replay, shell)."""
        path = None
        if self.directory is not None and pane.scrollback:
            path = os.path.join(self.directory, f"{wpos}.{ppos}")
            self.files.append((path, pane.scrollback))
        if self.shell_dir is not None:
            shell = self.shell_dir
            return (
                "--",
                *(pane_command(shell) if path is None else replay_pane_command(path, shell)),
            )
        return () if path is None else ("--", replay_command(path))


def plan_restore(
    session: SessionSnapshot,
    policy: ProgramPolicy,
    *,
    replay_dir: str | None = None,
    shell_dir: str | None = None,
) -> RestorePlan:
    """Plan the one tmux invocation that rebuilds ``session`` on a server that lacks it.

    With ``replay_dir`` (a private directory), each pane with saved scrollback shows it before
    its shell starts (files in that directory, see :attr:`RestorePlan.replays`). With
    ``shell_dir`` (:func:`~yesman_recovery.tmux.shell_integration.integration_dir`), every pane
    starts the user's shell integrated and nothing is typed yet: :attr:`RestorePlan.inputs`
    says what to type once each shell is at its prompt.

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
    replay = _Replays(replay_dir, shell_dir)
    pane_commands = _PaneCommands(policy, at, shell_dir)
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
        else:
            where = here if window.index is None else f"{here}{window.index}"
            create = ("new-window", "-t", where)
        create += (*name, "-c", literal(_cwd(first)), *replay(wpos, 0, first))
        first_cmds = pane_commands(create, first, wpos, 0)
        cmds += first_cmds[:1]
        if wpos == 0 and window.index is not None:
            # via a spare index: moving a window onto its own index is an error
            spare = f"{here}{window.index + 100_000}"
            cmds.append(("move-window", "-s", here, "-t", spare))
            cmds.append(("move-window", "-s", spare, "-t", f"{here}{window.index}"))
        cmds += first_cmds[1:]
        for ppos, pane in enumerate(window.panes[1:], start=1):
            split = ("split-window", *at, "-c", literal(_cwd(pane)), *replay(wpos, ppos, pane))
            cmds += pane_commands(split, pane, wpos, ppos)
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
    return RestorePlan(
        session.name,
        tuple(cmds),
        tuple(pane_commands.programs),
        replays=tuple(replay.files),
        inputs=tuple(pane_commands.inputs),
    )


def plan_repair(
    expected: SessionSnapshot,
    actual: SessionSnapshot,
    policy: ProgramPolicy,
    *,
    shell_dir: str | None = None,
) -> RestorePlan:
    """Plan the creation of the windows and panes ``actual`` lacks; nothing existing is touched.

    With ``shell_dir`` the new panes start the integrated shell and what they run is typed at
    its prompt (see :func:`plan_restore`): ``integrated`` is then set.

    Windows are matched by :func:`match_window`; a missing window goes
    to its expected index when free, else after the last window. A window with fewer panes gets
    the missing ones after its last pane, then the expected layout. Panes are never removed.
    """
    sid = actual.session_id or f"={actual.name}"
    shell: Command = () if shell_dir is None else ("--", *pane_command(shell_dir))
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
                    *shell,
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
                    *shell,
                )
            )
            cmds.append(("select-layout", "-t", target, "tiled"))
            new_starts.append(_start(pane, policy))
        starts += new_starts
        finish += _layout_commands(("-t", target), window.layout, len(window.panes))
    return RestorePlan(
        actual.name, tuple(cmds), (), tuple(starts), tuple(finish), integrated=bool(shell)
    )


def _layout_commands(at: Command, layout: str | None, panes: int) -> list[Command]:
    """``select-layout`` of ``layout`` if it may be sent to tmux for a window of ``panes``.

    Checked again here, whatever built the snapshot: tmux 3.3a exits on some bad layouts.
    """
    if not layout:
        return []
    problem = layout_problem(layout, panes)
    if problem is not None:
        logger.warning("layout not applied: %s", problem)
        return []
    return [("select-layout", *at, layout)]


def _start(pane: PaneSnapshot, policy: ProgramPolicy) -> PaneStart:
    argv = policy.command_for(pane)
    program = None if argv is None else tuple(argv)
    title = pane.title if pane.title != socket.gethostname() else ""
    if pane.shell_commands:
        return PaneStart(_cwd(pane), program, tuple(_typed(pane, argv)), title)
    return PaneStart(_cwd(pane), program, title=title)  # in a fresh shell
