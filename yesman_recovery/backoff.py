"""The one exponential backoff: ``min(maximum, initial * multiplier ** (attempt - 1))``.

Every growing delay of the package is this formula: a supervisor's restart delay
(:class:`~yesman_recovery.supervisors.spec.Backoff`), a retry's ceiling before jitter
(:mod:`yesman_recovery.resilience.waits`), a transaction step's retry
(:class:`~yesman_recovery.config.transactions.RetrySettings`), a health check's heal backoff, a
circuit breaker's open period and the re-arm of a session given up on
(:class:`~yesman_recovery.actors.limits.GiveUpBackoff`). Jitter, where there is one, is added by
the caller on top of this ceiling.

The overflow guard compares exponents instead of computing the power: ``2.0 ** 1024`` raises
``OverflowError`` and ``2 ** 5000`` is an integer too large for a float, while an attempt number
only grows (a retry storm, a breaker tripping for weeks). From the attempt where the delay
reaches ``maximum`` on, the answer is ``maximum`` without any power being computed.
"""

from __future__ import annotations

import math

MAX_LOG_POWER = 700.0
"""Powers up to ``e ** 700`` are floats (the largest is about ``e ** 709.78``)."""


def exponential_delay(attempt: int, initial: float, maximum: float, multiplier: float) -> float:
    """``min(maximum, initial * multiplier ** (attempt - 1))`` for ``attempt`` >= 1, never
    overflowing, however large ``attempt`` is.

    ``initial`` 0 gives 0 at every attempt; ``multiplier`` 1 gives ``min(maximum, initial)``.
    Callers check their own parameters, under their own names (``max``, ``max_delay``…); this
    refuses only what would be a caller's bug: an ``attempt`` below 1, a ``multiplier`` below 1
    (a backoff that shrinks) or a ``maximum`` that is not a finite number.
    """
    if attempt < 1:
        raise ValueError(f"`attempt` must be >= 1, got {attempt}")
    if not math.isfinite(maximum):
        raise ValueError(f"`maximum` must be a finite number of seconds, got {maximum}")
    if not multiplier >= 1.0:  # also NaN
        raise ValueError(f"`multiplier` must be >= 1, got {multiplier}")
    exponent = attempt - 1
    if initial <= 0.0 or multiplier == 1.0:
        return float(min(maximum, initial))  # no growth: no power computed
    # int >= float compares exactly, without converting a huge attempt to a float.
    if maximum <= initial or exponent >= (math.log(maximum) - math.log(initial)) / math.log(
        multiplier
    ):
        return float(maximum)
    # Below maximum here; the power alone may still overflow (initial 1e-300, maximum 1e300),
    # and then the product is taken in logarithms.
    growth = exponent * math.log(multiplier)
    if growth < MAX_LOG_POWER:
        return float(min(maximum, initial * multiplier**exponent))
    return float(min(maximum, math.exp(math.log(initial) + growth)))
