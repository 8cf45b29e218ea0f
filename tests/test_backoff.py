"""The one exponential backoff: the formula exactly where it is a float, its cap beyond."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.backoff import exponential_delay
from yesman_recovery.resilience import Jitter, jittered_delay
from yesman_recovery.supervisors.spec import Backoff

initials = st.floats(min_value=0.0, max_value=100.0)
maxima = st.floats(min_value=0.0, max_value=86400.0)
multipliers = st.floats(min_value=1.0, max_value=100.0)
HUGE = [1025, 10**6, 2**64, 10**400]  # float powers overflow from about 2 ** 1024


@given(initials, maxima, multipliers, st.integers(min_value=1, max_value=60))
def test_the_formula_itself_while_its_power_is_a_float(
    initial: float, maximum: float, multiplier: float, attempt: int
) -> None:
    expected = min(maximum, initial * multiplier ** (attempt - 1))
    assert exponential_delay(attempt, initial, maximum, multiplier) == pytest.approx(expected)


@given(initials, maxima, multipliers, st.integers(min_value=1, max_value=10**30))
def test_the_delay_never_shrinks_and_never_passes_the_maximum(
    initial: float, maximum: float, multiplier: float, attempt: int
) -> None:
    delay = exponential_delay(attempt, initial, maximum, multiplier)
    assert delay <= exponential_delay(attempt + 1, initial, maximum, multiplier) <= maximum
    assert delay >= min(initial, maximum)


@pytest.mark.parametrize("attempt", HUGE)
def test_huge_attempt_numbers_give_the_maximum_not_an_overflow(attempt: int) -> None:
    assert exponential_delay(attempt, 0.1, 30.0, 2.0) == 30.0
    assert exponential_delay(attempt, 0.1, 30.0, 100.0) == 30.0
    assert exponential_delay(attempt, 0.1, 30.0, 1.0) == 0.1  # no growth
    assert exponential_delay(attempt, 0.0, 30.0, 2.0) == 0.0  # 0 stays 0


def test_a_power_too_large_for_a_float_below_the_maximum_is_still_a_delay() -> None:
    delay = exponential_delay(1500, 1e-300, 1e300, 2.0)  # 2 ** 1499 alone overflows
    assert delay == pytest.approx(1e-300 * 2.0**750 * 2.0**749)
    assert exponential_delay(2000, 1e-300, 1e300, 2.0) == 1e300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0.1, 1.0, 2.0), "`attempt` must be >= 1, got 0"),
        ((1, 0.1, float("inf"), 2.0), "`maximum` must be a finite number of seconds, got inf"),
        ((1, 0.1, 1.0, 0.5), "`multiplier` must be >= 1, got 0.5"),
        ((1, 0.1, 1.0, float("nan")), "`multiplier` must be >= 1, got nan"),
    ],
)
def test_a_callers_bug_is_named(args: tuple[int, float, float, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        exponential_delay(*args)


@pytest.mark.parametrize("attempt", HUGE)
def test_jitter_stays_within_its_bounds_at_huge_attempt_numbers(attempt: int) -> None:
    rng = random.Random(attempt)
    restart = Backoff(initial=0.1, max=30.0, multiplier=2.0, jitter=0.2)
    for _ in range(200):
        assert 30.0 <= restart.delay(attempt, rng) <= 30.0 * 1.2
        full = jittered_delay(Jitter.FULL, attempt, initial=0.1, max_delay=30.0, multiplier=2.0,
                              previous=0.0, uniform=rng.uniform)  # fmt: skip
        assert 0.0 <= full <= 30.0
        equal = jittered_delay(Jitter.EQUAL, attempt, initial=0.1, max_delay=30.0,
                               multiplier=2.0, previous=0.0, uniform=rng.uniform)  # fmt: skip
        assert 15.0 <= equal <= 30.0
