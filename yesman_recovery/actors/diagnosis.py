"""What is wrong with one tmux session: the four failure kinds, decided by pure functions.

The :class:`~yesman_recovery.actors.session.SessionActor` calls :func:`diagnose` with what it
expects and what the watcher observed; it gets back at most one :class:`Diagnosis` per kind,
naming the panes involved and the action to take. No tmux, no threads.

- ``crashed``: the session is not on the server (or there is no server).
- ``frozen``: the server does not answer (decided by the watcher), or a pane's program has been
  stopped (state ``T``) for longer than the grace period → SIGCONT first, respawn if it is still
  stopped a grace period later.
- ``corrupted``: a declared session lacks windows or panes of its spec, or a restore left the
  session short of its checkpoint → recreate what is missing, as the newest checkpoint saw it
  (:func:`~yesman_recovery.actors.windows.declared_windows`: matched by window id while the
  server lives, so a renamed window is not missing; the user's own windows are never touched).
- ``disconnected``: a pane that should run a program no longer does — the pane is dead, or back
  at an idle shell — and the program's restart type brings it back after that ending
  (:func:`~yesman_recovery.tmux.programs.comes_back`): the user's own exit (status 0, Ctrl-C)
  never; a kill, a crash or a non-zero status for ``permanent`` and ``transient`` programs; an
  ending nobody recorded (a program the user started by hand at the prompt) only for
  ``permanent`` ones. A shell with jobs (a program stopped with Ctrl-Z, a background job) is the
  user's work and is left alone.

Which program a pane *should* run: the one the newest good checkpoint saw in that pane, else the
one its spec declares.

Matching panes between the checkpoint and the server: by pane id while the server that the
checkpoint saw still runs (a split or a closed pane then shifts nothing), by (window index, pane
position) after the server changed; spec panes by window (name, else position) and position.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from yesman_recovery.actors.windows import WindowIds, declared_windows
from yesman_recovery.tmux.compare import match_window
from yesman_recovery.tmux.policy import ProgramPolicy
from yesman_recovery.tmux.programs import Ending, ending_of, program_name
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot
from yesman_recovery.tmux.shell_integration import parse_line

PaneKey = tuple[int, int]
"""(window index, pane position within the window)."""
GRACE_SLACK = 0.05
"""Seconds early an observation may arrive and still count a grace period as over."""


class FailureKind(enum.StrEnum):
    CRASHED = "crashed"
    FROZEN = "frozen"
    CORRUPTED = "corrupted"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class PaneAction:
    """A pane to act on: where it is, its current id, and the program it should run."""

    key: PaneKey
    pane_id: str
    argv: tuple[str, ...]
    cwd: str
    program_pid: int | None = None
    dead: bool = False


@dataclass(frozen=True)
class Diagnosis:
    kind: FailureKind
    detail: str
    panes: tuple[PaneAction, ...] = ()
    resume: bool = False
    """For ``frozen`` panes: True = send SIGCONT (first step), False = respawn (second step)."""
    reference: SessionSnapshot | None = None
    """For ``corrupted``: what to recreate the missing windows and panes from."""


def pane_map(session: SessionSnapshot) -> dict[PaneKey, PaneSnapshot]:
    """Every pane of ``session`` by (window index, position)."""
    return {
        (w.index if w.index is not None else wpos, ppos): pane
        for wpos, w in enumerate(session.windows)
        for ppos, pane in enumerate(w.panes)
    }


def missing_structure(expected: SessionSnapshot, actual: SessionSnapshot) -> list[str]:
    """Windows and pane counts of ``expected`` that ``actual`` lacks; extras are fine."""
    problems: list[str] = []
    for position, w in enumerate(expected.windows):
        have = match_window(w, position, actual)
        label = repr(w.name) if w.name and not w.automatic_rename else f"#{position}"
        if have is None:
            problems.append(f"window {label} is missing")
        elif len(have.panes) < len(w.panes):
            problems.append(f"window {label} has {len(have.panes)} of {len(w.panes)} panes")
    return problems


def diagnose(
    *,
    expected: SessionSnapshot | None,
    spec: SessionSnapshot | None,
    actual: SessionSnapshot | None,
    policy: ProgramPolicy,
    stopped_for: Mapping[PaneKey, float],
    resumed_for: Mapping[PaneKey, float],
    frozen_grace: float,
    match_ids: bool = False,
    window_ids: WindowIds | None = None,
) -> list[Diagnosis]:
    """The problems of one session, most severe first; empty when it is healthy.

    ``stopped_for`` is how long each pane's program has been seen stopped; ``resumed_for`` how
    long ago the panes already sent SIGCONT for the current stop got it. ``match_ids`` says the
    pane ids of ``expected`` are valid on the observed server (see the module docstring);
    ``window_ids`` remembers the declared windows' ids on it (:mod:`.windows`).
    """
    if actual is None:
        return [Diagnosis(FailureKind.CRASHED, "the session is not on the tmux server")]
    found: list[Diagnosis] = []
    if spec is not None:
        reference = declared_windows(spec, expected, actual, match_ids=match_ids, known=window_ids)
        missing = missing_structure(reference, actual)
        if missing:
            found.append(Diagnosis(FailureKind.CORRUPTED, "; ".join(missing), reference=reference))
    wanted = _Expectations(expected, spec, actual, match_ids)
    disconnected: list[PaneAction] = []
    resume: list[PaneAction] = []
    respawn_frozen: list[PaneAction] = []
    for wpos, window in enumerate(actual.windows):
        for ppos, pane in enumerate(window.panes):
            key = (window.index if window.index is not None else wpos, ppos)
            should = wanted.pane(wpos, ppos, pane)
            ending = ending_in(policy, pane, policy.program_of(should)) if should else None
            argv = _program(policy, should, ending) if should and ending else None
            if argv is not None:
                disconnected.append(_action(key, pane, argv, should))
                continue
            if pane.stopped and stopped_for.get(key, 0.0) >= frozen_grace - GRACE_SLACK:
                own = _program(policy, pane, Ending.KILLED) or (
                    _program(policy, should, Ending.KILLED) if should is not None else None
                )
                action = _action(key, pane, own or (), should)
                if key not in resumed_for:
                    resume.append(action)
                elif own and resumed_for[key] >= frozen_grace - GRACE_SLACK:
                    respawn_frozen.append(action)
    if disconnected:
        where = ", ".join(f"{_where(a.key)} {program_name(a.argv)!r} exited" for a in disconnected)
        found.append(Diagnosis(FailureKind.DISCONNECTED, where, tuple(disconnected)))
    if resume:
        where = ", ".join(f"{_where(a.key)} stopped" for a in resume)
        found.append(Diagnosis(FailureKind.FROZEN, where, tuple(resume), resume=True))
    if respawn_frozen:
        where = ", ".join(f"{_where(a.key)} still stopped after SIGCONT" for a in respawn_frozen)
        found.append(Diagnosis(FailureKind.FROZEN, where, tuple(respawn_frozen)))
    return found


class _Expectations:
    """Which expected pane (checkpoint first, then spec) an observed pane stands for."""

    def __init__(
        self,
        expected: SessionSnapshot | None,
        spec: SessionSnapshot | None,
        actual: SessionSnapshot,
        match_ids: bool,
    ) -> None:
        self._by_id: dict[str, PaneSnapshot] = {}
        self._by_key: dict[PaneKey, PaneSnapshot] = {}
        if expected is not None:
            if match_ids:
                self._by_id = {p.pane_id: p for p in expected.panes() if p.pane_id}
            else:
                self._by_key = pane_map(expected)
        self._match_ids = match_ids and bool(self._by_id)
        # Spec panes by the observed window they match, then position.
        self._spec: dict[tuple[int, int], PaneSnapshot] = {}
        if spec is not None:
            for spos, sw in enumerate(spec.windows):
                window = match_window(sw, spos, actual)
                if window is not None:
                    wpos = actual.windows.index(window)
                    for ppos, pane in enumerate(sw.panes):
                        self._spec[(wpos, ppos)] = pane
        self._actual = actual

    def pane(self, wpos: int, ppos: int, pane: PaneSnapshot) -> PaneSnapshot | None:
        if self._match_ids:
            should = self._by_id.get(pane.pane_id)
        else:
            window = self._actual.windows[wpos]
            should = self._by_key.get((window.index if window.index is not None else wpos, ppos))
        return should if should is not None else self._spec.get((wpos, ppos))


def _program(policy: ProgramPolicy, pane: PaneSnapshot, ending: Ending) -> tuple[str, ...] | None:
    argv = policy.command_for(pane, ending)
    return tuple(argv) if argv else None


def ending_in(
    policy: ProgramPolicy, pane: PaneSnapshot, program: tuple[str, ...] | None = None
) -> Ending | None:
    """How the program of ``pane`` ended, or None while one runs or the pane holds the user's
    work (a shell with jobs: a program stopped with Ctrl-Z, a background job).

    When the pane's shell reports its commands (shell integration): a command it reports as
    running has not ended (it may not show in ``/proc`` yet); and when the last command it ran
    is not ``program`` (the one the pane should run), the user has used the prompt since:
    that is their own doing, ``EXITED``.
    """
    if pane.dead:
        return ending_of(pane.dead_status, pane.dead_signal)
    if not policy.is_shell(pane.argv) or pane.jobs:
        return None
    if pane.shell_reports and pane.cmd_line is not None:
        if pane.exit_status is None:
            return None
        ran = parse_line(pane.cmd_line)
        if program and (not ran or program_name(ran) != program_name(program)):
            return Ending.EXITED
    if pane.exit_status is not None:
        return ending_of(pane.exit_status, None)
    return Ending.UNKNOWN


def _action(
    key: PaneKey, pane: PaneSnapshot, argv: tuple[str, ...], should: PaneSnapshot | None
) -> PaneAction:
    cwd = pane.cwd or (should.cwd if should is not None else None) or ""
    return PaneAction(key, pane.pane_id, argv, cwd, pane.program_pid, pane.dead)


def _where(key: PaneKey) -> str:
    return f"window {key[0]} pane {key[1]}"
