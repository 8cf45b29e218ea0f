"""The asyncio bridge: awaits that never block the loop, with timeouts and clean cancellation."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pykka
import pytest

from yesman_recovery import ChildSpec, SupervisedActor, Supervisor, aio
from yesman_recovery.errors import StartError
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.supervisors import ExitKind

from .aio_probes import Ticker, children_of, run
from .probes import Log, Plan, Probe, probe


class Slow(SupervisedActor):
    """Answers after ``delay`` seconds (its thread waits; the caller's loop must not)."""

    def answer(self, delay: float, value: object = "done") -> object:
        threading.Event().wait(delay)
        return value

    def fail(self) -> None:
        raise ValueError("answered with an error")


class PlainSlow(pykka.ThreadingActor):
    def answer(self, delay: float) -> str:
        threading.Event().wait(delay)
        return "plain"


def test_awaiting_a_slow_ask_keeps_the_loop_ticking(metrics: RecoveryMetrics) -> None:
    async def main() -> None:
        async with await aio.start(Supervisor, children=[ChildSpec("slow", Slow)],
                                   metrics=metrics) as root:  # fmt: skip
            slow = await root.proxy().whereis("slow")
            async with Ticker(0.01) as ticker:
                assert await aio.get(slow.proxy().answer(0.3), timeout=5) == "done"
            assert ticker.ticks >= 10  # ~30 expected; Pykka's own await ticks 0 times
            async with Ticker(0.01) as ticker:
                assert await slow.proxy().answer(0.3) == "done"  # a plain await, too
            assert ticker.ticks >= 10

    run(main())


def test_any_pykka_future_can_be_awaited_without_blocking() -> None:
    async def main() -> None:
        plain = PlainSlow.start()
        try:
            async with Ticker(0.01) as ticker:
                assert await aio.get(plain.proxy().answer(0.3), timeout=5) == "plain"
            assert ticker.ticks >= 10
            # A future computed by a get hook cannot call back: it waits in a thread instead.
            mapped = plain.proxy().answer(0.05).map(str.upper)
            assert await aio.get(mapped, timeout=5) == "PLAIN"
        finally:
            plain.stop(timeout=5)

    run(main())


class _OtherCondition:
    """A condition that is not ``threading.Condition``: a future laid out unlike Pykka 4's."""

    def __init__(self) -> None:
        self._inner = threading.Condition()

    def __enter__(self) -> bool:
        return self._inner.__enter__()

    def __exit__(self, *exc: object) -> None:
        self._inner.__exit__(None, None, None)

    def wait(self, timeout: float | None = None) -> bool:
        return self._inner.wait(timeout)

    def notify_all(self) -> None:
        self._inner.notify_all()


def test_a_future_laid_out_unlike_pykka_4s_is_awaited_through_the_public_get() -> None:
    future: pykka.ThreadingFuture[str] = pykka.ThreadingFuture()
    future._condition = _OtherCondition()  # type: ignore[assignment]
    assert aio.add_done_callback(future, lambda: None) is None  # not patched

    async def main() -> None:
        threading.Timer(0.05, future.set, args=("answered",)).start()
        assert await aio.get(future, timeout=5) == "answered"

    run(main())
    assert isinstance(future._condition, _OtherCondition)


def test_await_times_out_and_raises_both_timeout_types(metrics: RecoveryMetrics) -> None:
    async def main() -> None:
        async with await aio.start(Supervisor, children=[ChildSpec("slow", Slow)],
                                   metrics=metrics) as root:  # fmt: skip
            slow = await root.proxy().whereis("slow")
            async with Ticker(0.01) as ticker:
                with pytest.raises(aio.Timeout) as caught:
                    await aio.get(slow.proxy().answer(1.0), timeout=0.2)
            assert isinstance(caught.value, TimeoutError)
            assert isinstance(caught.value, pykka.Timeout)
            assert ticker.ticks >= 5
            with pytest.raises(ValueError, match="answered with an error"):
                await aio.get(slow.proxy().fail(), timeout=5)
            # The actor keeps answering: the late answer of the abandoned call went nowhere.
            assert await aio.get(slow.proxy().answer(0, "next"), timeout=5) == "next"

    run(main())


def test_cancelling_the_awaiting_task_leaks_no_thread_and_no_waiter(
    metrics: RecoveryMetrics,
) -> None:
    async def main() -> None:
        async with await aio.start(Supervisor, children=[ChildSpec("slow", Slow)],
                                   metrics=metrics) as root:  # fmt: skip
            slow = await root.proxy().whereis("slow")
            threads = set(threading.enumerate())
            future = slow.proxy().answer(0.3)
            waiting = [asyncio.create_task(aio.get(future)) for _ in range(20)]
            await asyncio.sleep(0.05)
            assert set(threading.enumerate()) - threads == set()  # no thread per pending await
            for task in waiting:
                task.cancel()
            results = await asyncio.gather(*waiting, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            assert future._condition.callbacks == []  # every waiter detached from the future
            assert future.get(timeout=5) == "done"  # the answer still arrives, to nobody
            await asyncio.sleep(0.01)
            assert set(threading.enumerate()) - threads == set()

    run(main())


def test_many_concurrent_awaits_all_complete_without_threads(metrics: RecoveryMetrics) -> None:
    async def main() -> None:
        specs = [ChildSpec(f"s{i}", Slow) for i in range(4)]
        async with await aio.start(Supervisor, children=specs, metrics=metrics) as root:
            refs = [await root.proxy().whereis(f"s{i}") for i in range(4)]
            threads = set(threading.enumerate())
            calls = [aio.get(refs[n % 4].proxy().answer(0.001, n), 10) for n in range(400)]
            assert await asyncio.gather(*calls) == list(range(400))
            assert set(threading.enumerate()) - threads == set()

    run(main())


def test_start_shutdown_and_wait_exit_awaited(log: Log, metrics: RecoveryMetrics) -> None:
    async def main() -> None:
        root = await aio.start(Supervisor, children=[probe("a", log)], metrics=metrics)
        child = await root.proxy().whereis("a")
        child.tell("crash")
        reason = await aio.wait_exit(child, timeout=5)
        assert reason is not None
        assert reason.kind is ExitKind.CRASHED
        assert (await children_of(root))["a"].incarnation == 2  # the supervisor took it in
        assert await aio.shutdown(root, timeout=5)
        assert log.ids("stop") == ["a"]
        assert await aio.wait_exit(root, timeout=0) is not None
        with pytest.raises(StartError, match="refuses to start"):
            await aio.start(Supervisor, children=[probe("b", log, Plan(start_failures=1))],
                            metrics=metrics)  # fmt: skip

    run(main())


def test_stop_future_of_a_tree_is_awaitable(log: Log, metrics: RecoveryMetrics) -> None:
    async def main() -> None:
        root = await aio.start(Supervisor, children=[probe("a", log, Plan(stop_delay=0.2))],
                               metrics=metrics)  # fmt: skip
        async with Ticker(0.01) as ticker:
            assert await aio.get(root.stop(block=False), timeout=5) is True
        assert ticker.ticks >= 5
        assert log.ids("stop") == ["a"]

    run(main())


def test_awaiting_outside_asyncio_falls_back_to_pykka() -> None:
    ref = Probe.start(Log())
    try:
        future: Any = ref.proxy().ping()
        gen = future.__await__()  # what a non-asyncio framework would drive
        next(gen)  # Pykka's await yields once, then waits in get()
        with pytest.raises(StopIteration) as done:
            gen.send(None)
        assert done.value.value == 1
    finally:
        ref.stop(timeout=5)
