"""The recoveries a session actor carries out through tmux: restore, repair, respawn.

Each runs through the :class:`~yesman_recovery.tmux.protocol.Tmux` of the actor's context and
validates its own result by observing again (bounded, on the context's clock): a restore must
match its source, a repair must leave nothing missing, a respawned program must be seen running
within :data:`SETTLE` seconds. The caller (the actor) counts, audits and decides; these only act.
"""

from __future__ import annotations

from contextlib import suppress

from yesman_recovery.actors.checkpointing import Checkpointing
from yesman_recovery.actors.context import SessionContext, SessionSettings
from yesman_recovery.actors.diagnosis import (
    Diagnosis,
    FailureKind,
    PaneAction,
    missing_structure,
    pane_map,
)
from yesman_recovery.actors.stops import StopTracker
from yesman_recovery.errors import RecoveryError
from yesman_recovery.labels import Action
from yesman_recovery.processes import SIGCONT, SIGKILL
from yesman_recovery.tmux.prompt import type_when_ready, usable_shell_dir
from yesman_recovery.tmux.records import PaneSnapshot, ServerSnapshot, SessionSnapshot
from yesman_recovery.tmux.restore import (
    PROGRAM_HOLD,
    execute_plan,
    hold_pane,
    observe_until,
    plan_repair,
    program_matches,
    respawn_pane,
    restore_session,
)

SETTLE = 2.0
"""Seconds a respawned program gets to show up before the respawn counts as failed."""

ACTIONS = {
    FailureKind.CRASHED: Action.RESTORE,
    FailureKind.CORRUPTED: Action.RECREATE_MISSING,
    FailureKind.DISCONNECTED: Action.RESPAWN,
    FailureKind.FROZEN: Action.RESPAWN,
}
"""The recovery of each failure kind (a stopped program's first step is ``sigcont``)."""


def snapshot_of(ctx: SessionContext, settings: SessionSettings) -> ServerSnapshot:
    """A fresh snapshot of the server, with this session's scrollback when it keeps some."""
    lines = settings.scrollback
    return ctx.client.snapshot(scrollback={settings.name: lines} if lines else None)


def create(
    ctx: SessionContext, settings: SessionSettings, spec: SessionSnapshot
) -> tuple[bool, str]:
    """Build a declared session that does not exist yet from its spec: (validated, why not)."""
    result = restore_session(
        ctx.client, spec, settings.policy, clock=ctx.clock, sleep=ctx.sleep, shell_dir=ctx.shell_dir
    )
    return result.ok, "; ".join(result.differences)


def act(
    problem: Diagnosis,
    *,
    ctx: SessionContext,
    settings: SessionSettings,
    checkpoints: Checkpointing,
    stops: StopTracker,
    spec: SessionSnapshot | None,
) -> tuple[Action, bool, str]:
    """Carry out the recovery of ``problem``: (action, validated, why not).

    Updates ``checkpoints`` (a restore that did not match is *unvalidated*; a validated one
    rebinds the checkpoint to the new pane ids) and ``stops`` (respawned panes). tmux errors
    propagate.
    """
    client = ctx.client
    kind = problem.kind
    if kind is FailureKind.CRASHED:
        source = checkpoints.expected or spec
        assert source is not None  # the actor waits when there is neither
        result = restore_session(
            client, source, settings.policy, clock=ctx.clock, sleep=ctx.sleep,
            shell_dir=ctx.shell_dir,
        )  # fmt: skip
        checkpoints.unvalidated = not result.ok
        if result.ok and result.session is not None and checkpoints.expected is not None:
            _rebind(ctx, checkpoints, result.session)
        return Action.RESTORE, result.ok, "; ".join(result.differences)
    actual = snapshot_of(ctx, settings).session(settings.name)
    if actual is None:
        return ACTIONS[kind], False, "the session vanished during the recovery"
    if kind is FailureKind.CORRUPTED:
        reference = checkpoints.expected if checkpoints.unvalidated else problem.reference or spec
        assert reference is not None
        shell_dir = usable_shell_dir(client, ctx.shell_dir)
        plan = plan_repair(reference, actual, settings.policy, shell_dir=shell_dir)
        later = execute_plan(client, plan)
        if later:
            type_when_ready(client, later, clock=ctx.clock, sleep=ctx.sleep)
        after = snapshot_of(ctx, settings).session(settings.name)
        missing = ["the session vanished"] if after is None else missing_structure(
            reference, after
        )  # fmt: skip
        if not missing and reference is checkpoints.expected and after is not None:
            checkpoints.unvalidated = False
            _rebind(ctx, checkpoints, after)
        return Action.RECREATE_MISSING, not missing, "; ".join(missing)
    for pane in problem.panes:
        dead = pane.dead
        if kind is FailureKind.FROZEN and not dead:
            dead = _end_frozen(ctx, settings, pane)
        respawn_pane(
            client, pane.pane_id, pane.argv, pane.cwd, dead=dead,
            shell_dir=ctx.shell_dir, clock=ctx.clock, sleep=ctx.sleep,
        )  # fmt: skip
        stops.respawned(pane.key)
    _, problems = observe_until(
        client,
        settings.name,
        lambda seen: program_problems(problem, seen),
        SETTLE,
        clock=ctx.clock,
        sleep=ctx.sleep,
        hold=PROGRAM_HOLD,
    )
    return Action.RESPAWN, not problems, "; ".join(problems)


def _end_frozen(ctx: SessionContext, settings: SessionSettings, pane: PaneAction) -> bool:
    """Kill a program that stayed stopped after SIGCONT, keeping its pane and its shell.

    The pane is held open first (the program may be the pane's own process), the program's
    process group is killed, and the pane is watched until it is dead or back at an idle
    shell. Returns whether the pane is dead (then respawned with a fresh login shell).
    """
    hold_pane(ctx.client, pane.pane_id)
    if pane.program_pid:
        ctx.processes.signal_group(pane.program_pid, SIGKILL)
        ctx.processes.signal_group(pane.program_pid, SIGCONT)
        ctx.processes.wait_gone(pane.program_pid, SETTLE)
    policy = settings.policy

    def settled(seen: SessionSnapshot | None) -> list[str]:
        now = _pane_by_id(seen, pane.pane_id)
        if now is None or now.dead or (policy.is_shell(now.argv) and not now.jobs):
            return []
        return [f"pane {pane.pane_id} still runs {now.argv!r}"]

    after, _ = observe_until(
        ctx.client, settings.name, settled, SETTLE, clock=ctx.clock, sleep=ctx.sleep
    )
    now = _pane_by_id(after, pane.pane_id)
    return now is None or now.dead


def _pane_by_id(session: SessionSnapshot | None, pane_id: str) -> PaneSnapshot | None:
    return next((p for p in session.panes() if p.pane_id == pane_id), None) if session else None


def _rebind(ctx: SessionContext, checkpoints: Checkpointing, actual: SessionSnapshot) -> None:
    """After our own restore or repair: the checkpoint's panes now have ``actual``'s ids."""
    checkpoints.rebind(actual)
    with suppress(RecoveryError):
        checkpoints.server_pid = ctx.client.server_pid()


def program_problems(problem: Diagnosis, actual: SessionSnapshot | None) -> list[str]:
    """What still keeps the programs ``problem`` respawned from running in ``actual``."""
    if actual is None:
        return ["the session vanished after the respawn"]
    panes = pane_map(actual)
    problems: list[str] = []
    for action in problem.panes:
        pane = panes.get(action.key)
        if pane is None:
            problems.append(f"pane {action.key} vanished")
        elif pane.dead:
            problems.append(f"pane {action.key}: {action.argv[0]!r} exited ({pane.dead_status})")
        elif pane.exit_status is not None and not program_matches(pane.argv, action.argv):
            problems.append(f"pane {action.key}: {action.argv[0]!r} exited ({pane.exit_status})")
        elif pane.stopped or not program_matches(pane.argv, action.argv):
            problems.append(f"pane {action.key} runs {pane.argv!r}, not {list(action.argv)!r}")
    return problems
