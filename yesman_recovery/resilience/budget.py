"""A retry budget: a token bucket that keeps retries a fraction of successful calls.

As gRPC's retry throttling: the bucket starts full (``tokens``); every retry spends one token
and every successful call puts ``ratio`` of a token back, up to ``tokens``. A retry finding less
than one token is refused, so a dependency that fails every call gets at most ``tokens``
retries, then about ``ratio`` retries per success — a retry storm cannot multiply the load.
The first attempt of a call is never refused: a budget only throttles retries.
"""

from __future__ import annotations

import math
import threading

__all__ = ["RetryBudget"]


class RetryBudget:
    """A thread-safe token bucket shared by every thread and task that retries under one key.

    The lock is held for a few arithmetic operations only, never around a call or a sleep, so
    asyncio code may use it from the event loop.
    """

    def __init__(self, tokens: float = 10.0, ratio: float = 0.1) -> None:
        check_budget(tokens, ratio)
        self.capacity = float(tokens)
        self.ratio = float(ratio)
        self._lock = threading.Lock()
        self._tokens = float(tokens)  # guarded by _lock; always within [0, capacity]

    @property
    def tokens(self) -> float:
        """The tokens in the bucket now (the ``retry_budget_tokens`` gauge)."""
        return self._tokens

    def try_spend(self) -> bool:
        """Take one token for a retry; False (and nothing taken) when less than one is left."""
        with self._lock:
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True

    def deposit(self) -> None:
        """A call succeeded: put ``ratio`` of a token back (up to the capacity)."""
        if self._tokens >= self.capacity:  # full: skip the lock on the common path
            return
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + self.ratio)

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self.capacity:g}, ratio={self.ratio:g}, left={self._tokens:g})"


def check_budget(tokens: float, ratio: float) -> None:
    """Raise ``ValueError`` unless ``tokens`` >= 1 and 0 <= ``ratio`` <= 1."""
    if not (isinstance(tokens, int | float) and math.isfinite(tokens) and tokens >= 1):
        raise ValueError(f"`budget_tokens` must be a number >= 1, got {tokens!r}")
    if not (isinstance(ratio, int | float) and 0 <= ratio <= 1):
        raise ValueError(f"`budget_ratio` must be a number from 0 to 1, got {ratio!r}")
