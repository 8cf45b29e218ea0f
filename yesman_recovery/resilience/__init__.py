"""Retries with budgets, circuit breakers and fallbacks for the calls an agent makes.

::

    from yesman_recovery.resilience import Resilient, breaker, configure, policy

    configure("agent.toml")                      # [retry.model-api], [breakers.model-api]

    @Resilient(retry=policy("model-api"), breaker=breaker("model-api"),
               fallback=lambda reason: CACHED_ANSWER)
    def ask_model(prompt: str) -> str: ...

Names are imported on first use (PEP 562), so the configuration can build the policy and
breaker specs without importing tenacity and asyncio. See ``docs/resilience.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yesman_recovery.errors import (
        CallNotPermitted,
        ResilienceError,
        RetryBudgetExhausted,
        UnknownNameError,
    )
    from yesman_recovery.resilience.breakers import CircuitBreaker
    from yesman_recovery.resilience.budget import RetryBudget
    from yesman_recovery.resilience.circuit import (
        BreakerPolicy,
        BreakerState,
        Circuit,
        SlidingWindow,
        Transition,
    )
    from yesman_recovery.resilience.compose import NO_FALLBACK, Resilient
    from yesman_recovery.resilience.policies import Jitter, RetryPolicy
    from yesman_recovery.resilience.registry import (
        Resilience,
        breaker,
        configure,
        default_resilience,
        policy,
    )
    from yesman_recovery.resilience.retry import NEVER_RETRIED, Retry, retry_after
    from yesman_recovery.resilience.waits import jittered_delay, wait_backoff

_WHERE = {
    "yesman_recovery.errors": (
        "CallNotPermitted", "ResilienceError", "RetryBudgetExhausted", "UnknownNameError",
    ),
    "yesman_recovery.resilience.breakers": ("CircuitBreaker",),
    "yesman_recovery.resilience.budget": ("RetryBudget",),
    "yesman_recovery.resilience.circuit": (
        "BreakerPolicy", "BreakerState", "Circuit", "SlidingWindow", "Transition",
    ),
    "yesman_recovery.resilience.compose": ("NO_FALLBACK", "Resilient"),
    "yesman_recovery.resilience.policies": ("Jitter", "RetryPolicy"),
    "yesman_recovery.resilience.registry": (
        "Resilience", "breaker", "configure", "default_resilience", "policy",
    ),
    "yesman_recovery.resilience.retry": ("NEVER_RETRIED", "Retry", "retry_after"),
    "yesman_recovery.resilience.waits": ("jittered_delay", "wait_backoff"),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "NEVER_RETRIED",
    "NO_FALLBACK",
    "BreakerPolicy",
    "BreakerState",
    "CallNotPermitted",
    "Circuit",
    "CircuitBreaker",
    "Jitter",
    "Resilience",
    "ResilienceError",
    "Resilient",
    "Retry",
    "RetryBudget",
    "RetryBudgetExhausted",
    "RetryPolicy",
    "SlidingWindow",
    "Transition",
    "UnknownNameError",
    "breaker",
    "configure",
    "default_resilience",
    "jittered_delay",
    "policy",
    "retry_after",
    "wait_backoff",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
