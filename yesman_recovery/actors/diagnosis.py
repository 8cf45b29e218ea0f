"""What is wrong with one tmux session: the four failure kinds, decided by pure functions.

The :class:`~yesman_recovery.actors.session.SessionActor` calls :func:`diagnose` with what it
expects and what the watcher observed; it gets back at most one :class:`Diagnosis` per problem,
each naming its kind, the panes involved and the action to take. No tmux, no threads.

- ``crashed``: the session is not on the server (or there is no server).
- ``frozen``: the server does not answer (decided by the watcher), or a pane's program has been
  stopped (state ``T``) for longer than the grace period → SIGCONT first, respawn if that did not
  help by the next grace period.
- ``corrupted``: a declared session lacks windows or panes its spec has → recreate what is
  missing (a window is matched by name, so the user's own windows are never touched).
- ``disconnected``: a pane that should run a program (one the allowlist restarts, as expected
  from the newest good checkpoint or the spec) is dead or back at its shell → respawn it.

Panes are matched between expected and observed state by (window index, pane position).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from yesman_recovery.tmux.policy import ProgramPolicy, program_name
from yesman_recovery.tmux.records import PaneSnapshot, SessionSnapshot

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


@dataclass(frozen=True)
class Diagnosis:
    kind: FailureKind
    detail: str
    panes: tuple[PaneAction, ...] = ()
    resume: bool = False
    """For ``frozen`` panes: True = send SIGCONT (first step), False = respawn (second step)."""


def pane_map(session: SessionSnapshot) -> dict[PaneKey, PaneSnapshot]:
    """Every pane of ``session`` by (window index, position)."""
    return {
        (w.index if w.index is not None else wpos, ppos): pane
        for wpos, w in enumerate(session.windows)
        for ppos, pane in enumerate(w.panes)
    }


def missing_structure(spec: SessionSnapshot, actual: SessionSnapshot) -> list[str]:
    """Windows (by name) and pane counts of ``spec`` that ``actual`` lacks; extras are fine."""
    by_name = {w.name: w for w in actual.windows}
    problems: list[str] = []
    for w in spec.windows:
        have = by_name.get(w.name)
        if have is None:
            problems.append(f"window {w.name!r} is missing")
        elif len(have.panes) < len(w.panes):
            problems.append(f"window {w.name!r} has {len(have.panes)} of {len(w.panes)} panes")
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
) -> list[Diagnosis]:
    """The problems of one session, most severe first; empty when it is healthy.

    ``stopped_for`` is how long each pane's program has been seen stopped; ``resumed_for`` how
    long ago the panes already sent SIGCONT for the current stop got it. A stopped program gets
    SIGCONT once its stop outlived ``frozen_grace``, and is respawned when it is still stopped
    ``frozen_grace`` after that.
    """
    if actual is None:
        return [Diagnosis(FailureKind.CRASHED, "the session is not on the tmux server")]
    found: list[Diagnosis] = []
    if spec is not None:
        missing = missing_structure(spec, actual)
        if missing:
            found.append(Diagnosis(FailureKind.CORRUPTED, "; ".join(missing)))
    observed = pane_map(actual)
    wanted = pane_map(expected) if expected is not None else {}
    if spec is not None:
        # The spec's programs count too where no checkpoint says otherwise.
        wanted = {**pane_map(spec), **wanted}
    disconnected: list[PaneAction] = []
    resume: list[PaneAction] = []
    respawn_frozen: list[PaneAction] = []
    for key, pane in observed.items():
        should = wanted.get(key)
        argv = _program(policy, should) if should is not None else None
        if argv is not None and _exited(policy, pane):
            disconnected.append(_action(key, pane, argv))
            continue
        if pane.stopped and stopped_for.get(key, 0.0) >= frozen_grace - GRACE_SLACK:
            own = _program(policy, pane) or argv
            action = _action(key, pane, own or ())
            if key not in resumed_for:
                resume.append(action)
            elif own and resumed_for[key] >= frozen_grace - GRACE_SLACK:
                respawn_frozen.append(action)
    if disconnected:
        found.append(
            Diagnosis(
                FailureKind.DISCONNECTED,
                ", ".join(f"{_where(a.key)} {program_name(a.argv)!r} exited" for a in disconnected),
                tuple(disconnected),
            )
        )
    if resume:
        found.append(
            Diagnosis(
                FailureKind.FROZEN,
                ", ".join(f"{_where(a.key)} stopped" for a in resume),
                tuple(resume),
                resume=True,
            )
        )
    if respawn_frozen:
        found.append(
            Diagnosis(
                FailureKind.FROZEN,
                ", ".join(f"{_where(a.key)} still stopped after SIGCONT" for a in respawn_frozen),
                tuple(respawn_frozen),
            )
        )
    return found


def _program(policy: ProgramPolicy, pane: PaneSnapshot) -> tuple[str, ...] | None:
    argv = policy.command_for(pane)
    return tuple(argv) if argv else None


def _exited(policy: ProgramPolicy, pane: PaneSnapshot) -> bool:
    return pane.dead or policy.is_shell(pane.argv)


def _action(key: PaneKey, pane: PaneSnapshot, argv: tuple[str, ...]) -> PaneAction:
    return PaneAction(key, pane.pane_id, argv, pane.cwd or "", pane.program_pid)


def _where(key: PaneKey) -> str:
    return f"window {key[0]} pane {key[1]}"
