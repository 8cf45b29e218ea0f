"""Per-child backoff: a scheduled message delivers the restart; the supervisor keeps answering."""

from __future__ import annotations

import random

import pytest

from yesman_recovery import Backoff, Strategy
from yesman_recovery.errors import SupervisorError
from yesman_recovery.supervisors import ManualClock, ManualScheduler, SupervisedRef

from .conftest import StartTree
from .probes import Log, Plan, children, current, probe, wait_incarnation, wait_until

STEPS = Backoff(initial=1.0, multiplier=2.0, max=4.0, jitter=0.0, reset_after=10.0)


def crash_and_wait_restarting(root: SupervisedRef, child_id: str) -> None:
    old = current(root, child_id)
    old.tell("crash")
    assert old.wait_exit(5) is not None
    wait_until(lambda: children(root)[child_id].state == "restarting")


def delay_of_next_restart(scheduler: ManualScheduler, clock: ManualClock) -> float:
    (due,) = scheduler.pending()
    return round(due - clock.monotonic(), 9)


def test_restart_waits_for_the_delay_and_the_supervisor_answers_meanwhile(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    root = start_tree(
        probe("a", log, backoff=STEPS), probe("b", log), clock=clock, scheduler=scheduler
    )
    crash_and_wait_restarting(root, "a")
    assert delay_of_next_restart(scheduler, clock) == 1.0
    assert scheduler.advance(0.999) == 0
    # Not restarted before the delay, and the supervisor answers while the child waits.
    info = children(root)
    assert info["a"].state == "restarting"
    assert info["a"].incarnation == 1
    assert info["a"].ref is None
    assert root.proxy().whereis("a").get(timeout=5) is None
    assert root.proxy().count_children().get(timeout=5).active == 1
    assert log.ids("start") == ["a", "b"]
    assert scheduler.advance(0.001) == 1
    wait_incarnation(root, "a", 2)
    assert log.ids("start") == ["a", "b", "a"]


def test_delays_grow_to_the_cap_and_reset_after_a_stable_period(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    root = start_tree(probe("a", log, backoff=STEPS), max_restarts=100, clock=clock,
                      scheduler=scheduler)  # fmt: skip
    delays = []
    for n in range(2, 6):
        crash_and_wait_restarting(root, "a")
        delays.append(delay_of_next_restart(scheduler, clock))
        scheduler.advance(delays[-1])
        wait_incarnation(root, "a", n)
    assert delays == [1.0, 2.0, 4.0, 4.0]
    clock.advance(9.0)  # up 9 s: not yet stable
    crash_and_wait_restarting(root, "a")
    assert delay_of_next_restart(scheduler, clock) == 4.0
    scheduler.advance(4.0)
    wait_incarnation(root, "a", 6)
    clock.advance(10.0)  # up `reset_after`: the next crash starts the sequence again
    crash_and_wait_restarting(root, "a")
    assert delay_of_next_restart(scheduler, clock) == 1.0
    scheduler.advance(1.0)
    wait_incarnation(root, "a", 7)


def test_jitter_adds_up_to_its_fraction_drawn_from_the_injected_rng(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    jittery = Backoff(initial=2.0, max=60.0, jitter=0.5)
    root = start_tree(probe("a", log, backoff=jittery), clock=clock, scheduler=scheduler,
                      rng=random.Random(7))  # fmt: skip
    crash_and_wait_restarting(root, "a")
    delay = delay_of_next_restart(scheduler, clock)
    assert delay == pytest.approx(2.0 * (1 + 0.5 * random.Random(7).random()))
    assert 2.0 <= delay < 3.0
    scheduler.advance(delay)
    wait_incarnation(root, "a", 2)


def test_a_failed_start_is_retried_after_the_next_delay(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    plan = Plan()
    root = start_tree(probe("a", log, plan, backoff=STEPS), max_restarts=10, clock=clock,
                      scheduler=scheduler)  # fmt: skip
    plan.start_failures = 1
    crash_and_wait_restarting(root, "a")
    scheduler.advance(1.0)
    wait_until(lambda: log.ids("start_failed") == ["a"])
    wait_until(lambda: len(scheduler.pending()) == 1)
    assert children(root)["a"].state == "restarting"
    assert delay_of_next_restart(scheduler, clock) == 2.0
    scheduler.advance(2.0)
    wait_incarnation(root, "a", 3)


def test_terminating_a_child_in_backoff_cancels_its_restart(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    root = start_tree(probe("a", log, backoff=STEPS), clock=clock, scheduler=scheduler)
    crash_and_wait_restarting(root, "a")
    root.proxy().terminate_child("a").get(timeout=5)
    assert scheduler.pending() == []
    scheduler.advance(10.0)
    assert children(root)["a"].state == "stopped"
    assert log.ids("start") == ["a"]


def test_group_restart_survives_terminating_one_member_in_backoff(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    root = start_tree(probe("a", log, backoff=STEPS), probe("b", log), probe("c", log),
                      strategy=Strategy.ONE_FOR_ALL, clock=clock, scheduler=scheduler)  # fmt: skip
    crash_and_wait_restarting(root, "a")
    assert {i.state for i in children(root).values()} == {"restarting"}
    root.proxy().terminate_child("a").get(timeout=5)
    assert len(scheduler.pending()) == 1  # b and c still wait on the same timer
    scheduler.advance(1.0)
    wait_incarnation(root, "c", 2)
    states = {cid: i.state.value for cid, i in children(root).items()}
    assert states == {"a": "stopped", "b": "running", "c": "running"}


def test_restart_child_while_restarting_is_refused_and_keeps_the_pending_restart(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    root = start_tree(probe("a", log, backoff=STEPS), clock=clock, scheduler=scheduler)
    crash_and_wait_restarting(root, "a")
    with pytest.raises(SupervisorError, match=r"child 'a' of 'root' is restarting"):
        root.proxy().restart_child("a").get(timeout=5)
    with pytest.raises(SupervisorError, match=r"child 'a' of 'root' is restarting"):
        root.proxy().delete_child("a").get(timeout=5)
    assert children(root)["a"].state == "restarting"
    assert len(scheduler.pending()) == 1  # still supervised: the restart still comes
    scheduler.advance(1.0)
    wait_incarnation(root, "a", 2)
    assert log.ids("start") == ["a", "a"]


def test_restart_child_after_a_failed_restart_is_refused_and_the_retry_still_comes(
    start_tree: StartTree, log: Log, clock: ManualClock, scheduler: ManualScheduler
) -> None:
    plan = Plan()
    root = start_tree(probe("a", log, plan, backoff=STEPS), max_restarts=10, clock=clock,
                      scheduler=scheduler)  # fmt: skip
    plan.start_failures = 2
    crash_and_wait_restarting(root, "a")
    scheduler.advance(1.0)
    wait_until(lambda: log.ids("start_failed") == ["a"])
    wait_until(lambda: len(scheduler.pending()) == 1)
    with pytest.raises(SupervisorError, match="restarting"):
        root.proxy().restart_child("a").get(timeout=5)
    assert log.ids("start_failed") == ["a"]  # refused: no extra attempt was made
    scheduler.advance(2.0)
    wait_until(lambda: log.ids("start_failed") == ["a", "a"])
    scheduler.advance(4.0)
    wait_incarnation(root, "a", 4)
