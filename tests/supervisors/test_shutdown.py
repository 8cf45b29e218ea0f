"""Start acknowledgement, shutdown timeouts that abandon, and the root as a context manager."""

from __future__ import annotations

import threading
import time

import pykka
import pytest

from yesman_recovery import ChildSpec, Supervisor
from yesman_recovery.errors import StartError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.supervisors import SupervisedRef

from .conftest import StartTree, sample
from .probes import Log, Plan, Probe, children, current, probe, sup_spec, wait_until


def test_supervisor_start_returns_after_every_child_acknowledged(
    start_tree: StartTree, log: Log
) -> None:
    root = start_tree(probe("a", log), probe("b", log))
    # No waiting: start() returned only once both on_start calls had finished.
    assert log.ids("start") == ["a", "b"]
    assert root.proxy().count_children().get(timeout=5).active == 2


def test_child_that_does_not_acknowledge_in_time_fails_the_start(
    log: Log, metrics: RecoveryMetrics
) -> None:
    gate = threading.Event()
    slow = probe("slow", log, Plan(start_gate=gate), start_timeout=0.2)
    try:
        with pytest.raises(StartError, match="'slow' failed to start") as caught:
            Supervisor.start(children=[probe("a", log), slow], metrics=metrics)
        assert "did not finish within 0.2 s" in str(caught.value)
        assert log.ids("stop") == ["a"]  # the started one was stopped again
    finally:
        gate.set()
    wait_until(lambda: all(not t.is_alive() for t in log.threads), what="late child ends")


def test_failed_start_of_a_child_stops_the_started_ones_in_reverse(
    log: Log, metrics: RecoveryMetrics
) -> None:
    specs = [probe("a", log), probe("b", log), probe("c", log, Plan(start_failures=1))]
    with pytest.raises(StartError, match="refuses to start"):
        Supervisor.start(children=specs, metrics=metrics)
    assert log.ids("stop") == ["b", "a"]


def test_child_that_ignores_stop_is_abandoned_within_its_timeout(
    log: Log, metrics: RecoveryMetrics
) -> None:
    plan = Plan()
    root = Supervisor.start(
        children=[probe("a", log), probe("stuck", log, plan, shutdown=0.3), probe("c", log)],
        metrics=metrics,
        name="app",
    )
    current(root, "stuck").tell("block")
    try:
        began = time.monotonic()
        assert root.shutdown(timeout=10)
        took = time.monotonic() - began
        assert 0.3 <= took < 5.0  # waited its shutdown, then gave up instead of hanging
        assert log.ids("stop") == ["c", "a"]  # the others still stopped, in reverse order
        assert sample(metrics, "children_abandoned_total", supervisor="app") == 1
    finally:
        plan.release.set()
    wait_until(lambda: all(not t.is_alive() for t in log.threads), what="abandoned thread ends")


def test_terminate_child_abandons_and_reports_it(start_tree: StartTree, log: Log,
                                                 metrics: RecoveryMetrics) -> None:  # fmt: skip
    plan = Plan()
    root = start_tree(probe("stuck", log, plan, shutdown=0.2))
    current(root, "stuck").tell("block")
    try:
        root.proxy().terminate_child("stuck").get(timeout=5)
        info = children(root)["stuck"]
        assert info.state == "stopped"
        assert info.last_exit == "shutdown: TimeoutError('abandoned')"
        assert sample(metrics, "children_abandoned_total", supervisor="root") == 1
    finally:
        plan.release.set()
    wait_until(lambda: not log.threads[0].is_alive(), what="abandoned thread ends")


def test_nested_supervisor_gets_an_unbounded_shutdown_by_default(log: Log) -> None:
    assert sup_spec("s").shutdown is None
    assert probe("w", log).shutdown == 5.0
    assert ChildSpec("s", Supervisor, shutdown=2.0).shutdown == 2.0
    # The defaults come from the class being started (no import of Supervisor in spec.py).
    assert (sup_spec("s").start_timeout, probe("w", log).start_timeout) == (300.0, 10.0)
    assert (Supervisor.default_shutdown, Supervisor.default_start_timeout) == (None, 300.0)
    assert ChildSpec("s", Supervisor, start_timeout=1.0).start_timeout == 1.0


def test_root_as_context_manager_stops_the_tree_even_when_the_block_raises(
    log: Log, metrics: RecoveryMetrics
) -> None:
    inner = sup_spec("inner", probe("x", log), probe("y", log), metrics=metrics)
    seen: list[SupervisedRef] = []

    def main() -> None:
        with Supervisor.start(children=[probe("a", log), inner], metrics=metrics) as root:
            seen.append(root)
            raise RuntimeError("main thread failed")

    with pytest.raises(RuntimeError, match="main thread failed"):
        main()
    (root,) = seen
    assert not root.is_alive()
    assert log.ids("stop") == ["y", "x", "a"]


def test_actor_threads_are_daemon_threads(start_tree: StartTree, log: Log) -> None:
    start_tree(probe("a", log))
    assert log.threads[0].daemon
    assert Probe.use_daemon_thread


def test_stop_returns_once_the_whole_tree_is_down(log: Log, metrics: RecoveryMetrics) -> None:
    slow = Plan(stop_delay=0.3)
    inner = sup_spec("inner", probe("x", log, slow), metrics=metrics)
    root = Supervisor.start(children=[probe("a", log, slow), inner], metrics=metrics)
    assert root.stop() is True
    # Pykka's contract: stop(block=True) returns once the actor has stopped — here, its tree.
    assert log.ids("stop") == ["x", "a"]
    assert all(not t.is_alive() for t in log.threads)
    assert root.stop() is False  # already dead, as Pykka answers


def test_stop_without_blocking_returns_a_future_of_the_whole_tree(
    log: Log, metrics: RecoveryMetrics
) -> None:
    root = Supervisor.start(children=[probe("a", log, Plan(stop_delay=0.3))], metrics=metrics)
    future = root.stop(block=False)
    assert future.get(timeout=10) is True
    assert log.ids("stop") == ["a"]
    assert not log.threads[0].is_alive()


def test_stop_with_a_timeout_raises_like_pykka_while_a_child_holds_on(
    log: Log, metrics: RecoveryMetrics
) -> None:
    plan = Plan()
    root = Supervisor.start(children=[probe("stuck", log, plan, shutdown=None)], metrics=metrics)
    current(root, "stuck").tell("block")
    try:
        with pytest.raises(pykka.Timeout):
            root.stop(timeout=0.3)
        assert root.wait_exit(0) is None  # still stopping: its child has not stopped yet
    finally:
        plan.release.set()
    assert root.wait_exit(10) is not None
    assert log.ids("stop") == ["stuck"]


def test_stop_all_stops_each_tree_from_its_root_without_restarts(
    log: Log, metrics: RecoveryMetrics
) -> None:
    # More children than the intensity allows restarts: stopping them one by one from the
    # registry would make the root restart them and then give up.
    many = [probe(f"w{i}", log) for i in range(5)]
    inner = sup_spec("inner", probe("x", log), probe("y", log), metrics=metrics)
    root = Supervisor.start(children=[*many, inner], metrics=metrics, name="app")
    pykka.ActorRegistry.stop_all(timeout=10)
    assert not root.is_alive()
    reason = root.wait_exit(0)
    assert reason is not None
    assert not reason.abnormal
    assert log.ids("start") == ["w0", "w1", "w2", "w3", "w4", "x", "y"]  # nothing restarted
    assert log.ids("stop") == ["y", "x", "w4", "w3", "w2", "w1", "w0"]  # reverse start order
    assert all(not t.is_alive() for t in log.threads)
    assert sample(metrics, "restart_intensity_exceeded_total", supervisor="app") == 0
