"""Strategies and restart types: who restarts, in which order, and who stays down."""

from __future__ import annotations

import pytest

from yesman_recovery import Restart, Strategy
from yesman_recovery.metrics.definitions import RecoveryMetrics

from .conftest import StartTree, sample
from .probes import Log, children, current, probe, wait_incarnation, wait_until


def three(log: Log) -> list[object]:
    return [probe("a", log), probe("b", log), probe("c", log)]


def test_children_start_in_order_and_stop_in_reverse(start_tree: StartTree, log: Log) -> None:
    root = start_tree(*three(log))
    assert log.ids("start") == ["a", "b", "c"]
    assert root.shutdown(timeout=10)
    assert log.ids("stop") == ["c", "b", "a"]


def test_one_for_one_restarts_only_the_child_that_died(
    start_tree: StartTree, log: Log, metrics: RecoveryMetrics
) -> None:
    root = start_tree(*three(log), strategy=Strategy.ONE_FOR_ONE)
    log.clear()
    current(root, "b").tell("crash")
    wait_incarnation(root, "b", 2)
    assert log.events() == [("failure", "b", 1), ("start", "b", 2)]
    incarnations = {cid: info.incarnation for cid, info in children(root).items()}
    assert incarnations == {"a": 1, "b": 2, "c": 1}
    assert sample(metrics, "child_restarts_total", supervisor="root", child="b", reason="crashed")
    assert (
        sample(metrics, "child_restarts_total", supervisor="root", child="a", reason="sibling") == 0
    )


def test_one_for_all_stops_the_others_in_reverse_then_starts_all_in_order(
    start_tree: StartTree, log: Log, metrics: RecoveryMetrics
) -> None:
    root = start_tree(*three(log), strategy=Strategy.ONE_FOR_ALL)
    log.clear()
    current(root, "b").tell("crash")
    wait_until(
        lambda: all(i.incarnation == 2 and i.state == "running" for i in children(root).values())
    )
    assert [(w, c) for w, c, _ in log.events()] == [
        ("failure", "b"), ("stop", "c"), ("stop", "a"),
        ("start", "a"), ("start", "b"), ("start", "c"),
    ]  # fmt: skip
    assert sample(metrics, "child_restarts_total", supervisor="root", child="b", reason="crashed")
    assert sample(metrics, "child_restarts_total", supervisor="root", child="c", reason="sibling")


def test_rest_for_one_restarts_the_child_and_those_started_after_it(
    start_tree: StartTree, log: Log
) -> None:
    root = start_tree(*three(log), strategy=Strategy.REST_FOR_ONE)
    log.clear()
    current(root, "b").tell("crash")
    wait_incarnation(root, "c", 2)
    assert [(w, c) for w, c, _ in log.events()] == [
        ("failure", "b"), ("stop", "c"), ("start", "b"), ("start", "c"),
    ]  # fmt: skip
    assert children(root)["a"].incarnation == 1


def test_rest_for_one_on_the_last_child_is_one_for_one(start_tree: StartTree, log: Log) -> None:
    root = start_tree(*three(log), strategy="rest_for_one")
    log.clear()
    current(root, "c").tell("crash")
    wait_incarnation(root, "c", 2)
    assert log.ids("start") == ["c"]
    assert log.ids("stop") == []


@pytest.mark.parametrize(
    ("restart", "message", "restarted"),
    [
        (Restart.PERMANENT, "crash", True),
        (Restart.PERMANENT, "stop_self", True),
        (Restart.TRANSIENT, "crash", True),
        (Restart.TRANSIENT, "stop_self", False),
        (Restart.TEMPORARY, "crash", False),
        (Restart.TEMPORARY, "stop_self", False),
    ],
)
def test_restart_types(
    start_tree: StartTree, log: Log, restart: Restart, message: str, restarted: bool
) -> None:
    root = start_tree(probe("w", log, restart=restart), probe("other", log))
    old = current(root, "w")
    old.tell(message)
    assert old.wait_exit(5) is not None
    if restarted:
        wait_incarnation(root, "w", 2)
        assert current(root, "w").actor_urn != old.actor_urn
        return
    if restart is Restart.TEMPORARY:
        # Its spec is dropped: the supervisor no longer knows the child.
        wait_until(lambda: "w" not in children(root))
        assert root.proxy().count_children().get(timeout=5).specs == 1
    else:
        wait_until(lambda: children(root)["w"].state == "stopped")
        assert children(root)["w"].last_exit == "normal"
    assert root.proxy().whereis("w").get(timeout=5) is None
    assert log.ids("start") == ["w", "other"]  # nothing started again


def test_transient_child_that_fails_to_start_on_restart_is_retried(
    start_tree: StartTree, log: Log
) -> None:
    from .probes import Plan

    plan = Plan()
    root = start_tree(probe("t", log, plan, restart=Restart.TRANSIENT), max_restarts=10)
    plan.start_failures = 2
    current(root, "t").tell("crash")
    wait_incarnation(root, "t", 4)
    assert log.ids("start_failed") == ["t", "t"]
    info = children(root)["t"]
    assert info.restarts == 1  # one restart that took three attempts
    assert info.last_exit is not None
    assert "refuses to start" in info.last_exit


@pytest.mark.parametrize("message", ["exit", "interrupt"])
def test_system_exit_in_a_child_restarts_it_and_leaves_the_rest_running(
    start_tree: StartTree, log: Log, message: str
) -> None:
    root = start_tree(*three(log))
    other_root = start_tree(probe("elsewhere", log))
    current(root, "b").tell(message)
    wait_incarnation(root, "b", 2)
    info = children(root)
    assert {cid: i.incarnation for cid, i in info.items()} == {"a": 1, "b": 2, "c": 1}
    assert info["b"].last_exit is not None
    assert "ActorInterrupted" in info["b"].last_exit
    assert current(other_root, "elsewhere").proxy().ping().get(timeout=5) == 1
    assert log.ids("stop") == []  # nobody else was stopped


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
def test_temporary_bystander_of_a_group_restart_is_removed_not_restarted(
    start_tree: StartTree, log: Log, strategy: Strategy
) -> None:
    root = start_tree(probe("a", log), probe("t", log, restart=Restart.TEMPORARY),
                      probe("c", log), strategy=strategy)  # fmt: skip
    log.clear()
    current(root, "a").tell("crash")
    wait_incarnation(root, "c", 2)
    assert list(children(root)) == ["a", "c"]  # OTP drops a temporary child in a group restart
    assert log.ids("start") == ["a", "c"]
    assert log.ids("stop") == ["c", "t"]


def test_one_for_all_restarts_the_whole_group_again_when_a_restart_fails(
    start_tree: StartTree, log: Log
) -> None:
    from .probes import Plan

    plan_b = Plan()
    root = start_tree(probe("a", log), probe("b", log, plan_b), strategy=Strategy.ONE_FOR_ALL,
                      max_restarts=10)  # fmt: skip
    log.clear()
    plan_b.start_failures = 1
    current(root, "a").tell("crash")
    wait_incarnation(root, "b", 3)
    # OTP: the failed group restart stops the started ones again and starts the group anew.
    assert [(w, c, n) for w, c, n in log.events() if w != "failure"] == [
        ("stop", "b", 1), ("start", "a", 2), ("start_failed", "b", 2),
        ("stop", "a", 2), ("start", "a", 3), ("start", "b", 3),
    ]  # fmt: skip
    assert {cid: i.incarnation for cid, i in children(root).items()} == {"a": 3, "b": 3}
