"""Retry policies: exponential backoff with jitter, a deadline, a budget and metrics, on tenacity.

A :class:`RetryPolicy` is the frozen spec (what the ``[retry.<name>]`` table holds); a
:class:`Retry` is a named policy at work: it owns the policy's :class:`RetryBudget` and metric
series, and runs plain and ``async`` callables through tenacity's ``Retrying`` /
``AsyncRetrying`` engine with strategies of ours:

- **retry** (:class:`retry_on_policy`): the exceptions in ``retry_on`` and the results for which
  ``retry_if_result`` is true retry; ``asyncio.CancelledError``, ``KeyboardInterrupt``,
  ``SystemExit``, ``GeneratorExit`` and an open breaker's :class:`CallNotPermitted` never do;
- **wait**: :class:`~yesman_recovery.resilience.waits.wait_backoff`, raised to an exception's
  ``Retry-After`` when it carries one (:func:`retry_after`);
- **stop**: after ``attempts``, or when the next sleep would end past the ``deadline`` (so a call
  never sleeps only to give up); the deadline is read from the injected ``clock``;
- **before sleep**: spend one budget token, or fail fast with :class:`RetryBudgetExhausted`.

When retries end, the last exception is re-raised as it was (no wrapper to unpack), or the
last result is returned when results were what retried. The first attempt runs without the
engine; a call that needs a retry builds its own tenacity controller, as tenacity's decorator
does for every call, so one :class:`Retry` serves any number of threads and tasks and may be
re-entered.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from tenacity import AsyncRetrying, RetryCallState, Retrying
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import WaitBaseT

from yesman_recovery.errors import CallNotPermitted, RetryBudgetExhausted
from yesman_recovery.resilience.budget import RetryBudget
from yesman_recovery.resilience.policies import RetryPolicy
from yesman_recovery.resilience.waits import wait_backoff

if TYPE_CHECKING:
    from yesman_recovery.metrics.definitions import RecoveryMetrics

__all__ = ["NEVER_RETRIED", "Retry", "RetryPolicy", "retry_after", "retry_on_policy"]

P = ParamSpec("P")
R = TypeVar("R")

NEVER_RETRIED: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    CallNotPermitted,
    RetryBudgetExhausted,
)
"""Exceptions no policy retries, whatever its ``retry_on``: cancellation and interrupts must
end a call at once, and retrying an open breaker or an empty budget defeats them."""

RETRY_KINDS = (
    "successful_without_retry",
    "successful_with_retry",
    "failed_without_retry",
    "failed_with_retry",
)


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds an exception asks to wait before the next attempt, or None.

    Read from ``exc.retry_after`` (seconds or a ``timedelta``), else from a ``Retry-After``
    header of ``exc.response.headers`` or ``exc.headers`` (seconds or an HTTP date), as HTTP
    client errors carry it.
    """
    if exc is None:
        return None
    value: Any = getattr(exc, "retry_after", None)
    if value is None:
        for holder in (getattr(exc, "response", None), exc):
            headers = getattr(holder, "headers", None)
            if headers is not None and hasattr(headers, "get"):
                value = headers.get("Retry-After") or headers.get("retry-after")
                if value is not None:
                    break
    if isinstance(value, timedelta):
        return max(0.0, value.total_seconds())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return None


class retry_on_policy(retry_base):
    """A tenacity retry strategy: the policy's exceptions and results; never
    :data:`NEVER_RETRIED`."""

    def __init__(
        self,
        retry_on: tuple[type[BaseException], ...],
        retry_if_result: Callable[[Any], bool] | None,
    ) -> None:
        self.retry_on = retry_on
        self.retry_if_result = retry_if_result

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            exc = outcome.exception()
            return isinstance(exc, self.retry_on) and not isinstance(exc, NEVER_RETRIED)
        return self.retry_if_result is not None and bool(self.retry_if_result(outcome.result()))


class _stop_at(stop_base):
    """Stop after ``attempts``, or when the coming sleep would end past ``deadline_at``."""

    def __init__(
        self, attempts: int, deadline_at: float | None, clock: Callable[[], float]
    ) -> None:
        self.attempts = attempts
        self.deadline_at = deadline_at
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        if retry_state.attempt_number >= self.attempts:
            return True
        deadline = self.deadline_at
        return deadline is not None and self.clock() + retry_state.upcoming_sleep >= deadline


def _last_outcome(retry_state: RetryCallState) -> Any:
    # Given up: re-raise the last exception as it was, or return the last (retried) result.
    assert retry_state.outcome is not None
    return retry_state.outcome.result()


class _Outcome:
    """The first attempt's outcome, replayed as tenacity's first attempt."""

    __slots__ = ("error", "result")

    def __init__(self, *, error: BaseException | None = None, result: Any = None) -> None:
        self.error = error
        self.result = result

    def get(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _Attempts:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0  # attempts started by this call


class Retry:
    """A named :class:`RetryPolicy` at work: decorator and call wrapper, sync and ``async``.

    ``budget`` shares a bucket between policies (default: the policy's own, or none when
    ``budget_tokens`` is None). ``wait`` replaces the backoff with any tenacity wait strategy.
    ``clock``, ``sleep``, ``async_sleep`` and ``uniform`` are for tests (a fake clock and a
    sleep that only advances it). The metric series of ``name`` are created at 0 here.
    """

    def __init__(
        self,
        name: str,
        policy: RetryPolicy | None = None,
        *,
        budget: RetryBudget | None = None,
        metrics: RecoveryMetrics | None = None,
        wait: WaitBaseT | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string, got {name!r}")
        self.name = name
        self.policy = policy = policy if policy is not None else RetryPolicy()
        if budget is None and policy.budget_tokens is not None:
            budget = RetryBudget(policy.budget_tokens, policy.budget_ratio)
        self.budget = budget
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        base_wait: WaitBaseT = wait if wait is not None else wait_backoff(
            initial=policy.initial_delay, max_delay=policy.max_delay,
            multiplier=policy.multiplier, jitter=policy.jitter, uniform=uniform,
        )  # fmt: skip
        self._base_wait = base_wait
        self._retry = retry_on_policy(policy.retry_on, policy.retry_if_result)
        if metrics is None:
            from yesman_recovery.metrics.definitions import default_metrics

            metrics = default_metrics()
        self.metrics = metrics
        self._kinds = {kind: metrics.retry_calls.labels(name, kind) for kind in RETRY_KINDS}
        if budget is not None:
            metrics.retry_budget_tokens.labels(name).set_function(lambda: budget.tokens)

    def __repr__(self) -> str:
        return f"Retry({self.name!r}, {self.policy!r})"

    # --- tenacity strategies ------------------------------------------------------------

    def _wait(self, retry_state: RetryCallState) -> float:
        delay = float(self._base_wait(retry_state))
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            asked = retry_after(outcome.exception())
            if asked is not None:
                delay = max(delay, asked)
        return delay

    def _spend_budget(self, retry_state: RetryCallState) -> None:
        budget = self.budget
        if budget is None or budget.try_spend():
            return
        outcome = retry_state.outcome
        cause = outcome.exception() if outcome is not None and outcome.failed else None
        raise RetryBudgetExhausted(self.name, retry_state.attempt_number) from cause

    def _controller_args(self, deadline_at: float | None) -> dict[str, Any]:
        return {
            "stop": _stop_at(self.policy.attempts, deadline_at, self._clock),
            "wait": self._wait,
            "retry": self._retry,
            "before_sleep": self._spend_budget,
            "retry_error_callback": _last_outcome,
            "reraise": True,
        }

    def _deadline_at(self) -> float | None:
        deadline = self.policy.deadline
        return None if deadline is None else self._clock() + deadline

    # --- outcomes -----------------------------------------------------------------------

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, self.policy.retry_on) and not isinstance(exc, NEVER_RETRIED)

    def _bad(self, result: Any) -> bool:
        check = self.policy.retry_if_result
        return check is not None and bool(check(result))

    def _count(self, attempts: int, *, ok: bool) -> None:
        if ok and self.budget is not None:
            self.budget.deposit()
        outcome = "successful" if ok else "failed"
        self._kinds[f"{outcome}_{'with' if attempts > 1 else 'without'}_retry"].inc()

    def _given_up(self, attempts: int, exc: BaseException) -> None:
        if isinstance(exc, Exception):  # cancellation and interrupts are not failures
            self._count(attempts, ok=False)

    # --- calling ------------------------------------------------------------------------
    #
    # The first attempt runs directly: a call that succeeds (or fails in a way that is not
    # retried) never builds a tenacity controller, which costs ~15 us (~70 us for asyncio).
    # From the first retryable outcome on, tenacity's engine runs the call; its first
    # "attempt" replays the outcome already in hand, so its strategies see every attempt.

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn(*args, **kwargs)`` under the policy; its result or its last exception."""
        deadline_at = self._deadline_at()
        try:
            first = fn(*args, **kwargs)
        except BaseException as exc:
            if not self._retryable(exc):
                self._given_up(1, exc)
                raise
            replay = _Outcome(error=exc)
        else:
            if not self._bad(first):
                self._count(1, ok=True)
                return first
            replay = _Outcome(result=first)
        attempts = _Attempts()

        def attempt() -> R:
            attempts.count += 1
            if attempts.count == 1:
                return replay.get()  # type: ignore[no-any-return]
            return fn(*args, **kwargs)

        controller = Retrying(sleep=self._sleep, **self._controller_args(deadline_at))
        try:
            result: R = controller(attempt)
        except BaseException as exc:
            self._given_up(attempts.count, exc)
            raise
        self._count(attempts.count, ok=not self._bad(result))
        return result

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` under the policy, each attempt bounded by
        ``attempt_timeout`` and the time left before the deadline (``TimeoutError``)."""
        deadline_at = self._deadline_at()
        per_attempt = self.policy.attempt_timeout

        async def run() -> R:
            timeout = per_attempt
            if deadline_at is not None:
                left = max(0.0, deadline_at - self._clock())
                timeout = left if timeout is None else min(timeout, left)
            if timeout is None:
                return await fn(*args, **kwargs)
            return await asyncio.wait_for(fn(*args, **kwargs), timeout)

        try:
            first = await run()
        except BaseException as exc:
            if not self._retryable(exc):
                self._given_up(1, exc)
                raise
            replay = _Outcome(error=exc)
        else:
            if not self._bad(first):
                self._count(1, ok=True)
                return first
            replay = _Outcome(result=first)
        attempts = _Attempts()

        async def attempt() -> R:
            attempts.count += 1
            if attempts.count == 1:
                return replay.get()  # type: ignore[no-any-return]
            return await run()

        controller = AsyncRetrying(sleep=self._async_sleep, **self._controller_args(deadline_at))
        try:
            result: R = await controller(attempt)
        except BaseException as exc:
            self._given_up(attempts.count, exc)
            raise
        self._count(attempts.count, ok=not self._bad(result))
        return result

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate a function or coroutine function so every call goes through the policy."""
        return decorate(fn, self.call, self.acall)


def decorate(
    fn: Callable[P, Any],
    call: Callable[..., Any],
    acall: Callable[..., Awaitable[Any]],
) -> Callable[P, Any]:
    """Wrap ``fn`` with ``call`` (plain) or ``acall`` (coroutine function), keeping its name."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            return await acall(fn, *args, **kwargs)

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        return call(fn, *args, **kwargs)

    return wrapper
