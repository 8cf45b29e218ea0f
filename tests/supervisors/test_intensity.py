"""Restart intensity: a sliding window over an injected clock, failed starts count, escalation."""

from __future__ import annotations

from yesman_recovery.errors import RestartIntensityExceeded
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.supervisors import ExitKind, ManualClock, SupervisedRef

from .conftest import StartTree, sample
from .probes import Log, Plan, children, current, probe, sup_spec, wait_incarnation


def crash(root: SupervisedRef, child_id: str, then_incarnation: int | None = None) -> None:
    """Crash the running ``child_id``; optionally wait until its replacement runs."""
    old = current(root, child_id)
    old.tell("crash")
    assert old.wait_exit(5) is not None
    if then_incarnation is not None:
        wait_incarnation(root, child_id, then_incarnation)


def test_window_slides_over_the_injected_clock(
    start_tree: StartTree, log: Log, clock: ManualClock, metrics: RecoveryMetrics
) -> None:
    root = start_tree(probe("a", log), max_restarts=2, max_seconds=5.0, clock=clock)
    crash(root, "a", 2)
    clock.advance(3.0)
    crash(root, "a", 3)  # two restarts within 5 s: at the limit, not over it
    clock.advance(2.0)  # the first restart is now 5 s old and leaves the window
    crash(root, "a", 4)
    assert root.is_alive()
    assert sample(metrics, "restart_intensity_exceeded_total", supervisor="root") == 0
    crash(root, "a")  # third restart within 5 s (at 3, 5 and 5): over the limit
    reason = root.wait_exit(5)
    assert reason is not None
    assert reason.kind is ExitKind.CRASHED
    assert isinstance(reason.error, RestartIntensityExceeded)
    assert "more than 2 restarts in 5.0 s" in str(reason.error)
    assert sample(metrics, "restart_intensity_exceeded_total", supervisor="root") == 1


def test_giving_up_stops_the_others_in_reverse_start_order(
    start_tree: StartTree, log: Log, clock: ManualClock, metrics: RecoveryMetrics
) -> None:
    root = start_tree(
        probe("a", log), probe("b", log), probe("c", log), probe("d", log),
        max_restarts=0, clock=clock,
    )  # fmt: skip
    log.clear()
    crash(root, "b")
    assert root.wait_exit(5) is not None
    assert log.ids("stop") == ["d", "c", "a"]
    assert log.ids("start") == []
    assert sample(metrics, "supervisor_children", supervisor="root", state="running") == 0
    assert sample(metrics, "supervisor_children", supervisor="root", state="stopped") == 4


def test_failed_start_attempts_count_toward_intensity(
    start_tree: StartTree, log: Log, clock: ManualClock
) -> None:
    plan = Plan()
    survivor = start_tree(probe("a", log, plan), max_restarts=2, clock=clock)
    plan.start_failures = 1
    crash(survivor, "a", 3)  # one failed attempt + one good one: 2 in the window
    assert survivor.is_alive()

    plan2 = Plan()
    doomed = start_tree(probe("b", log, plan2), max_restarts=2, clock=clock)
    plan2.start_failures = 2
    crash(doomed, "b")  # attempt, retry, retry: 3 in the window
    reason = doomed.wait_exit(5)
    assert reason is not None
    assert isinstance(reason.error, RestartIntensityExceeded)
    assert log.ids("start_failed") == ["a", "b", "b"]


def test_escalation_two_levels_up_ends_the_root_abnormally(
    start_tree: StartTree, log: Log, clock: ManualClock, metrics: RecoveryMetrics
) -> None:
    shared = {"clock": clock, "metrics": metrics}
    leaf = sup_spec("leaf", probe("worker", log), max_restarts=1, **shared)
    mid = sup_spec("mid", leaf, probe("sibling", log), max_restarts=0, **shared)
    root = start_tree(mid, max_restarts=0, clock=clock)
    leaf_ref = current(current(root, "mid"), "leaf")
    crash(leaf_ref, "worker", 2)
    crash(leaf_ref, "worker")  # second restart in the window: leaf gives up
    reason = root.wait_exit(10)
    assert reason is not None
    assert reason.kind is ExitKind.CRASHED
    assert isinstance(reason.error, RestartIntensityExceeded)
    assert "'root'" in str(reason.error)
    for name in ("leaf", "mid", "root"):
        assert sample(metrics, "restart_intensity_exceeded_total", supervisor=name) == 1
    # The whole tree is down, the sibling stopped in order, nothing was restarted.
    assert log.ids("stop") == ["sibling"]
    assert log.ids("start") == ["worker", "sibling", "worker"]


def test_escalation_is_absorbed_by_a_parent_with_room_to_restart(
    start_tree: StartTree, log: Log, clock: ManualClock
) -> None:
    child = sup_spec("child", probe("worker", log), max_restarts=0, clock=clock)
    root = start_tree(child, max_restarts=3, clock=clock)
    crash(current(root, "child"), "worker")
    wait_incarnation(root, "child", 2)
    info = children(root)["child"]
    assert info.restarts == 1
    assert info.last_exit is not None
    assert "RestartIntensityExceeded" in info.last_exit
    assert children(current(root, "child"))["worker"].incarnation == 1  # a fresh subtree
