"""``Resilient``: one call through retry → breaker → fallback, in that order.

::

    fallback( retry( breaker( fn ) ) )

The breaker sits inside the retry, so it sees (and counts) every attempt, and an open breaker
ends the retries at once (:class:`CallNotPermitted` is never retried). The fallback is outside
both: it answers when the retries are exhausted or stopped by the deadline, when the budget is
empty (:class:`RetryBudgetExhausted`), when the breaker refused (:class:`CallNotPermitted`), or
when the call raised an error the policy does not retry — any exception in ``fallback_on``.
Cancellation and interrupts are never answered by a fallback.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, overload

from yesman_recovery.resilience.breakers import NEVER_COUNTED, CircuitBreaker
from yesman_recovery.resilience.retry import Retry, decorate

__all__ = ["NO_FALLBACK", "Resilient"]

P = ParamSpec("P")
R = TypeVar("R")


class _NoFallback:
    def __repr__(self) -> str:
        return "NO_FALLBACK"


NO_FALLBACK: Any = _NoFallback()
"""The default ``fallback``: errors propagate."""


class Resilient:
    """Retry, breaker and fallback composed; each part optional.

    ``fallback`` is a value returned as is, or a callable called with the exception that ended
    the call (its *reason*: the call's own last error, :class:`RetryBudgetExhausted` or
    :class:`CallNotPermitted`); from :meth:`acall` it may be a coroutine function. To return a
    callable as the value, wrap it: ``fallback=lambda reason: handler``.
    """

    def __init__(
        self,
        *,
        retry: Retry | None = None,
        breaker: CircuitBreaker | None = None,
        fallback: Any = NO_FALLBACK,
        fallback_on: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self.retry = retry
        self.breaker = breaker
        self.fallback = fallback
        self.fallback_on = fallback_on

    def __repr__(self) -> str:
        parts = f"retry={self.retry!r}, breaker={self.breaker!r}, fallback={self.fallback!r}"
        return f"Resilient({parts})"

    def _answer(self, exc: BaseException) -> Any:
        if (
            self.fallback is NO_FALLBACK
            or isinstance(exc, NEVER_COUNTED)
            or not isinstance(exc, self.fallback_on)
        ):
            raise exc
        return self.fallback(exc) if callable(self.fallback) else self.fallback

    def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Call ``fn`` through the retry and the breaker; the fallback answers their failures."""
        retry, breaker = self.retry, self.breaker
        try:
            if retry is not None and breaker is not None:
                return retry.call(breaker.call, fn, *args, **kwargs)
            if retry is not None:
                return retry.call(fn, *args, **kwargs)
            if breaker is not None:
                return breaker.call(fn, *args, **kwargs)
            return fn(*args, **kwargs)
        except BaseException as exc:
            answer: R = self._answer(exc)
            return answer

    async def acall(self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Await ``fn`` through the retry and the breaker; the fallback answers their failures."""
        retry, breaker = self.retry, self.breaker
        try:
            if retry is not None and breaker is not None:
                return await retry.acall(breaker.acall, fn, *args, **kwargs)
            if retry is not None:
                return await retry.acall(fn, *args, **kwargs)
            if breaker is not None:
                return await breaker.acall(fn, *args, **kwargs)
            return await fn(*args, **kwargs)
        except BaseException as exc:
            answer = self._answer(exc)
            if inspect.isawaitable(answer):
                answer = await answer
            result: R = answer
            return result

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Decorate a function or coroutine function."""
        return decorate(fn, self.call, self.acall)
