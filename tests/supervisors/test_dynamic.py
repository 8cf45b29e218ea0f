"""Dynamic children, introspection, names after restarts, stale exits, and describe_tree."""

from __future__ import annotations

import re
import threading

import pytest

from yesman_recovery import Restart, SupervisedActor
from yesman_recovery.errors import StartError, SupervisorError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.supervisors import (
    ChildCounts,
    ChildExited,
    ExitKind,
    ExitReason,
    ManualClock,
    describe_tree,
)
from yesman_recovery.supervisors.actor import SupervisionLink

from .conftest import StartTree, sample
from .probes import Log, Plan, children, current, probe, sup_spec, wait_incarnation, wait_until


def test_start_terminate_restart_delete_child(
    start_tree: StartTree, log: Log, metrics: RecoveryMetrics
) -> None:
    root = start_tree(probe("a", log))
    sup = root.proxy()
    ref = sup.start_child(probe("b", log)).get(timeout=5)
    assert ref.proxy().ping().get(timeout=5) == 1
    assert list(children(root)) == ["a", "b"]
    assert sample(metrics, "supervisor_children", supervisor="root", state="running") == 2

    sup.terminate_child("b").get(timeout=5)
    assert children(root)["b"].state == "stopped"
    assert children(root)["b"].last_exit == "shutdown"
    assert sup.whereis("b").get(timeout=5) is None
    assert sample(metrics, "supervisor_children", supervisor="root", state="stopped") == 1

    again = sup.restart_child("b").get(timeout=5)
    assert again.actor_urn != ref.actor_urn
    assert children(root)["b"].incarnation == 2
    with pytest.raises(SupervisorError, match="already running"):
        sup.restart_child("b").get(timeout=5)
    with pytest.raises(SupervisorError, match="terminate_child it first"):
        sup.delete_child("b").get(timeout=5)

    sup.terminate_child("b").get(timeout=5)
    sup.delete_child("b").get(timeout=5)
    assert list(children(root)) == ["a"]
    assert log.ids("stop") == ["b", "b"]


def test_misuse_names_the_child_and_the_fix(start_tree: StartTree, log: Log) -> None:
    root = start_tree(probe("a", log))
    sup = root.proxy()
    with pytest.raises(SupervisorError, match=r"already has a child 'a'"):
        sup.start_child(probe("a", log)).get(timeout=5)
    with pytest.raises(SupervisorError, match=r"no child 'zz'; it has \['a'\]"):
        sup.terminate_child("zz").get(timeout=5)
    assert sup.whereis("zz").get(timeout=5) is None


def test_start_child_that_fails_is_not_kept(start_tree: StartTree, log: Log) -> None:
    root = start_tree(probe("a", log))
    with pytest.raises(StartError, match="'bad' failed to start"):
        root.proxy().start_child(probe("bad", log, Plan(start_failures=1))).get(timeout=5)
    assert list(children(root)) == ["a"]


def test_restart_child_that_fails_leaves_it_stopped(start_tree: StartTree, log: Log) -> None:
    plan = Plan()
    root = start_tree(probe("a", log, plan))
    root.proxy().terminate_child("a").get(timeout=5)
    plan.start_failures = 1
    with pytest.raises(StartError, match="refuses to start"):
        root.proxy().restart_child("a").get(timeout=5)
    assert children(root)["a"].state == "stopped"  # not left waiting for a restart nobody sends
    assert root.proxy().restart_child("a").get(timeout=5).proxy().ping().get(timeout=5) == 3


def test_terminating_a_temporary_child_drops_its_spec(start_tree: StartTree, log: Log) -> None:
    root = start_tree(probe("t", log, restart=Restart.TEMPORARY))
    root.proxy().terminate_child("t").get(timeout=5)
    assert children(root) == {}


def test_which_children_and_count_children_report_each_field(
    start_tree: StartTree, log: Log, clock: ManualClock
) -> None:
    root = start_tree(probe("w", log), sup_spec("s", probe("x", log), clock=clock), clock=clock)
    clock.advance(3.0)
    old = current(root, "w")
    old.tell("crash")
    wait_incarnation(root, "w", 2)
    clock.advance(1.5)
    info = children(root)
    w, s = info["w"], info["s"]
    assert (w.id, w.state, w.incarnation, w.restarts) == ("w", "running", 2, 1)
    assert w.uptime == 1.5
    assert w.last_exit == "crashed: RuntimeError('w crashed on purpose')"
    assert not w.is_supervisor
    assert (s.state, s.incarnation, s.restarts, s.uptime, s.last_exit) == ("running", 1, 0, 4.5,
                                                                           None)  # fmt: skip
    assert s.is_supervisor
    counts = root.proxy().count_children().get(timeout=5)
    assert counts == ChildCounts(specs=2, active=2, supervisors=1, workers=1)


def test_whereis_returns_the_new_ref_after_a_restart(start_tree: StartTree, log: Log) -> None:
    root = start_tree(probe("a", log))
    old = current(root, "a")
    old.tell("crash")
    wait_incarnation(root, "a", 2)
    new = current(root, "a")
    assert new.actor_urn != old.actor_urn
    assert not old.is_alive()
    assert new.proxy().ping().get(timeout=5) == 2


def test_late_exit_of_a_replaced_incarnation_is_ignored(
    start_tree: StartTree, log: Log, metrics: RecoveryMetrics
) -> None:
    plan = Plan()
    root = start_tree(probe("a", log, plan, shutdown=0.2))
    current(root, "a").tell("block")
    root.proxy().terminate_child("a").get(timeout=5)  # abandoned: incarnation 1 still runs
    new = root.proxy().restart_child("a").get(timeout=5)
    plan.release.set()  # now incarnation 1 handles its stop and reports its exit
    log.threads[0].join(5)
    assert not log.threads[0].is_alive()
    # The report is in the inbox before this call: the supervisor has handled it when it answers.
    info = children(root)["a"]
    assert (info.state, info.incarnation, info.restarts) == ("running", 2, 0)
    assert current(root, "a").actor_urn == new.actor_urn
    assert (
        sample(metrics, "child_restarts_total", supervisor="root", child="a", reason="shutdown")
        == 0
    )
    # A forged report for the old incarnation is ignored the same way.
    root.tell(ChildExited("a", 1, ExitReason(ExitKind.CRASHED, RuntimeError("old"))))
    assert children(root)["a"].incarnation == 2
    assert new.is_alive()


def test_describe_tree_shape(start_tree: StartTree, log: Log, clock: ManualClock) -> None:
    inner = sup_spec("inner", probe("x", log), clock=clock)
    root = start_tree(probe("w", log), inner, clock=clock)
    clock.advance(2.0)
    tree = describe_tree(root)
    assert tree == {
        "id": "root", "kind": "supervisor", "state": "running",
        "children": [
            {"id": "w", "kind": "worker", "state": "running", "incarnation": 1, "restarts": 0,
             "uptime_seconds": 2.0, "last_exit": None},
            {"id": "inner", "kind": "supervisor", "state": "running", "incarnation": 1,
             "restarts": 0, "uptime_seconds": 2.0, "last_exit": None,
             "children": [
                 {"id": "x", "kind": "worker", "state": "running", "incarnation": 1,
                  "restarts": 0, "uptime_seconds": 2.0, "last_exit": None},
             ]},
        ],
    }  # fmt: skip
    root.proxy().terminate_child("inner").get(timeout=5)
    stopped = describe_tree(root)["children"][1]
    assert (stopped["state"], stopped["children"]) == ("stopped", [])


def test_describe_tree_marks_a_dead_supervisor_unresponsive(
    log: Log, metrics: RecoveryMetrics
) -> None:
    from yesman_recovery import Supervisor

    root = Supervisor.start(children=[probe("w", log)], metrics=metrics)
    assert root.shutdown(5)
    assert describe_tree(root) == {
        "id": "root",
        "kind": "supervisor",
        "state": "unresponsive",
        "children": [],
    }


def test_nested_supervisor_is_named_by_its_child_id(
    start_tree: StartTree, log: Log, metrics: RecoveryMetrics
) -> None:
    root = start_tree(sup_spec("workers", probe("w", log), metrics=metrics))
    assert sample(metrics, "supervisor_children", supervisor="workers", state="running") == 1
    old = current(current(root, "workers"), "w")
    old.tell("crash")
    wait_until(lambda: sample(metrics, "child_restarts_total", supervisor="workers", child="w",
                              reason="crashed") == 1)  # fmt: skip


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        ("start_child", "not a spec"),
        ("terminate_child", 3),
        ("restart_child", None),
        ("delete_child", ["a"]),
        ("whereis", 1.5),
    ],
)
def test_public_calls_reject_arguments_of_the_wrong_type(
    start_tree: StartTree, log: Log, call: str, arg: object
) -> None:
    root = start_tree(probe("a", log))
    expected = "a ChildSpec" if call == "start_child" else "a child id"
    with pytest.raises(TypeError, match=f"{call} expects {expected}, got {re.escape(repr(arg))}"):
        getattr(root.proxy(), call)(arg).get(timeout=5)
    assert list(children(root)) == ["a"]


def test_bad_specs_and_supervisor_arguments_fail_with_clear_errors(log: Log) -> None:
    from yesman_recovery import ChildSpec, Supervisor

    with pytest.raises(TypeError, match=r"`start` must be a SupervisedActor subclass.*got 'x'"):
        ChildSpec("a", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`args` must be a tuple"):
        ChildSpec("a", Supervisor, args="abc")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`kwargs` must be a mapping"):
        ChildSpec("a", Supervisor, kwargs=[1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"`children` must be ChildSpec instances, got 'x'"):
        Supervisor.start(children=["x"])
    with pytest.raises(ValueError, match=r"`strategy` must be one of .*one_for_one.*got 'bogus'"):
        Supervisor.start(strategy="bogus")
    with pytest.raises(ValueError, match=r"`restart` must be one of permanent, .*got 'always'"):
        ChildSpec("a", Supervisor, restart="always")
    with pytest.raises(TypeError, match=r"`name` must be a str or None, got 3"):
        Supervisor.start(name=3)


def test_after_wait_exit_the_supervisor_answers_with_the_exit(
    start_tree: StartTree, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = SupervisedActor._report_exit

    def preempted(self: SupervisedActor, link: SupervisionLink) -> None:
        threading.Event().wait(0.05)  # the child's thread loses the CPU just before reporting
        report(self, link)

    monkeypatch.setattr(SupervisedActor, "_report_exit", preempted)
    root = start_tree(probe("w", log, restart=Restart.TRANSIENT), probe("p", log))
    for n in range(1, 4):
        old = current(root, "w")
        old.tell("stop_self")
        assert old.wait_exit(5) is not None
        info = children(root)["w"]  # no waiting: wait_exit returned after the supervisor knew
        assert (info.state, info.incarnation) == ("stopped", n), f"round {n}"
        root.proxy().restart_child("w").get(timeout=5)
    crashing = current(root, "p")
    crashing.tell("crash")
    assert crashing.wait_exit(5) is not None
    assert children(root)["p"].incarnation == 2  # restarting, or already running again


def test_restart_series_exist_at_zero_for_every_child_before_its_first_restart(
    start_tree: StartTree, log: Log, metrics: RecoveryMetrics
) -> None:
    root = start_tree(probe("a", log))
    root.proxy().start_child(probe("b", log)).get(timeout=5)
    value = metrics.registry.get_sample_value  # None for a series that does not exist
    for child in ("a", "b"):
        for reason in ("crashed", "start_failed", "sibling"):
            labels = {"supervisor": "root", "child": child, "reason": reason}
            assert value("yesman_recovery_child_restarts_total", labels) == 0.0
    assert value("yesman_recovery_restart_intensity_exceeded_total", {"supervisor": "root"}) == 0.0


def test_temporary_children_add_no_metric_series(
    start_tree: StartTree, log: Log, metrics: RecoveryMetrics
) -> None:
    # A dynamic supervisor of temporary children (one per transaction, say) must not grow the
    # exposition by a series per child id it ever ran; permanent children keep theirs at 0.
    root = start_tree(probe("a", log))
    sup = root.proxy()
    for n in range(20):
        sup.start_child(probe(f"job-{n}", log, restart=Restart.TEMPORARY)).get(timeout=5)
        sup.terminate_child(f"job-{n}").get(timeout=5)
    children_labels = {
        s.labels["child"]
        for family in metrics.registry.collect()
        if family.name == "yesman_recovery_child_restarts"
        for s in family.samples
    }
    assert children_labels == {"a"}
    assert (
        sample(metrics, "child_restarts_total", supervisor="root", child="a", reason="crashed") == 0
    )
