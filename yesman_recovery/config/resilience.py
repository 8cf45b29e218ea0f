"""The ``[retry.<name>]`` and ``[breakers.<name>]`` tables: named retry policies and breakers.

Each table validates its values with the words of the Python API's checks
(:mod:`yesman_recovery.resilience.checks`), so ``config check`` and ``RetryPolicy(...)`` say
the same thing, and builds a :class:`RetryPolicy` or :class:`BreakerPolicy`. Durations are
strings (``"250ms"``); ``false`` switches an optional limit off. Which exceptions retry or
count as failures is the code's business (``retry_on``, ``record_on``), not the file's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator
from pydantic_core import PydanticCustomError

from yesman_recovery.config import validators as v
from yesman_recovery.resilience import checks
from yesman_recovery.resilience.circuit import (
    SLIDING_WINDOW_CHOICES,
    BreakerPolicy,
    SlidingWindow,
    open_max_problem,
)
from yesman_recovery.resilience.policies import (
    JITTER_CHOICES,
    Jitter,
    RetryPolicy,
    max_delay_problem,
)

__all__ = ["BreakerTable", "RetryTable"]


def _check(problem: Callable[[object], str | None]) -> Callable[[object], Any]:
    def validate(value: object) -> Any:
        found = problem(value)
        if found is not None:
            raise ValueError(found)
        return value

    return validate


def _number(value: object) -> float:
    # TOML integers are numbers too; the checks have already refused everything else.
    return float(value)  # type: ignore[arg-type]


def _at_least(low: float) -> Callable[[object], float]:
    return lambda value: _number(_check(lambda x: checks.number_at_least(x, low))(value))


def _integer(low: int) -> Callable[[object], int]:
    return _check(lambda x: checks.integer_at_least(x, low))


def _or_false(fn: Callable[[object], Any]) -> Callable[[object], Any]:
    def validate(value: object) -> Any:
        if value is False:
            return None
        try:
            return fn(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, or false for none") from None

    return validate


def _enum(kind: type[Jitter] | type[SlidingWindow], choices: str) -> Callable[[object], Any]:
    def validate(value: object) -> Any:
        if isinstance(value, str) and value in {m.value for m in kind}:
            return kind(value)
        raise ValueError(f"must be one of {choices}")

    return validate


def _not_below(other: str, problem: Callable[[object, float], str | None]) -> Any:
    """A duration checked against an earlier key of the same table (its value or default)."""

    def validate(value: object, info: ValidationInfo) -> float:
        seconds = v.nonneg_duration(value)
        base = info.data.get(other)
        found = problem(seconds, base) if isinstance(base, float | int) else None
        if found is not None:
            raise ValueError(found)
        return seconds

    return v.checked_with_info(validate)


Duration = Annotated[float, v.checked(v.nonneg_duration)]
PositiveDuration = Annotated[float, v.checked(v.positive_duration)]
OptionalDuration = Annotated[float | None, v.checked(_or_false(v.positive_duration))]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def given(self) -> dict[str, Any]:
        """The keys the file set, with their validated values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class RetryTable(_Table):
    """``[retry.<name>]``: a :class:`RetryPolicy`; absent keys keep its defaults."""

    attempts: Annotated[int, v.checked(_integer(1))] = RetryPolicy.attempts
    deadline: OptionalDuration = RetryPolicy.deadline
    attempt_timeout: OptionalDuration = RetryPolicy.attempt_timeout
    initial_delay: Duration = RetryPolicy.initial_delay
    max_delay: Annotated[float, _not_below("initial_delay", max_delay_problem)] = (
        RetryPolicy.max_delay
    )
    multiplier: Annotated[float, v.checked(_at_least(1))] = RetryPolicy.multiplier
    jitter: Annotated[Jitter, v.checked(_enum(Jitter, JITTER_CHOICES))] = RetryPolicy.jitter
    budget_tokens: Annotated[float | None, v.checked(_or_false(_at_least(1)))] = (
        RetryPolicy.budget_tokens
    )
    budget_ratio: Annotated[float, v.checked(lambda x: _number(_check(checks.ratio)(x)))] = (
        RetryPolicy.budget_ratio
    )

    def build(self) -> RetryPolicy:
        return RetryPolicy(**self.given())


class BreakerTable(_Table):
    """``[breakers.<name>]``: a :class:`BreakerPolicy`; absent keys keep its defaults."""

    consecutive_failures: Annotated[int | None, v.checked(_or_false(_integer(1)))] = (
        BreakerPolicy.consecutive_failures
    )
    failure_rate: Annotated[
        float | None, v.checked(_or_false(lambda x: _number(_check(checks.percent)(x))))
    ] = BreakerPolicy.failure_rate
    sliding_window: Annotated[
        SlidingWindow, v.checked(_enum(SlidingWindow, SLIDING_WINDOW_CHOICES))
    ] = BreakerPolicy.sliding_window
    window_size: Annotated[int, v.checked(_integer(1))] = BreakerPolicy.window_size
    minimum_calls: Annotated[int, v.checked(_integer(1))] = BreakerPolicy.minimum_calls
    slow_call_duration: OptionalDuration = BreakerPolicy.slow_call_duration
    half_open_calls: Annotated[int, v.checked(_integer(1))] = BreakerPolicy.half_open_calls
    open_duration: PositiveDuration = BreakerPolicy.open_duration
    open_max_duration: Annotated[float, _not_below("open_duration", open_max_problem)] = (
        BreakerPolicy.open_max_duration
    )
    open_multiplier: Annotated[float, v.checked(_at_least(1))] = BreakerPolicy.open_multiplier

    @model_validator(mode="after")
    def _can_trip(self) -> BreakerTable:
        if self.consecutive_failures is None and self.failure_rate is None:
            raise PydanticCustomError(
                "config",
                "consecutive_failures and failure_rate are both false: set at least one, or "
                "the breaker can never trip",
            )
        return self

    def build(self) -> BreakerPolicy:
        return BreakerPolicy(**self.given())
