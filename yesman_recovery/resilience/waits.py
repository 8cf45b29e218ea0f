"""Backoff delays with jitter, as pure functions and as a tenacity wait strategy.

With ``t = min(max_delay, initial * multiplier ** (n - 1))`` for the ``n``-th failed attempt:

- ``none``: ``t``;
- ``full``: ``U(0, t)``;
- ``equal``: ``t/2 + U(0, t/2)``;
- ``decorrelated``: ``min(max_delay, U(initial, 3 * previous))`` where ``previous`` is the last
  delay (``initial`` before the first): each delay depends on the last one rather than on the
  attempt number, so the multiplier does not apply.

Full and decorrelated jitter spread a crowd of clients best; ``none`` makes them retry in
lock-step and is only for tests and single clients.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from tenacity.wait import wait_base

from yesman_recovery.backoff import exponential_delay
from yesman_recovery.resilience.policies import JITTER_CHOICES, Jitter

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["JITTER_CHOICES", "Jitter", "backoff_ceiling", "jittered_delay", "wait_backoff"]


Uniform = Callable[[float, float], float]


def backoff_ceiling(attempt: int, initial: float, max_delay: float, multiplier: float) -> float:
    """``min(max_delay, initial * multiplier ** (attempt - 1))``: the package's one backoff
    (:func:`~yesman_recovery.backoff.exponential_delay`), under the retry policy's names."""
    return exponential_delay(attempt, initial, max_delay, multiplier)


def jittered_delay(
    jitter: Jitter,
    attempt: int,
    *,
    initial: float,
    max_delay: float,
    multiplier: float,
    previous: float,
    uniform: Uniform = random.uniform,
) -> float:
    """The delay before the retry that follows failed attempt number ``attempt`` (1-based)."""
    if jitter is Jitter.DECORRELATED:
        low = min(initial, max_delay)
        return min(max_delay, uniform(low, max(low, 3.0 * max(previous, initial))))
    ceiling = backoff_ceiling(attempt, initial, max_delay, multiplier)
    if jitter is Jitter.FULL:
        return uniform(0.0, ceiling)
    if jitter is Jitter.EQUAL:
        return ceiling / 2 + uniform(0.0, ceiling / 2)
    return ceiling


class wait_backoff(wait_base):
    """A tenacity wait strategy: exponential backoff with the given :class:`Jitter`.

    Immutable; the previous delay (for decorrelated jitter) is read from the call's own
    ``RetryCallState.upcoming_sleep``, so one instance serves every thread and task.
    """

    def __init__(
        self,
        *,
        initial: float,
        max_delay: float,
        multiplier: float,
        jitter: Jitter,
        uniform: Uniform = random.uniform,
    ) -> None:
        self.initial = initial
        self.max_delay = max_delay
        self.multiplier = multiplier
        self.jitter = jitter
        self.uniform = uniform

    def __call__(self, retry_state: RetryCallState) -> float:
        return jittered_delay(
            self.jitter,
            retry_state.attempt_number,
            initial=self.initial,
            max_delay=self.max_delay,
            multiplier=self.multiplier,
            previous=retry_state.upcoming_sleep,
            uniform=self.uniform,
        )
