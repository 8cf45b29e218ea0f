"""Retry policies for coroutines: per-attempt timeouts, the deadline, and clean cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.resilience.conftest import FakeClock, sample
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.resilience import Jitter, Retry, RetryPolicy

CALLS = "yesman_recovery_retry_calls_total"


class Hang:
    """A coroutine function that never returns; records how many times it started and ended."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0

    async def __call__(self) -> str:
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return "never"


def test_a_decorated_coroutine_is_retried(clock: FakeClock, metrics: RecoveryMetrics) -> None:
    retry = Retry("llm", RetryPolicy(attempts=4), metrics=metrics, clock=clock,
                  async_sleep=clock.async_sleep)  # fmt: skip
    calls = 0

    @retry
    async def ask(prompt: str) -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("reset")
        return prompt.upper()

    assert asyncio.run(ask("hi")) == "HI"
    assert ask.__name__ == "ask"
    assert calls == 3
    assert len(clock.sleeps) == 2
    assert sample(metrics, CALLS, policy="llm", kind="successful_with_retry") == 1


def test_each_attempt_is_bounded_by_the_attempt_timeout(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = Retry("llm", RetryPolicy(attempts=3, attempt_timeout=0.05), metrics=metrics,
                  async_sleep=clock.async_sleep)  # fmt: skip
    hang = Hang()
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(retry.acall(hang))
    assert time.monotonic() - began < 5  # three 50 ms attempts, not a hang
    assert (hang.started, hang.cancelled) == (3, 3)
    assert len(clock.sleeps) == 2
    assert sample(metrics, CALLS, policy="llm", kind="failed_with_retry") == 1


def test_an_attempt_never_outlives_the_deadline(metrics: RecoveryMetrics) -> None:
    retry = Retry("llm", RetryPolicy(attempts=50, deadline=0.2, initial_delay=0.01),
                  metrics=metrics)  # fmt: skip
    hang = Hang()
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        asyncio.run(retry.acall(hang))
    assert time.monotonic() - began < 5
    assert hang.started == 1  # the first attempt used the whole deadline: no retry after it


def test_wait_for_around_a_retried_coroutine_cancels_it_cleanly(
    metrics: RecoveryMetrics,
) -> None:
    retry = Retry("llm", RetryPolicy(attempts=100, retry_on=(BaseException,)), metrics=metrics)
    hang = Hang()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(retry.acall(hang), 0.05)

    asyncio.run(main())
    assert (hang.started, hang.cancelled) == (1, 1)  # cancelled once, never started again
    assert sample(metrics, CALLS, policy="llm", kind="failed_with_retry") == 0
    assert sample(metrics, CALLS, policy="llm", kind="failed_without_retry") == 0


def test_cancelling_during_the_backoff_sleep_ends_the_call(metrics: RecoveryMetrics) -> None:
    retry = Retry("llm", RetryPolicy(attempts=5, initial_delay=30, max_delay=30,
                                     jitter=Jitter.NONE), metrics=metrics)  # fmt: skip
    calls = 0

    async def fail() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("reset")

    async def main() -> None:
        task = asyncio.create_task(retry.acall(fail))
        while calls == 0:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    began = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - began < 5  # not the 30 s backoff
    assert calls == 1


def test_a_coroutine_raising_cancelled_error_is_not_retried(metrics: RecoveryMetrics) -> None:
    retry = Retry("llm", RetryPolicy(attempts=5, retry_on=(BaseException,)), metrics=metrics)
    calls = 0

    async def cancelled() -> None:
        nonlocal calls
        calls += 1
        raise asyncio.CancelledError

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await retry.acall(cancelled)

    asyncio.run(main())
    assert calls == 1
