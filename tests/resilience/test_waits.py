"""Backoff delays: each jitter stays within its bounds, whatever the random draw."""

from __future__ import annotations

import random
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from yesman_recovery.resilience import Jitter, jittered_delay
from yesman_recovery.resilience.waits import backoff_ceiling

initials = st.floats(min_value=0.0, max_value=10.0)
caps = st.floats(min_value=0.0, max_value=120.0)
multipliers = st.floats(min_value=1.0, max_value=10.0)
attempts = st.integers(min_value=1, max_value=10_000)
fractions = st.floats(min_value=0.0, max_value=1.0)


def _draw(fraction: float) -> Callable[[float, float], float]:
    return lambda a, b: a + (b - a) * fraction


@given(initials, caps, multipliers, attempts, fractions)
def test_full_jitter_is_within_zero_and_the_ceiling(
    initial: float, cap: float, mult: float, n: int, fraction: float
) -> None:
    cap = max(cap, initial)
    ceiling = min(cap, backoff_ceiling(n, initial, cap, mult))
    delay = jittered_delay(
        Jitter.FULL, n, initial=initial, max_delay=cap, multiplier=mult, previous=0,
        uniform=_draw(fraction),
    )  # fmt: skip
    assert 0.0 <= delay <= ceiling <= cap


@given(initials, caps, multipliers, attempts, fractions)
def test_equal_jitter_keeps_at_least_half_the_ceiling(
    initial: float, cap: float, mult: float, n: int, fraction: float
) -> None:
    cap = max(cap, initial)
    ceiling = backoff_ceiling(n, initial, cap, mult)
    delay = jittered_delay(
        Jitter.EQUAL, n, initial=initial, max_delay=cap, multiplier=mult, previous=0,
        uniform=_draw(fraction),
    )  # fmt: skip
    assert ceiling / 2 - 1e-9 <= delay <= ceiling + 1e-9


@given(initials, caps, st.floats(min_value=0.0, max_value=500.0), fractions)
def test_decorrelated_jitter_is_between_initial_and_three_times_the_last_delay_capped(
    initial: float, cap: float, previous: float, fraction: float
) -> None:
    cap = max(cap, initial)
    delay = jittered_delay(
        Jitter.DECORRELATED, 5, initial=initial, max_delay=cap, multiplier=2.0,
        previous=previous, uniform=_draw(fraction),
    )  # fmt: skip
    assert delay <= cap
    assert delay >= min(initial, cap) - 1e-9
    assert delay <= max(initial, 3 * max(previous, initial)) + 1e-9


@given(initials, caps, multipliers, attempts)
def test_no_jitter_is_exactly_the_capped_exponential(
    initial: float, cap: float, mult: float, n: int
) -> None:
    cap = max(cap, initial)
    delay = jittered_delay(
        Jitter.NONE, n, initial=initial, max_delay=cap, multiplier=mult, previous=0
    )
    assert delay == min(cap, backoff_ceiling(n, initial, cap, mult))


def test_the_ceiling_grows_by_the_multiplier_and_never_overflows() -> None:
    assert [backoff_ceiling(n, 0.1, 10.0, 2.0) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.8]
    assert backoff_ceiling(100_000, 0.1, 10.0, 2.0) == 10.0


def test_the_real_random_draws_stay_in_bounds_too() -> None:
    rng = random.Random(7)
    for n in range(1, 50):
        delay = jittered_delay(
            Jitter.FULL, n, initial=0.1, max_delay=5.0, multiplier=2.0, previous=0,
            uniform=rng.uniform,
        )  # fmt: skip
        assert 0 <= delay <= 5.0


def test_no_initial_delay_stays_no_delay_after_a_thousand_attempts() -> None:
    # 0 * 2 ** 1999 is 0; the power alone overflows a float, which must not turn into max_delay.
    assert backoff_ceiling(2000, 0.0, 10.0, 2.0) == 0.0
    delay = jittered_delay(
        Jitter.NONE, 2000, initial=0.0, max_delay=10.0, multiplier=2.0, previous=0.0
    )
    assert delay == 0.0
