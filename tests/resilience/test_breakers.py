"""The breaker's thread- and task-safe front: concurrency, half-open probes, overrides, reports."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from tests.resilience.conftest import FakeClock, sample, state_of
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.resilience import (
    BreakerPolicy,
    BreakerState,
    CallNotPermitted,
    CircuitBreaker,
    Transition,
)
from yesman_recovery.storage import open_store

STATE = "yesman_recovery_circuit_breaker_state"
CALLS = "yesman_recovery_circuit_breaker_calls_total"
TRANSITIONS = "yesman_recovery_circuit_breaker_transitions_total"


def boom() -> None:
    raise ConnectionError("refused")


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


def tripped(clock: FakeClock, metrics: RecoveryMetrics, probes: int) -> CircuitBreaker:
    """A breaker that just opened (one failure trips it), its open period over on ``clock``."""
    breaker = CircuitBreaker("api", BreakerPolicy(consecutive_failures=1, half_open_calls=probes,
                             open_duration=5.0), metrics=metrics, clock=clock)  # fmt: skip
    with pytest.raises(ConnectionError):
        breaker.call(boom)
    assert state_of(breaker) is BreakerState.OPEN
    clock.advance(5.0)
    return breaker


def test_every_series_exists_when_the_breaker_is_created(metrics: RecoveryMetrics) -> None:
    CircuitBreaker("git", metrics=metrics)
    for kind in ("successful", "failed", "not_permitted", "slow"):
        assert sample(metrics, CALLS, breaker="git", kind=kind) == 0
    states = {s.value: sample(metrics, STATE, breaker="git", state=s.value) for s in BreakerState}
    assert states == {"closed": 1, "open": 0, "half_open": 0, "forced_open": 0, "disabled": 0}
    assert sample(metrics, TRANSITIONS, breaker="git", **{"from": "closed", "to": "open"}) == 0
    assert sample(metrics, TRANSITIONS, breaker="git", **{"from": "half_open", "to": "closed"}) == 0


def test_eight_threads_run_their_calls_at_the_same_time(metrics: RecoveryMetrics) -> None:
    breaker = CircuitBreaker("api", metrics=metrics)
    together = threading.Barrier(8)
    results: list[object] = []

    def call() -> None:
        # Every thread must be inside the protected call at once to pass the barrier: a
        # breaker holding a lock around the call would break it after the timeout.
        results.append(breaker.call(together.wait, timeout=10))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 8
    assert sample(metrics, CALLS, breaker="api", kind="successful") == 8


def test_of_eight_threads_only_the_allowed_probes_run_while_half_open(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    breaker = tripped(clock, metrics, probes=3)
    release = threading.Event()
    entered = threading.Semaphore(0)
    start = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def probe() -> str:
        entered.release()
        release.wait(timeout=10)
        return "ok"

    def worker() -> None:
        start.wait(timeout=10)
        try:
            outcome = breaker.call(probe)
        except CallNotPermitted:
            outcome = "refused"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: outcomes.count("refused") == 5)
    assert all(entered.acquire(timeout=10) for _ in range(3))
    assert not entered.acquire(timeout=0.05)  # a fourth probe never started
    assert state_of(breaker) is BreakerState.HALF_OPEN
    release.set()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert state_of(breaker) is BreakerState.CLOSED  # the three probes passed
    assert sample(metrics, CALLS, breaker="api", kind="not_permitted") == 5


def test_of_a_hundred_tasks_only_the_allowed_probes_run_while_half_open(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    breaker = tripped(clock, metrics, probes=5)

    async def main() -> list[str]:
        release = asyncio.Event()
        running = 0

        async def probe() -> str:
            nonlocal running
            running += 1
            await release.wait()
            return "ok"

        async def task() -> str:
            try:
                return await breaker.acall(probe)
            except CallNotPermitted:
                return "refused"

        tasks = [asyncio.create_task(task()) for _ in range(100)]
        while sum(t.done() for t in tasks) < 95:
            await asyncio.sleep(0.001)
        assert running == 5  # the five probes are all in flight at once, the rest refused
        release.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), 10)

    outcomes = asyncio.run(main())
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 95
    assert state_of(breaker) is BreakerState.CLOSED


def test_a_hundred_tasks_run_concurrently_through_a_closed_breaker(
    metrics: RecoveryMetrics,
) -> None:
    breaker = CircuitBreaker("api", metrics=metrics)

    async def main() -> int:
        everyone_in = asyncio.Event()
        inside = 0

        async def call() -> None:
            nonlocal inside
            inside += 1
            if inside == 100:
                everyone_in.set()
            await everyone_in.wait()

        await asyncio.wait_for(asyncio.gather(*(breaker.acall(call) for _ in range(100))), 10)
        return inside

    assert asyncio.run(main()) == 100


def test_a_cancelled_probe_frees_its_slot(clock: FakeClock, metrics: RecoveryMetrics) -> None:
    breaker = tripped(clock, metrics, probes=1)

    async def main() -> str:
        async def hang() -> None:
            await asyncio.Event().wait()

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(breaker.acall(hang), 0.01)

        async def ok() -> str:
            return "ok"

        return await breaker.acall(ok)

    assert asyncio.run(main()) == "ok"
    assert state_of(breaker) is BreakerState.CLOSED


def test_forced_states_override_the_circuit(metrics: RecoveryMetrics) -> None:
    breaker = CircuitBreaker("api", BreakerPolicy(consecutive_failures=2), metrics=metrics)
    breaker.force_open()
    with pytest.raises(CallNotPermitted, match="circuit breaker 'api' is forced-open"):
        breaker.call(lambda: "never")
    assert sample(metrics, STATE, breaker="api", state="forced_open") == 1
    assert sample(metrics, STATE, breaker="api", state="closed") == 0
    breaker.disable()
    for _ in range(10):
        with pytest.raises(ConnectionError):
            breaker.call(boom)
    assert state_of(breaker) is BreakerState.DISABLED  # never trips
    breaker.close()
    assert breaker.call(lambda: "ok") == "ok"
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(boom)
    assert state_of(breaker) is BreakerState.OPEN
    breaker.reset()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.describe()["trips"] == 0
    assert sample(metrics, TRANSITIONS, breaker="api", **{"from": "closed", "to": "open"}) == 1
    assert sample(metrics, STATE, breaker="api", state="closed") == 1


def test_slow_calls_count_as_failures(clock: FakeClock, metrics: RecoveryMetrics) -> None:
    breaker = CircuitBreaker("api", BreakerPolicy(consecutive_failures=2, slow_call_duration=1.0),
                             metrics=metrics, clock=clock)  # fmt: skip

    def slow() -> str:
        clock.advance(1.5)
        return "late"

    assert breaker.call(slow) == "late"
    assert breaker.call(slow) == "late"
    assert state_of(breaker) is BreakerState.OPEN
    assert sample(metrics, CALLS, breaker="api", kind="slow") == 2
    assert sample(metrics, CALLS, breaker="api", kind="successful") == 2


def test_ignored_exceptions_are_neither_success_nor_failure(metrics: RecoveryMetrics) -> None:
    breaker = CircuitBreaker("api", BreakerPolicy(consecutive_failures=1, ignore_on=(KeyError,)),
                             metrics=metrics)  # fmt: skip

    def missing() -> None:
        raise KeyError("x")

    for _ in range(5):
        with pytest.raises(KeyError):
            breaker.call(missing)
    assert state_of(breaker) is BreakerState.CLOSED
    assert sample(metrics, CALLS, breaker="api", kind="failed") == 0


def test_transitions_go_to_the_audit_trail_and_listeners(
    tmp_path: Path, clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    seen: list[Transition] = []

    def broken_listener(_b: CircuitBreaker, _t: Transition) -> None:
        raise RuntimeError("a listener bug must not fail the call")

    with open_store(tmp_path / "state") as store:
        breaker = CircuitBreaker(
            "model-api", BreakerPolicy(consecutive_failures=1, open_duration=2), metrics=metrics,
            audit=store.audit, clock=clock,
            listeners=(broken_listener, lambda _b, t: seen.append(t)),
        )  # fmt: skip
        with pytest.raises(ConnectionError):
            breaker.call(boom)
        clock.advance(2)
        assert breaker.call(lambda: "ok") == "ok"
        events = store.audit.query(kind="breaker", subject="model-api")
    assert [e.outcome for e in reversed(events)] == ["open", "half_open", "closed"]
    assert events[-1].detail.startswith("closed -> open: 1 consecutive failures; open for 2s")
    assert [(t.from_state.value, t.to_state.value) for t in seen] == [
        ("closed", "open"), ("open", "half_open"), ("half_open", "closed"),
    ]  # fmt: skip


def test_the_decorator_keeps_the_function(metrics: RecoveryMetrics) -> None:
    breaker = CircuitBreaker("api", metrics=metrics)

    @breaker
    def add(a: int, b: int) -> int:
        return a + b

    @breaker
    async def aadd(a: int, b: int) -> int:
        return a + b

    assert add(1, 2) == 3
    assert asyncio.run(aadd(2, 3)) == 5
    assert add.__name__ == "add"
    assert repr(breaker) == "CircuitBreaker('api', state='closed')"
