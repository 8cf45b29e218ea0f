"""Run plans, respawn a pane, and restore a session validated by observing it again.

The plans themselves (what a restore or repair sends to tmux, how programs run in panes) are in
:mod:`yesman_recovery.tmux.plan`; their names are importable from here too. Everything here
talks to tmux through :class:`~yesman_recovery.tmux.protocol.Tmux` and measures time on an
injected clock.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from yesman_recovery.clock import SYSTEM_CLOCK, Clock
from yesman_recovery.errors import TmuxError
from yesman_recovery.tmux.client import literal
from yesman_recovery.tmux.compare import compare
from yesman_recovery.tmux.plan import (
    LOGIN_SHELL,
    Command,
    PaneInput,
    PaneStart,
    PlannedProgram,
    RestorePlan,
    chunk_commands,
    deferred_input,
    launch_commands,
    plan_repair,
    plan_restore,
    program_options,
    start_commands,
)
from yesman_recovery.tmux.policy import DEFAULT_SHELLS, ProgramPolicy
from yesman_recovery.tmux.programs import launched_program, program_name
from yesman_recovery.tmux.prompt import READY_WAIT, starting, type_when_ready, usable_shell_dir
from yesman_recovery.tmux.protocol import Batching, ChainRunner, Tmux
from yesman_recovery.tmux.records import SessionSnapshot
from yesman_recovery.tmux.shell_integration import pane_command

__all__ = [
    "Command",
    "PaneStart",
    "PlannedProgram",
    "RestorePlan",
    "RestoreResult",
    "execute_plan",
    "hold_pane",
    "observe_until",
    "plan_repair",
    "plan_restore",
    "program_matches",
    "respawn_pane",
    "restore_session",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    """Outcome of :func:`restore_session`: ``ok`` iff structure and programs match."""

    ok: bool
    differences: list[str]
    duration: float
    session: SessionSnapshot | None = field(default=None, compare=False)


def execute_plan(client: ChainRunner, plan: RestorePlan) -> dict[str, PaneInput]:
    """Run a plan: one tmux invocation, two for a repair that creates panes (each split into
    as few calls as tmux's message size allows, :func:`~.plan.chunk_commands`).

    Returns what an integrated repair still has to type, by new pane id (for
    :func:`~yesman_recovery.tmux.prompt.type_when_ready`). Raises ``TmuxError`` (tmux refused a
    command; what ran before it stays), ``TmuxTimeout`` or ``TmuxServerGone``. A plan's
    scrollback files are written first (mode 0600); those of panes that never started are
    removed when the plan fails.
    """
    for path, text in plan.replays:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
    try:
        if isinstance(client, Batching) and not plan.pane_starts and not plan.finish:
            # Restores of many sessions at once share tmux calls (no output to read).
            client.run_together(plan.commands)
            return {}
        # A session too big for one tmux message goes in as few calls as fit (in order).
        out = "".join(client.run_chain(chunk) for chunk in chunk_commands(plan.commands))
    except BaseException:
        for path, _ in plan.replays:
            with suppress(OSError):
                os.unlink(path)
        raise
    if not plan.pane_starts and not plan.finish:
        return {}
    ids = [line.strip() for line in out.splitlines() if line.strip().startswith("%")]
    if len(ids) != len(plan.pane_starts):
        raise TmuxError(
            f"repair of session {plan.session_name!r} created {len(ids)} panes, "
            f"expected {len(plan.pane_starts)}"
        )
    second: list[Command] = []
    later: dict[str, PaneInput] = {}
    for pane_id, start in zip(ids, plan.pane_starts, strict=True):
        if not plan.integrated:
            second += start_commands(("-t", pane_id), start)
            continue
        now, typed = deferred_input(("-t", pane_id), start)
        second += now
        if typed is not None:
            later[pane_id] = typed
    for chunk in chunk_commands([*second, *plan.finish]):
        client.run_chain(chunk)
    return later


def respawn_pane(
    client: Tmux,
    pane_id: str,
    argv: Sequence[str],
    cwd: str,
    *,
    dead: bool = False,
    shell_dir: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Start ``argv`` again in pane ``pane_id`` (``%12``).

    A dead pane is first given a fresh login shell in ``cwd`` (``respawn-pane -k``, which kills
    nothing: the pane's process is gone): integrated with ``shell_dir``, else
    :data:`LOGIN_SHELL`. A live pane must be at an idle prompt — the caller checks — and the
    program is typed there, in the shell's own directory. With ``shell_dir`` the program is
    typed once the shell is at its prompt, as plain text at an integrated shell, else through
    the launcher (:func:`~yesman_recovery.tmux.prompt.type_when_ready`); without, through the
    launcher at once, in the same call.
    """
    if not argv:
        raise ValueError(f"`argv` must name a program to run in pane {pane_id}, got {argv!r}")
    target = ("-t", pane_id)
    cmds: list[Command] = []
    shell_dir = usable_shell_dir(client, shell_dir)
    if dead:
        home = literal(cwd or os.path.expanduser("~"))
        shell = (LOGIN_SHELL,) if shell_dir is None else pane_command(shell_dir)
        cmds.append(("respawn-pane", "-k", *target, "-c", home, "--", *shell))
    # Only once the pane lives again: turning remain-on-exit off closes a dead pane at once.
    cmds.append(("set-option", "-p", "-u", *target, "remain-on-exit"))
    if shell_dir is None:
        client.run_chain([*cmds, *launch_commands(target, argv)])
        return
    client.run_chain([*cmds, *program_options(target, argv)])
    typed = PaneInput(0, 0, argv=tuple(argv))
    type_when_ready(client, {pane_id: typed}, clock=clock, sleep=sleep)


def hold_pane(client: ChainRunner, pane_id: str) -> None:
    """Keep pane ``pane_id`` open if its process exits (before a frozen program is killed)."""
    client.run_chain([("set-option", "-p", "-t", pane_id, "remain-on-exit", "on")])


def program_matches(observed: Sequence[str] | None, started: Sequence[str]) -> bool:
    """True iff ``observed`` is the process of ``started`` (an interpreter may prefix it).

    The launcher that runs it (before the program starts, or after it ended) is not it.
    """
    if not observed or launched_program(observed) is not None:
        return False
    tail = list(started[1:])
    if tail and list(observed[-len(tail) :]) != tail:
        return False
    want = os.path.basename(started[0].split()[-1].strip("'"))
    return any(os.path.basename(arg) == want for arg in observed)


def restore_session(
    client: Tmux,
    session: SessionSnapshot,
    policy: ProgramPolicy,
    *,
    settle: float = 2.0,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], None] = time.sleep,
    shell_dir: str | None = None,
) -> RestoreResult:
    """Restore ``session``, observe it again and compare.

    ``ok`` only when the structure matches (:func:`compare`) and every started program runs,
    still :data:`PROGRAM_HOLD` seconds after it was first seen; observation is retried for up
    to ``settle`` seconds (on ``clock``, pausing with ``sleep``) after the programs were typed.
    With ``shell_dir`` the panes start the integrated shell and each program is typed once its
    shell is at its prompt (up to :data:`~yesman_recovery.tmux.prompt.READY_WAIT` seconds).
    A pane whose shell may still be reading its rc files is waited for up to :data:`PATIENCE`
    seconds before the restore is judged: a slow login is not a failed start (the program
    would else be typed a second time). tmux errors propagate (a session of that name already
    existing is a ``TmuxError``).
    """
    started = clock.monotonic()
    replay_dir = (
        tempfile.mkdtemp(prefix="yr-scrollback-")
        if any(p.scrollback for p in session.panes())
        else None
    )
    try:
        shell_dir = usable_shell_dir(client, shell_dir)
        plan = plan_restore(session, policy, replay_dir=replay_dir, shell_dir=shell_dir)
        execute_plan(client, plan)
        logger.debug("session %r: plan ran %.3f s after the restore began", session.name,
                     clock.monotonic() - started)  # fmt: skip
        if plan.inputs:
            type_when_ready(client, _by_pane_id(client, plan), clock=clock, sleep=sleep)
        actual, diffs = observe_until(
            client,
            session.name,
            lambda seen: _differences(session, seen, plan),
            settle,
            clock=clock,
            sleep=sleep,
            hold=PROGRAM_HOLD if plan.programs else 0.0,
            patience=PATIENCE,
            waiting=lambda seen: _still_starting(seen, plan),
        )
    finally:
        if replay_dir is not None:
            # Each pane removes its file once shown; what is left was never shown.
            _remove_later(replay_dir, REPLAY_KEEP)
    ok = not diffs
    logger.info("restored session %r: ok=%s %s", session.name, ok, diffs)
    return RestoreResult(ok, diffs, clock.monotonic() - started, actual)


PATIENCE = READY_WAIT
"""Seconds a restore waits, at most, for a pane still at its starting shell (see
:func:`restore_session`)."""


def _by_pane_id(client: Tmux, plan: RestorePlan) -> dict[str, PaneInput]:
    """The plan's inputs by the pane ids the restored session has now."""
    session = client.snapshot().session(plan.session_name)
    if session is None:
        return {}
    found: dict[str, PaneInput] = {}
    for typed in plan.inputs:
        with suppress(IndexError):
            found[session.windows[typed.window].panes[typed.pane].pane_id] = typed
    return found


def _still_starting(actual: SessionSnapshot | None, plan: RestorePlan) -> bool:
    """True iff a pane of a planned program shows no verdict yet: its shell is still starting,
    or it sits at its shell with no ending recorded (the typed line not read yet)."""
    if actual is None:
        return False
    for prog in plan.programs:
        with suppress(IndexError):
            pane = actual.windows[prog.window].panes[prog.pane]
            if pane.dead or pane.exit_status is not None:
                continue
            at_shell = program_name(pane.argv or ()) in DEFAULT_SHELLS and not pane.jobs
            if starting(pane) or at_shell:
                return True
    return False


REPLAY_KEEP = 30.0
"""Seconds a restore's unread scrollback files are kept for panes that start late."""


def _remove_later(path: str, after: float) -> None:
    """Remove the directory ``path`` now if empty, else ``after`` seconds from now (a pane may
    still be about to read its file)."""
    with suppress(OSError):
        os.rmdir(path)
        return
    timer = threading.Timer(after, shutil.rmtree, (path,), {"ignore_errors": True})
    timer.daemon = True
    timer.start()


OBSERVE_PAUSE = 0.02
"""Seconds between two looks while a restored or respawned session settles."""


SETTLE_GROWTH = 4.0
"""How far :func:`observe_until` stretches its ``settle`` while each look finds fewer problems."""


PROGRAM_HOLD = 0.3
"""Seconds a started program must still run, after it was first seen, to count as started: one
that ends at once (a port in use, a missing variable) is a failed start, not a validated one."""


def observe_until(
    client: Tmux,
    name: str,
    problems: Callable[[SessionSnapshot | None], list[str]],
    settle: float,
    *,
    clock: Clock = SYSTEM_CLOCK,
    sleep: Callable[[float], None] = time.sleep,
    hold: float = 0.0,
    patience: float = 0.0,
    waiting: Callable[[SessionSnapshot | None], bool] | None = None,
) -> tuple[SessionSnapshot | None, list[str]]:
    """Observe session ``name`` until ``problems`` finds none, for at most ``settle`` seconds.

    Programs take a moment to start after a restore or a respawn; returns the last observation
    and what was still wrong with it (empty: validated). While looks keep finding fewer
    problems than before, the deadline moves on (up to :data:`SETTLE_GROWTH` times
    ``settle``). With ``hold``, a first look without problems is confirmed by another ``hold``
    seconds later (the deadline is then at least that far). With ``waiting``, a look with
    problems past the deadline is not final while ``waiting(look)`` holds, up to ``patience``
    seconds in all. Time is ``clock``'s; between looks it calls ``sleep`` (a test's may advance
    a manual clock).
    """
    begun = clock.monotonic()
    deadline = begun + settle
    clean_at: float | None = None
    fewest: int | None = None
    while True:
        actual = client.snapshot().session(name)
        found = problems(actual)
        now = clock.monotonic()
        if found and (fewest is None or len(found) < fewest):
            # Still coming up (many sessions restored at once share the server and the
            # cores): each look with fewer problems than all before earns another `settle`,
            # up to SETTLE_GROWTH times the first.
            if fewest is not None:
                deadline = min(max(deadline, now + settle), begun + SETTLE_GROWTH * settle)
            fewest = len(found)
        if found:
            clean_at = None
        elif hold <= 0 or (clean_at is not None and now - clean_at >= hold):
            return actual, found
        elif clean_at is None:
            clean_at = now
            deadline = max(deadline, now + hold)
        final = waiting is None or now >= begun + patience or not waiting(actual)
        if found and now >= deadline and final:
            return actual, found
        # While a clean look waits for its confirmation, one more look at the end of the hold.
        sleep(OBSERVE_PAUSE if clean_at is None else max(OBSERVE_PAUSE, clean_at + hold - now))


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
