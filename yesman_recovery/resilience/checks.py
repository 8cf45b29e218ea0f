"""Checks of policy and breaker settings, shared by the Python API and the configuration.

Each returns the problem in the words the configuration error uses after ``KEY = VALUE:``
(``"must be >= 1"``), or None when the value is fine; the dataclasses raise ``ValueError``
with ``` `key` = value: problem```, so both say the same thing.
"""

from __future__ import annotations

import math

__all__ = ["fmt_seconds", "raise_if"]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fmt_seconds(seconds: float) -> str:
    """``0.1`` → ``100ms``, ``2.0`` → ``2s``: how a duration reads in a message."""
    return f"{seconds * 1000:g}ms" if 0 < seconds < 1 else f"{seconds:g}s"


def integer_at_least(value: object, low: int) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    return None if ok else f"must be an integer >= {low}"


def number_at_least(value: object, low: float) -> str | None:
    return None if _number(value) and value >= low else f"must be a number >= {low:g}"  # type: ignore[operator]


def ratio(value: object) -> str | None:
    return None if _number(value) and 0 <= value <= 1 else "must be a number from 0 to 1"  # type: ignore[operator]


def percent(value: object) -> str | None:
    ok = _number(value) and 0 < value <= 100  # type: ignore[operator]
    return None if ok else "must be a percentage in (0, 100], e.g. 50"


def seconds(value: object, *, positive: bool, optional: bool = False) -> str | None:
    if optional and value is None:
        return None
    if _number(value) and (value > 0 if positive else value >= 0):  # type: ignore[operator]
        return None
    problem = "must be a duration > 0" if positive else "must be a duration >= 0"
    return problem + (", or none" if optional else "")


def raise_if(key: str, value: object, problem: str | None) -> None:
    """Raise the Python API's ``ValueError`` for ``problem``, naming ``key`` and ``value``."""
    if problem is not None:
        raise ValueError(f"`{key}` = {value!r}: {problem}")
