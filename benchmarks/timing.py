"""What the benchmark scripts share: the p99 of a sample and waiting until a check holds.

Imported by the scripts beside it (``python benchmarks/X.py`` puts this folder on the path).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def p99(values: list[float]) -> float:
    """The 99th percentile of ``values`` (nearest rank); ``values`` must not be empty."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.01) -> Any:
    """The first true value ``check()`` returns, looking every ``step`` s; ``TimeoutError``
    naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not reached within {timeout} s")
        time.sleep(step)
