"""Retry policies: attempts, deadline, Retry-After, results, interrupts, metrics and the budget."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from tests.resilience.conftest import FakeClock, sample
from yesman_recovery.metrics.definitions import RecoveryMetrics
from yesman_recovery.resilience import (
    Jitter,
    Retry,
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
    retry_after,
)

CALLS = "yesman_recovery_retry_calls_total"


class Flaky:
    """Fails ``failures`` times with ``error``, then returns ``"ok"``; counts its calls."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionError("upstream reset the connection")
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def make(clock: FakeClock, metrics: RecoveryMetrics, **policy: Any) -> Retry:
    return Retry(
        "api", RetryPolicy(**policy), metrics=metrics, clock=clock, sleep=clock.sleep,
        async_sleep=clock.async_sleep,
    )  # fmt: skip


def kinds(metrics: RecoveryMetrics, policy: str = "api") -> dict[str, float | None]:
    names = ("successful_without_retry", "successful_with_retry", "failed_without_retry",
             "failed_with_retry")  # fmt: skip
    return {k: sample(metrics, CALLS, policy=policy, kind=k) for k in names}


def test_every_series_exists_at_zero_when_the_policy_is_created(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    make(clock, metrics, budget_tokens=7)
    assert set(kinds(metrics).values()) == {0.0}
    assert sample(metrics, "yesman_recovery_retry_budget_tokens", policy="api") == 7.0


def test_a_flaky_call_succeeds_after_backing_off_within_the_jitter_bounds(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = make(clock, metrics, attempts=5, initial_delay=0.5, max_delay=3.0, jitter="full")
    flaky = Flaky(3)
    assert retry(flaky)() == "ok"
    assert flaky.calls == 4
    assert len(clock.sleeps) == 3
    for n, slept in enumerate(clock.sleeps, start=1):
        assert 0 <= slept <= min(3.0, 0.5 * 2 ** (n - 1))
    assert kinds(metrics)["successful_with_retry"] == 1


def test_when_attempts_run_out_the_last_error_is_raised_as_it_was(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = make(clock, metrics, attempts=3, jitter=Jitter.NONE, initial_delay=1.0)
    flaky = Flaky(10)
    with pytest.raises(ConnectionError, match="upstream reset"):
        retry.call(flaky)
    assert flaky.calls == 3
    assert clock.sleeps == [1.0, 2.0]
    assert kinds(metrics)["failed_with_retry"] == 1


def test_errors_outside_retry_on_are_not_retried(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = make(clock, metrics, retry_on=(ConnectionError,))
    flaky = Flaky(1, ValueError("bad prompt"))
    with pytest.raises(ValueError, match="bad prompt"):
        retry.call(flaky)
    assert flaky.calls == 1
    assert kinds(metrics)["failed_without_retry"] == 1


def test_the_deadline_is_kept_with_a_fake_clock_and_no_real_sleep(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = make(clock, metrics, attempts=1000, deadline=10.0, initial_delay=1.0,
                 multiplier=1.0, jitter="none")  # fmt: skip
    start = clock.now
    started: list[float] = []

    def slow_failure() -> None:
        started.append(clock.now - start)
        clock.advance(2.0)  # each attempt takes 2 s of the fake clock
        raise TimeoutError("model API timed out")

    with pytest.raises(TimeoutError):
        retry.call(slow_failure)
    # 2 s attempt + 1 s sleep: attempts start at 0, 3, 6, 9 s; the next would start at 12 s,
    # past the 10 s deadline, so the policy gives up at 11 s without sleeping again. (A plain
    # call cannot be interrupted: the last attempt may run past the deadline.)
    assert started == [0.0, 3.0, 6.0, 9.0]
    assert clock.sleeps == [1.0, 1.0, 1.0]
    assert clock.now - start == 11.0


def test_a_sleep_that_would_end_past_the_deadline_is_not_taken(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = make(clock, metrics, attempts=10, deadline=5.0, initial_delay=8.0,
                 max_delay=8.0, jitter="none")  # fmt: skip
    flaky = Flaky(5)
    with pytest.raises(ConnectionError):
        retry.call(flaky)
    assert flaky.calls == 1
    assert clock.sleeps == []


class Throttled(Exception):
    def __init__(self, retry_after: Any) -> None:
        super().__init__("429 Too Many Requests")
        self.retry_after = retry_after


class Response:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


class HTTPError(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("503 Service Unavailable")
        self.response = Response(headers)


def test_a_retry_after_longer_than_the_backoff_is_honoured(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = make(clock, metrics, attempts=2, initial_delay=0.1, jitter="none")
    assert retry.call(Flaky(1, Throttled(7))) == "ok"
    assert clock.sleeps == [7.0]


def test_retry_after_is_read_from_attributes_and_headers() -> None:
    assert retry_after(Throttled(3)) == 3.0
    assert retry_after(Throttled(timedelta(seconds=90))) == 90.0
    assert retry_after(HTTPError({"Retry-After": "12"})) == 12.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < (retry_after(HTTPError({"Retry-After": later})) or 0) <= 120
    assert retry_after(HTTPError({})) is None
    assert retry_after(ValueError()) is None
    assert retry_after(Throttled("soon")) is None


def test_bad_results_are_retried_and_the_last_one_is_returned(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    answers = iter([None, None, None, "late"])
    retry = make(clock, metrics, attempts=3, retry_if_result=lambda r: r is None)
    assert retry.call(lambda: next(answers)) is None
    assert kinds(metrics)["failed_with_retry"] == 1
    answers = iter([None, "ok"])
    assert retry.call(lambda: next(answers)) == "ok"
    assert kinds(metrics)["successful_with_retry"] == 1


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
def test_interrupts_are_never_retried_even_when_retry_on_says_so(
    clock: FakeClock, metrics: RecoveryMetrics, interrupt: BaseException
) -> None:
    retry = make(clock, metrics, attempts=5, retry_on=(BaseException,))
    flaky = Flaky(5, interrupt)
    with pytest.raises(type(interrupt)):
        retry.call(flaky)
    assert flaky.calls == 1
    assert set(kinds(metrics).values()) == {0.0}  # an interrupt is not a failed call


def test_one_policy_serves_nested_calls(clock: FakeClock, metrics: RecoveryMetrics) -> None:
    retry = make(clock, metrics, attempts=3)
    inner = Flaky(1)
    outer = Flaky(1)

    def both() -> str:
        outer()
        return retry.call(inner)

    assert retry.call(both) == "ok"
    assert (inner.calls, outer.calls) == (2, 2)  # each call kept its own attempt count


def test_the_python_api_refuses_bad_values_in_the_words_of_the_config() -> None:
    with pytest.raises(ValueError, match=r"`jitter` = 'ful': must be one of \"full\", \"equal\""):
        RetryPolicy(jitter="ful")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"`max_delay` = 1.0: must be >= initial_delay \(2s\)"):
        RetryPolicy(initial_delay=2.0, max_delay=1.0)
    with pytest.raises(ValueError, match=r"`multiplier` = -1: must be a number >= 1"):
        RetryPolicy(multiplier=-1)
    with pytest.raises(ValueError, match=r"`attempts` = 0: must be an integer >= 1"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="`retry_on`"):
        RetryPolicy(retry_on=(ValueError, "x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`budget_ratio` = 2"):
        RetryPolicy(budget_ratio=2)
    with pytest.raises(ValueError, match="`name`"):
        Retry("")


# --- the budget ---------------------------------------------------------------------------


def test_a_budget_stops_a_retry_storm_near_its_ratio(
    clock: FakeClock, metrics: RecoveryMetrics
) -> None:
    retry = make(clock, metrics, attempts=3, budget_tokens=10, budget_ratio=0.1)
    failing = Flaky(10**9)
    refused = 0
    causes: set[type[BaseException] | type[None]] = set()
    for _ in range(1000):
        assert retry.call(lambda: "fine") == "fine"
        try:
            retry.call(failing)
        except RetryBudgetExhausted as exc:
            refused += 1
            causes.add(type(exc.__cause__))
        except ConnectionError:
            pass
    retries = failing.calls - 1000
    # Without a budget: 2,000 retries. With it: the 10 tokens, then 0.1 per success.
    assert 100 <= retries <= 10 + 0.1 * 1000 + 1
    assert refused >= 900
    assert causes == {ConnectionError}  # the call's own error is kept as the cause
    assert len(clock.sleeps) == retries
    tokens = sample(metrics, "yesman_recovery_retry_budget_tokens", policy="api")
    assert tokens is not None
    assert tokens < 1.0


def test_a_refused_retry_says_why_in_one_line(clock: FakeClock, metrics: RecoveryMetrics) -> None:
    retry = Retry("git", RetryPolicy(attempts=5), budget=RetryBudget(tokens=1, ratio=0.0),
                  metrics=metrics, clock=clock, sleep=clock.sleep)  # fmt: skip
    with pytest.raises(RetryBudgetExhausted, match="retry budget of policy 'git' is empty after 2"):
        retry.call(Flaky(10))
    assert kinds(metrics, "git")["failed_with_retry"] == 1


def test_a_budget_is_shared_exactly_across_threads() -> None:
    budget = RetryBudget(tokens=500, ratio=0.0)
    spent = [0] * 8
    start = threading.Barrier(8)

    def spend(slot: int) -> None:
        start.wait(timeout=10)
        for _ in range(1000):
            spent[slot] += budget.try_spend()

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(spent) == 500
    assert budget.tokens == 0.0


def test_successes_refill_the_budget_up_to_its_capacity() -> None:
    budget = RetryBudget(tokens=2, ratio=0.5)
    assert [budget.try_spend() for _ in range(3)] == [True, True, False]
    budget.deposit()
    assert not budget.try_spend()  # half a token is not enough
    for _ in range(10):
        budget.deposit()
    assert budget.tokens == 2.0
    with pytest.raises(ValueError, match="`budget_tokens` must be a number >= 1"):
        RetryBudget(tokens=0)
