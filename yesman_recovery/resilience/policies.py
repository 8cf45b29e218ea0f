"""``RetryPolicy``: how a call is retried, as a frozen spec (what ``[retry.<name>]`` holds).

Kept apart from the engine (:mod:`.retry`) so the configuration can build policies without
importing tenacity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from yesman_recovery.resilience import checks

__all__ = ["JITTER_CHOICES", "Jitter", "RetryPolicy", "max_delay_problem"]


class Jitter(StrEnum):
    """How a backoff delay is randomised (see :mod:`yesman_recovery.resilience.waits`)."""

    FULL = "full"
    EQUAL = "equal"
    DECORRELATED = "decorrelated"
    NONE = "none"


JITTER_CHOICES = ", ".join(f'"{j.value}"' for j in Jitter)
"""The allowed jitter names, as the error messages list them."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a call is retried. Durations are seconds; ``None`` switches a limit off.

    ``attempts`` counts the first call; ``deadline`` bounds the whole call including sleeps;
    ``attempt_timeout`` bounds each attempt of an ``async`` callable (a thread cannot be
    interrupted, so plain callables only get the deadline, checked between attempts).
    ``budget_tokens`` of None means no retry budget. Invalid values raise ``ValueError``
    naming the field, the value and what is allowed.
    """

    attempts: int = 3
    deadline: float | None = None
    attempt_timeout: float | None = None
    initial_delay: float = 0.1
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: Jitter = Jitter.FULL
    budget_tokens: float | None = 10.0
    budget_ratio: float = 0.1
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    retry_if_result: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        jitter = self.jitter
        if not isinstance(jitter, Jitter):
            if jitter not in {j.value for j in Jitter}:
                checks.raise_if("jitter", jitter, f"must be one of {JITTER_CHOICES}")
            object.__setattr__(self, "jitter", Jitter(jitter))
        raise_if = checks.raise_if
        raise_if("attempts", self.attempts, checks.integer_at_least(self.attempts, 1))
        raise_if("deadline", self.deadline,
                 checks.seconds(self.deadline, positive=True, optional=True))  # fmt: skip
        raise_if("attempt_timeout", self.attempt_timeout,
                 checks.seconds(self.attempt_timeout, positive=True, optional=True))  # fmt: skip
        raise_if("initial_delay", self.initial_delay,
                 checks.seconds(self.initial_delay, positive=False))  # fmt: skip
        raise_if("max_delay", self.max_delay, max_delay_problem(self.max_delay, self.initial_delay))
        raise_if("multiplier", self.multiplier, checks.number_at_least(self.multiplier, 1))
        if self.budget_tokens is not None:
            raise_if("budget_tokens", self.budget_tokens,
                     checks.number_at_least(self.budget_tokens, 1))  # fmt: skip
        raise_if("budget_ratio", self.budget_ratio, checks.ratio(self.budget_ratio))
        types = self.retry_on
        if not (isinstance(types, tuple) and all(_exception_type(t) for t in types)):
            raise_if("retry_on", types, "must be a tuple of exception classes")
        if self.retry_if_result is not None and not callable(self.retry_if_result):
            raise_if("retry_if_result", self.retry_if_result, "must be a callable or None")


def max_delay_problem(max_delay: object, initial_delay: float) -> str | None:
    """``max_delay`` must be a duration >= ``initial_delay``."""
    problem = checks.seconds(max_delay, positive=False)
    if problem is None and max_delay < initial_delay:  # type: ignore[operator]
        return f"must be >= initial_delay ({checks.fmt_seconds(initial_delay)})"
    return problem


def _exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)
