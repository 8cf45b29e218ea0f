"""SupervisedActor: every exit path is reported once, with its incarnation and the right reason."""

from __future__ import annotations

import threading
from typing import Any

import pykka
import pytest

from yesman_recovery.errors import ActorInterrupted, StartError
from yesman_recovery.supervisors import ChildExited, ExitKind, SupervisedRef
from yesman_recovery.supervisors.actor import SupervisionLink

from .probes import Log, Plan, Probe, wait_until


class Monitor(pykka.ThreadingActor):
    """Stands in for a supervisor: collects the ChildExited reports it is told."""

    def __init__(self) -> None:
        super().__init__()
        self.reports: list[ChildExited] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildExited):  # SyncWithSupervisor asks are answered with None
            self.reports.append(message)
        return None

    def seen(self) -> list[ChildExited]:
        return list(self.reports)


@pytest.fixture
def monitor() -> Any:
    ref = Monitor.start()
    yield ref
    ref.stop(timeout=5)


def spawn(monitor: Any, log: Log, plan: Plan, incarnation: int = 7) -> SupervisedRef:
    link = SupervisionLink(monitor, "probe", incarnation)
    return Probe.spawn(link, (log, plan), {})


def only_report(monitor: Any, log: Log) -> ChildExited:
    """Wait for the probe's thread to end, then return its single report."""
    wait_until(lambda: monitor.proxy().seen().get(timeout=5), what="an exit report")
    for thread in log.threads:
        thread.join(5)
        assert not thread.is_alive()
    reports: list[ChildExited] = monitor.proxy().seen().get(timeout=5)
    assert len(reports) == 1, reports
    return reports[0]


def test_tell_failure_is_reported_once_as_crashed(monitor: Any, log: Log) -> None:
    ref = spawn(monitor, log, Plan())
    ref.tell("crash")
    report = only_report(monitor, log)
    assert (report.child_id, report.incarnation) == ("probe", 7)
    assert report.reason.kind is ExitKind.CRASHED
    assert isinstance(report.reason.error, RuntimeError)
    assert ref.exit_reason == report.reason
    assert log.ids("failure") == ["probe"]  # Pykka's on_failure still ran


def test_on_start_failure_is_reported_once_as_start_failed(monitor: Any, log: Log) -> None:
    spawn(monitor, log, Plan(start_failures=1), incarnation=3)
    report = only_report(monitor, log)
    assert report.incarnation == 3
    assert report.reason.kind is ExitKind.START_FAILED
    assert "refuses to start" in str(report.reason)


def test_normal_self_stop_is_reported_once_as_normal(monitor: Any, log: Log) -> None:
    ref = spawn(monitor, log, Plan())
    ref.tell("stop_self")
    report = only_report(monitor, log)
    assert report.reason.kind is ExitKind.NORMAL
    assert not report.reason.abnormal
    assert log.ids("stop") == ["probe"]


def test_stop_by_someone_else_is_normal_and_by_supervisor_is_shutdown(
    monitor: Any, log: Log
) -> None:
    other = spawn(monitor, log, Plan(), incarnation=1)
    other.stop(timeout=5)
    assert other.wait_exit(5) is not None
    assert other.exit_reason is not None
    assert other.exit_reason.kind is ExitKind.NORMAL
    mine = spawn(monitor, log, Plan(), incarnation=2)
    assert mine.shutdown(timeout=5)
    assert mine.exit_reason is not None
    assert mine.exit_reason.kind is ExitKind.SHUTDOWN
    wait_until(lambda: len(monitor.proxy().seen().get(timeout=5)) == 2)
    kinds = {r.incarnation: r.reason.kind for r in monitor.proxy().seen().get(timeout=5)}
    assert kinds == {1: ExitKind.NORMAL, 2: ExitKind.SHUTDOWN}


def test_on_stop_failure_is_reported_once_as_crashed(monitor: Any, log: Log) -> None:
    ref = spawn(monitor, log, Plan(stop_error=OSError("disk gone")))
    assert ref.shutdown(timeout=5)
    report = only_report(monitor, log)
    assert report.reason.kind is ExitKind.CRASHED
    assert isinstance(report.reason.error, OSError)


@pytest.mark.parametrize("message", ["exit", "interrupt"])
def test_base_exception_in_a_handler_is_a_crash_of_that_actor_only(
    monitor: Any, log: Log, message: str
) -> None:
    bystander = Probe.start(Log())
    ref = spawn(monitor, log, Plan())
    ref.tell(message)
    report = only_report(monitor, log)
    assert report.reason.kind is ExitKind.CRASHED
    assert isinstance(report.reason.error, ActorInterrupted)
    # Pykka alone would have called ActorRegistry.stop_all(): the others live on.
    assert bystander.is_alive()
    assert monitor.is_alive()
    assert bystander.proxy().ping().get(timeout=5) == 1
    assert bystander.shutdown(5)


def test_base_exception_in_on_start_and_on_stop_is_reported(monitor: Any, log: Log) -> None:
    class ExitingStart(Probe):
        def on_start(self) -> None:
            super().on_start()
            raise SystemExit(1)

    link = SupervisionLink(monitor, "probe", 1)
    ExitingStart.spawn(link, (log, Plan()), {})
    report = only_report(monitor, log)
    assert report.reason.kind is ExitKind.START_FAILED
    assert isinstance(report.reason.error, ActorInterrupted)

    log2 = Log()
    ref = spawn(monitor, log2, Plan(stop_error=KeyboardInterrupt()), incarnation=2)
    ref.shutdown(timeout=5)
    assert ref.wait_exit(5) is not None
    assert ref.exit_reason is not None
    assert ref.exit_reason.kind is ExitKind.CRASHED
    assert isinstance(ref.exit_reason.error, ActorInterrupted)


def test_ask_that_raises_goes_to_the_caller_and_the_actor_lives(log: Log) -> None:
    """Pykka's rule: an exception while answering an ask is the caller's, not a crash."""
    ref = Probe.start(log)
    with pytest.raises(ValueError, match="boom"):
        ref.proxy().boom().get(timeout=5)
    assert ref.is_alive()
    assert ref.exit_reason is None
    assert ref.proxy().ping().get(timeout=5) == 1
    assert ref.shutdown(5)


def test_system_exit_in_an_ask_ends_only_that_actor(log: Log) -> None:
    class ExitOnAsk(Probe):
        def quit(self) -> None:
            raise SystemExit(2)

    bystander = Probe.start(Log())
    ref = ExitOnAsk.start(log)
    with pytest.raises(ActorInterrupted, match="SystemExit"):
        ref.proxy().quit().get(timeout=5)
    reason = ref.wait_exit(5)
    assert reason is not None
    assert reason.kind is ExitKind.CRASHED
    assert bystander.is_alive()
    assert bystander.shutdown(5)


def test_start_on_its_own_waits_for_on_start_and_raises_when_it_fails(log: Log) -> None:
    with pytest.raises(StartError, match="refuses to start") as caught:
        Probe.start(log, Plan(start_failures=1))
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert log.ids("start_failed") == ["Probe"]


def test_start_timeout_raises_and_the_late_actor_stops(log: Log) -> None:
    gate = threading.Event()

    class Slow(Probe):
        start_timeout = 0.2

    with pytest.raises(StartError, match=r"did not finish within 0\.2 s"):
        Slow.start(log, Plan(start_gate=gate))
    gate.set()
    wait_until(lambda: log.threads and not log.threads[0].is_alive(), what="late actor ends")
    assert log.ids("start") == ["Slow"]  # it did start late, and then obeyed the stop


def test_ref_as_context_manager_stops_and_reports(log: Log) -> None:
    with Probe.start(log) as ref:
        assert ref.wait_exit(timeout=0.01) is None
        assert ref.exit_reason is None
    assert ref.exit_reason is not None
    assert ref.exit_reason.kind is ExitKind.SHUTDOWN
    assert log.ids("stop") == ["Probe"]


def test_link_latch_wakes_every_waiter_and_times_out_before_set() -> None:
    from yesman_recovery.supervisors.link import Latch

    latch = Latch()
    assert not latch.wait(0)
    assert not latch.wait(0.01)
    woke: list[bool] = []
    waiters = [threading.Thread(target=lambda: woke.append(latch.wait(5))) for _ in range(8)]
    for t in waiters:
        t.start()
    latch.set()
    latch.set()  # a second set is harmless
    for t in waiters:
        t.join(5)
    assert woke == [True] * 8
    assert latch.is_set()
    assert latch.wait(None)


def test_link_latch_callbacks_run_once_when_set_or_at_once_if_set_already() -> None:
    from yesman_recovery.supervisors.link import Latch

    latch = Latch()
    calls: list[str] = []
    latch.add_callback(lambda: calls.append("first"))
    dropped = lambda: calls.append("dropped")  # noqa: E731
    latch.add_callback(dropped)
    latch.remove_callback(dropped)

    def failing() -> None:
        raise ZeroDivisionError("a callback's own bug")

    latch.add_callback(failing)  # a failing callback does not stop the others
    latch.add_callback(lambda: calls.append("second"))
    assert calls == []
    setter = threading.Thread(target=latch.set)
    setter.start()
    setter.join(5)
    assert calls == ["first", "second"]
    latch.set()  # nothing runs twice
    latch.add_callback(lambda: calls.append("late"))  # already set: runs now, in this thread
    assert calls == ["first", "second", "late"]
