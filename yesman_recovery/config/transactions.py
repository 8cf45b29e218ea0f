"""``[transactions]``: how long finished transactions stay, how unfinished ones end, and how a
failing compensation is retried.

These dataclasses are what the transaction service consumes; the file's schema for them is
:mod:`yesman_recovery.config.transactions_table`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from yesman_recovery.backoff import exponential_delay

if TYPE_CHECKING:
    from yesman_recovery.resilience.policies import RetryPolicy

OnRestart = Literal["compensate", "resume"]
ON_RESTART: tuple[OnRestart, ...] = ("compensate", "resume")


@dataclass(frozen=True)
class RetrySettings:
    """Attempts and backoff of a retried call: ``min(max, initial * multiplier**(n-1))``.

    ``attempts`` counts the first call: 1 means no retry. The delay before attempt ``n + 1``
    is :meth:`delay` ``(n)``. A named retry policy, where one is defined, maps onto these four
    numbers.
    """

    attempts: int = 5
    initial: float = 0.1
    max: float = 10.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if not (isinstance(self.attempts, int) and self.attempts >= 1):
            raise ValueError(f"`attempts` must be an integer >= 1, got {self.attempts!r}")
        for name in ("initial", "max"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be seconds >= 0, got {value!r}")
        if self.max < self.initial:
            raise ValueError(f"`max` ({self.max}) must be at least `initial` ({self.initial})")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1.0):
            raise ValueError(f"`multiplier` must be >= 1, got {self.multiplier}")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed attempts (0 before the first attempt)."""
        if failures <= 0:
            return 0.0
        return exponential_delay(failures, self.initial, self.max, self.multiplier)

    def to_json(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "initial": self.initial,
            "max": self.max,
            "multiplier": self.multiplier,
        }

    @classmethod
    def from_policy(cls, policy: RetryPolicy) -> RetrySettings:
        """The part of a ``[retry.<name>]`` policy a transaction step uses: ``attempts``,
        ``initial_delay``, ``max_delay`` and ``multiplier``.

        The rest does not apply to a journaled step: its delays are not jittered (a retry is a
        journaled decision, replayed the same after a restart), every exception it raises is a
        failure (``retry_on`` and ``retry_if_result`` are not consulted), ``deadline`` and
        ``attempt_timeout`` are not applied (a step bounds each attempt with its own
        ``timeout``), and it draws on no retry budget.
        """
        return cls(
            attempts=policy.attempts,
            initial=policy.initial_delay,
            max=policy.max_delay,
            multiplier=policy.multiplier,
        )

    @classmethod
    def from_json(cls, data: Any) -> RetrySettings:
        return cls(**data) if isinstance(data, dict) else cls(attempts=1)


@dataclass(frozen=True)
class TransactionsConfig:
    """``[transactions]``: journal upkeep, restart behaviour and compensation retries.

    ``keep_finished``: seconds a committed, compensated or abandoned transaction stays in the
    journal before compaction (parked ones are never compacted). ``on_restart``: what happens to
    a transaction found unfinished at start when it did not choose itself. ``compact_interval``:
    seconds between compactions.
    """

    keep_finished: float = 86400.0
    on_restart: OnRestart = "compensate"
    compact_interval: float = 3600.0
    compensation_retry: RetrySettings = field(default_factory=RetrySettings)
