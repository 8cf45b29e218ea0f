"""Coroutine children: tasks on the host's loop under the same supervisors as actors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from yesman_recovery import Backoff, ChildSpec, Restart, Strategy, Supervisor, aio
from yesman_recovery.errors import StartError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.supervisors import ManualClock, ManualScheduler, TaskRef

from .aio_probes import Commands, Ticker, children_of, eventually, run, running, task_probe
from .conftest import sample
from .probes import Log, probe


def mixed(log: Log, commands: Commands) -> list[ChildSpec]:
    """Thread ``a``, task ``b``, thread ``c``: one tree, both kinds."""
    return [probe("a", log), task_probe("b", log, commands), probe("c", log)]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (Strategy.ONE_FOR_ONE, [("failure", "b"), ("start", "b")]),
        (Strategy.ONE_FOR_ALL, [("failure", "b"), ("stop", "c"), ("stop", "a"),
                                ("start", "a"), ("start", "b"), ("start", "c")]),
        (Strategy.REST_FOR_ONE, [("failure", "b"), ("stop", "c"), ("start", "b"),
                                 ("start", "c")]),
    ],
)  # fmt: skip
def test_a_crashing_task_is_restarted_under_each_strategy_in_a_mixed_tree(
    log: Log, metrics: RecoveryMetrics, strategy: Strategy, expected: list[tuple[str, str]]
) -> None:
    async def main() -> None:
        commands = Commands()
        async with await aio.start(Supervisor, children=mixed(log, commands), strategy=strategy,
                                   metrics=metrics) as root:  # fmt: skip
            assert log.ids("start") == ["a", "b", "c"]
            log.clear()
            old = await root.proxy().whereis("b")
            assert isinstance(old, TaskRef)
            commands.send("b", "crash")
            await running(root, "b", 2)
            await running(root, "c", 1 if strategy is Strategy.ONE_FOR_ONE else 2)
            assert [(w, c) for w, c, _ in log.events()] == expected
            assert old.task is not None
            assert old.task.done()
            info = (await children_of(root))["b"]
            assert info.last_exit == "crashed: RuntimeError('b crashed on purpose')"
        assert log.ids("stop")[-3:] == ["c", "b", "a"]  # the tree stopped in reverse order

    run(main())


def test_a_thread_crash_restarts_task_siblings_in_order(log: Log, metrics: RecoveryMetrics) -> None:
    async def main() -> None:
        commands = Commands()
        specs = mixed(log, commands)
        async with await aio.start(Supervisor, children=specs, strategy=Strategy.ONE_FOR_ALL,
                                   metrics=metrics) as root:  # fmt: skip
            log.clear()
            (await root.proxy().whereis("a")).tell("crash")
            await running(root, "c", 2)
            assert [(w, c) for w, c, _ in log.events()] == [
                ("failure", "a"), ("stop", "c"), ("stop", "b"),
                ("start", "a"), ("start", "b"), ("start", "c"),
            ]  # fmt: skip

    run(main())


@pytest.mark.parametrize(
    ("restart", "command", "restarted"),
    [
        (Restart.PERMANENT, "return", True),
        (Restart.TRANSIENT, "return", False),
        (Restart.TRANSIENT, "crash", True),
        (Restart.TRANSIENT, "exit", True),
        (Restart.TEMPORARY, "crash", False),
    ],
)
def test_restart_types_for_tasks(
    log: Log, metrics: RecoveryMetrics, restart: Restart, command: str, restarted: bool
) -> None:
    async def main() -> None:
        commands = Commands()
        spec = task_probe("t", log, commands, restart=restart)
        async with await aio.start(Supervisor, children=[spec], metrics=metrics) as root:
            old = await root.proxy().whereis("t")
            commands.send("t", command)
            reason = await aio.wait_exit(old, timeout=5)
            assert reason is not None
            assert reason.abnormal == (command != "return")
            if restarted:
                await running(root, "t", 2)
            elif restart is Restart.TEMPORARY:
                assert await children_of(root) == {}
            else:
                assert (await children_of(root))["t"].state == "stopped"

    run(main())


def test_an_async_function_is_a_child_and_its_return_is_a_normal_exit(
    metrics: RecoveryMetrics,
) -> None:
    runs: list[int] = []

    async def fetch(pages: asyncio.Queue[int]) -> None:
        runs.append(await pages.get())  # one page per incarnation, then return normally

    async def main() -> None:
        pages: asyncio.Queue[int] = asyncio.Queue()
        spec = ChildSpec("fetch", fetch, args=(pages,), restart=Restart.TRANSIENT)
        assert (spec.shutdown, spec.start_timeout) == (5.0, 10.0)
        async with await aio.start(Supervisor, children=[spec], metrics=metrics) as root:
            pages.put_nowait(1)

            async def stopped() -> bool:
                return (await children_of(root))["fetch"].state == "stopped"

            await eventually(stopped)
            assert (await children_of(root))["fetch"].last_exit == "normal"
            await aio.get(root.proxy().restart_child("fetch"), 5)
            pages.put_nowait(2)
            await eventually(stopped)
        assert runs == [1, 2]

    run(main())


def test_intensity_counts_task_restarts_and_the_supervisor_gives_up(
    log: Log, metrics: RecoveryMetrics
) -> None:
    async def main() -> None:
        commands = Commands()
        specs = [task_probe("t", log, commands), probe("w", log)]
        root = await aio.start(Supervisor, children=specs, max_restarts=2, max_seconds=60,
                               metrics=metrics, name="app")  # fmt: skip
        for n in range(1, 4):
            await running(root, "t", n)
            commands.send("t", "crash")
        reason = await aio.wait_exit(root, timeout=5)
        assert reason is not None
        assert "RestartIntensityExceeded" in str(reason)
        assert log.ids("stop") == ["w"]  # the thread sibling was stopped when it gave up
        assert sample(metrics, "restart_intensity_exceeded_total", supervisor="app") == 1

    run(main())


def test_backoff_delays_a_task_restart_and_the_loop_keeps_going(
    log: Log, metrics: RecoveryMetrics
) -> None:
    clock = ManualClock()
    scheduler = ManualScheduler(clock)

    async def main() -> None:
        commands = Commands()
        steps = Backoff(initial=2.0, jitter=0.0)
        spec = task_probe("t", log, commands, backoff=steps)
        async with await aio.start(Supervisor, children=[spec], clock=clock,
                                   scheduler=scheduler, metrics=metrics) as root:  # fmt: skip
            commands.send("t", "crash")

            async def restarting() -> bool:
                return (await children_of(root))["t"].state == "restarting"

            await eventually(restarting)
            assert scheduler.pending() == [clock.monotonic() + 2.0]
            scheduler.advance(2.0)
            await running(root, "t", 2)

    run(main())


def test_shutdown_cancels_then_abandons_a_task_that_ignores_it(
    log: Log, metrics: RecoveryMetrics
) -> None:
    async def main() -> None:
        commands = Commands()
        specs = [task_probe("polite", log, commands),
                 task_probe("stuck", log, commands, shutdown=0.2)]  # fmt: skip
        root = await aio.start(Supervisor, children=specs, metrics=metrics, name="app")
        stuck: Any = await root.proxy().whereis("stuck")
        commands.send("stuck", "hold")
        await asyncio.sleep(0.01)
        async with Ticker(0.01) as ticker:
            assert await aio.shutdown(root, timeout=10)
        assert ticker.ticks >= 5  # the loop ran the cancellations while the tree stopped
        assert log.ids("ignored_cancel") == ["stuck"]
        assert log.ids("stop") == ["polite"]  # stopped, and told so by on_exit(shutdown)
        assert sample(metrics, "children_abandoned_total", supervisor="app") == 1
        assert not stuck.task.done()  # abandoned: still running, no longer supervised
        commands.send("stuck", "release")
        await aio.wait_exit(stuck, timeout=5)

    run(main())


def test_task_worker_that_fails_to_start_fails_the_supervisor_start(
    log: Log, metrics: RecoveryMetrics
) -> None:
    async def main() -> None:
        commands = Commands()
        specs = [probe("a", log),
                 task_probe("t", log, commands, plan={"start_failures": 1})]  # fmt: skip
        with pytest.raises(StartError, match=r"'t' failed to start.*refuses to start"):
            await aio.start(Supervisor, children=specs, metrics=metrics)
        assert log.ids("stop") == ["a"]

    run(main())


def test_blocking_start_and_stop_from_the_children_loop_are_refused(
    log: Log, metrics: RecoveryMetrics
) -> None:
    async def main() -> None:
        commands = Commands()
        with pytest.raises(RuntimeError, match=r"await yesman_recovery.aio.start"):
            Supervisor.start(children=[task_probe("t", log, commands)], metrics=metrics)
        root = await aio.start(Supervisor, children=[task_probe("t", log, commands)],
                               metrics=metrics)  # fmt: skip
        with pytest.raises(RuntimeError, match=r"aio.shutdown"):
            root.shutdown(5)
        with pytest.raises(RuntimeError, match=r"aio.shutdown"):
            root.stop()
        assert await aio.shutdown(root, 5)

    run(main())


def test_a_task_child_on_another_thread_loop_works_from_plain_threads(
    log: Log, metrics: RecoveryMetrics
) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        spec = ChildSpec("t", _TaskOn, args=(log,), loop=loop)
        with Supervisor.start(children=[spec], metrics=metrics) as root:
            old = root.proxy().whereis("t").get(timeout=5)
            loop.call_soon_threadsafe(old.task.cancel)  # cancelled by someone else: normal
            assert old.wait_exit(5).kind.value == "normal"
            new = root.proxy().whereis("t").get(timeout=5)
            assert new.incarnation == 2
        assert new.exit_reason is not None
        assert new.exit_reason.kind.value == "shutdown"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


async def _TaskOn(log: Log) -> None:
    await asyncio.Event().wait()


def test_coroutine_spec_needs_a_loop_outside_one() -> None:
    async def work() -> None:
        pass

    with pytest.raises(ValueError, match="outside a running event loop: pass `loop=`"):
        ChildSpec("w", work)
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="`loop` is for coroutine children only"):
            ChildSpec("s", Supervisor, loop=loop)
    finally:
        loop.close()
    assert ChildSpec("s", Supervisor).shutdown is None
