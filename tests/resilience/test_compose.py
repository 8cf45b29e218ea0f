"""Retry → breaker → fallback in one call, and policies and breakers looked up by name."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.resilience.conftest import FakeClock, sample
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.resilience import (
    BreakerPolicy,
    CallNotPermitted,
    CircuitBreaker,
    Resilience,
    Resilient,
    Retry,
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    UnknownNameError,
    breaker,
    configure,
    policy,
)


def divide_by_zero() -> object:
    """Fails; typed ``object`` because a fallback answers for it with a value of its own type."""
    return 1 / 0


def parts(
    clock: FakeClock, metrics: RecoveryMetrics, **breaker_opts: Any
) -> tuple[Retry, CircuitBreaker]:
    retry = Retry("api", RetryPolicy(attempts=5), metrics=metrics, clock=clock,
                  sleep=clock.sleep, async_sleep=clock.async_sleep)  # fmt: skip
    return retry, CircuitBreaker("api", BreakerPolicy(**breaker_opts), metrics=metrics,
                                 clock=clock)  # fmt: skip


def test_the_breaker_inside_the_retry_counts_every_attempt(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry, brk = parts(clock, metrics, consecutive_failures=10)
    calls = 0

    def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionError("reset")
        return "ok"

    assert Resilient(retry=retry, breaker=brk).call(flaky) == "ok"
    assert sample(metrics, "yesman_recovery_circuit_breaker_calls_total", breaker="api",
                  kind="failed") == 3  # fmt: skip


def test_an_open_breaker_ends_the_retries_and_the_fallback_gets_the_reason(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry, brk = parts(clock, metrics, consecutive_failures=2, open_duration=60)
    reasons: list[BaseException] = []
    calls = 0

    def down() -> str:
        nonlocal calls
        calls += 1
        raise ConnectionError("refused")

    def cached(reason: BaseException) -> str:
        reasons.append(reason)
        return "cached"

    guarded = Resilient(retry=retry, breaker=brk, fallback=cached)
    assert guarded.call(down) == "cached"
    assert calls == 2  # the third attempt met the open breaker, which is never retried
    assert isinstance(reasons[0], CallNotPermitted)
    assert guarded.call(down) == "cached"
    assert calls == 2  # refused at once: the dependency is not hammered


def test_the_fallback_answers_exhausted_retries_with_the_last_error(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry, _ = parts(clock, metrics)
    guarded = Resilient(retry=retry, fallback=lambda reason: f"fallback: {reason}")
    assert guarded.call(divide_by_zero) == "fallback: division by zero"
    assert Resilient(retry=retry, fallback=42).call(divide_by_zero) == 42


def test_the_fallback_answers_an_empty_budget(clock: FakeClock, metrics: RecoveryMetrics) -> None:
    retry = Retry("git", RetryPolicy(attempts=3), budget=RetryBudget(1, 0), metrics=metrics,
                  clock=clock, sleep=clock.sleep)  # fmt: skip
    got = Resilient(retry=retry, fallback=type).call(divide_by_zero)
    assert got is RetryBudgetExhausted


def test_fallback_on_narrows_what_the_fallback_answers(metrics: RecoveryMetrics) -> None:
    guarded = Resilient(fallback="cached", fallback_on=(ConnectionError,))
    assert guarded.call(lambda: (_ for _ in ()).throw(ConnectionError())) == "cached"
    with pytest.raises(ZeroDivisionError):
        guarded.call(lambda: 1 / 0)


def test_async_composition_awaits_a_coroutine_fallback_and_never_answers_a_cancel(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry, brk = parts(clock, metrics, consecutive_failures=1, open_duration=60)

    async def fallback(reason: BaseException) -> str:
        return f"cached ({type(reason).__name__})"

    guarded = Resilient(retry=retry, breaker=brk, fallback=fallback, fallback_on=(BaseException,))

    @guarded
    async def down() -> str:
        raise ConnectionError("refused")

    async def hang() -> str:
        await asyncio.Event().wait()
        return "never"

    async def main() -> str:
        answer = await down()
        brk.reset()
        with pytest.raises(TimeoutError):  # the cancel went through: no fallback for it
            await asyncio.wait_for(guarded.acall(hang), 0.01)
        return answer

    assert asyncio.run(main()) == "cached (CallNotPermitted)"


# --- by name ------------------------------------------------------------------------------


def test_an_unknown_name_lists_the_known_ones(metrics: RecoveryMetrics) -> None:
    res = Resilience({"model-api": RetryPolicy()}, {"git": BreakerPolicy(), "llm": BreakerPolicy()},
                     metrics=metrics)  # fmt: skip
    with pytest.raises(UnknownNameError, match=r"no circuit breaker named 'tmux'; known: git, llm"):
        res.breaker("tmux")
    with pytest.raises(LookupError, match=r"no retry policy named 'x'; known: model-api"):
        res.policy("x")
    with pytest.raises(ValueError, match="already exists"):
        res.add_breaker("git")
    assert res.breaker("git") is res.breaker("git")  # shared by name
    assert [b.name for b in res.breakers()] == ["git", "llm"]


def test_configure_reads_the_tables_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '[retry.model-api]\nattempts = 4\ninitial_delay = "200ms"\njitter = "decorrelated"\n'
        '[breakers.model-api]\nfailure_rate = 50\nminimum_calls = 20\nopen_duration = "1m"\n'
    )
    res = configure(path, metrics=RecoveryMetrics())
    assert policy("model-api").policy.attempts == 4
    assert policy("model-api").policy.initial_delay == 0.2
    assert breaker("model-api").policy.open_duration == 60.0
    assert res.breaker("model-api") is breaker("model-api")
    # a fresh registry's series are at 0 before any call
    assert res.metrics.registry.get_sample_value(
        "yesman_recovery_retry_calls_total", {"policy": "model-api", "kind": "failed_with_retry"}
    ) == 0  # fmt: skip
    path.write_text('[retry.model-api]\njitter = "ful"\n')
    with pytest.raises(ValueError, match=r'retry.model-api.jitter = "ful": must be one of'):
        configure(path)
